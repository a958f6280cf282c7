// The CLI's HTTP client against servers that are not a healthy Keyward: one that never answers, a proxy's
// error page. Each must end promptly with a clear one-line error and a meaningful exit code.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { TestPki } from '../support/certs.ts';
import { httpServer, listenServer, runCli, silentServer, STACK_LINE, type SilentServer, type StubServer } from './helpers.ts';

describe('keyward CLI against servers that are not a healthy Keyward', () => {
  // Each stand-in keeps its own port for the whole file: fetch pools connections per address, and one to a
  // closed stand-in must not be handed to the next server on the same port.
  let stuck: SilentServer;
  let proxy: StubServer;
  let broken: StubServer;
  let foreign: StubServer;
  before(async () => {
    stuck = await silentServer();
    proxy = await httpServer((req, res) => {
      const status = req.url?.startsWith('/v1/sys/status') ? 502 : 404;
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end('<html><body>Bad Gateway</body></html>');
    });
    broken = await httpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('<html>'));
    // JSON errors that are not problem documents: an empty 502 on status, another service's JSON elsewhere.
    foreign = await httpServer((req, res) => {
      if (req.url?.startsWith('/v1/sys/status')) return res.writeHead(502).end();
      if (req.url?.startsWith('/v1/sys/seal')) return res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"boom"}');
      res.writeHead(403, { 'content-type': 'application/json' }).end('{"code":5,"detail":{"a":1}}');
    });
  });
  after(async () => {
    await Promise.all([stuck?.close(), proxy?.close(), broken?.close(), foreign?.close()]);
  });

  // The clock is node:test's fake one: the client gives up exactly when that many seconds have passed on it, and
  // not a tick before; measured wall time would say nothing on a loaded machine.
  test('--timeout: a server that accepts but never answers ends with exit 4 after that many seconds', { timeout: 10_000 }, async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const givesUpAfter = async (ms: number, argv: string[], env: NodeJS.ProcessEnv) => {
      const requested = stuck.nextRequest();
      let settled = false;
      const run = runCli(argv, env).finally(() => (settled = true));
      await requested;
      t.mock.timers.tick(ms - 1);
      await new Promise((r) => setImmediate(r));
      assert.equal(settled, false, `gave up before ${ms} ms`);
      // The server never answers: only the client's deadline can end the exchange.
      t.mock.timers.tick(1);
      return run;
    };
    const r = await givesUpAfter(300, ['status', '--addr', stuck.url, '--timeout', '0.3'], {});
    assert.equal(r.code, 4, r.err);
    assert.equal(r.err, 'error: the server did not answer within 0.3 s');

    // KEYWARD_TIMEOUT is the default for --timeout.
    const fromEnv = await givesUpAfter(200, ['keys', 'list'], { KEYWARD_ADDR: stuck.url, KEYWARD_TIMEOUT: '0.2' });
    assert.equal(fromEnv.code, 4);
    assert.equal(fromEnv.err, 'error: the server did not answer within 0.2 s');
  });

  test('--timeout and --addr must be well-formed: usage error 2', async () => {
    for (const argv of [
      ['status', '--timeout', 'soon'],
      ['status', '--timeout', '0'],
      ['status', '--timeout=-1'],
      ['status', '--addr', 'not-a-url'],
      ['status', '--addr', 'ftp://127.0.0.1:1'],
    ]) {
      const r = await runCli(argv, {});
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err.split('\n')[0]!, /^error: --(timeout|addr) /);
    }
    const env = await runCli(['status'], { KEYWARD_ADDR: 'localhost:8200' });
    assert.equal(env.code, 2);
    assert.match(env.err, /^error: KEYWARD_ADDR must be an http:\/\/ or https:\/\/ URL/);
  });

  test('a non-Keyward answer (a proxy error page) is named as such: 5xx exits 4, others 1', async () => {
    const bad = await runCli(['status', '--addr', proxy.url], {});
    assert.equal(bad.code, 4);
    assert.equal(bad.err, `error: HTTP 502 from ${proxy.url} is not a Keyward response (text/html)`);
    const missing = await runCli(['keys', 'list', '--addr', proxy.url], {});
    assert.equal(missing.code, 1);
    assert.equal(missing.err, `error: HTTP 404 from ${proxy.url} is not a Keyward response (text/html)`);
    assert.doesNotMatch(missing.err, STACK_LINE);
  });

  test('a TLS server whose certificate the CLI cannot verify is named as such, with the way to trust a private CA', async () => {
    const pki = new TestPki();
    pki.ca('ca');
    pki.leaf('server', 'ca', 'localhost', 'IP:127.0.0.1');
    const tls = createHttpsServer({ cert: readFileSync(pki.path('server.pem')), key: readFileSync(pki.path('server.key')) }, (_req, res) => res.end('{}'));
    const port = await listenServer(tls);
    try {
      const r = await runCli(['status', '--addr', `https://127.0.0.1:${port}`], {});
      assert.equal(r.code, 4, r.err);
      assert.equal(r.err, "error: cannot verify the server's TLS certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE); if a private CA signed it, run with NODE_EXTRA_CA_CERTS=CA.pem");
    } finally {
      tls.closeAllConnections();
      await new Promise((r) => tls.close(r));
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });

  test('a body that claims JSON but is not is not a Keyward response either', async () => {
    const r = await runCli(['status', '--addr', broken.url], {});
    assert.equal(r.code, 1);
    assert.equal(r.err, `error: HTTP 200 from ${broken.url} is not a Keyward response (application/json)`);
  });

  test('an error answer that is not a problem document (no string code) is not a Keyward response: 5xx exits 4', async () => {
    const empty = await runCli(['status', '--addr', foreign.url], {});
    assert.equal(empty.code, 4, empty.err);
    assert.equal(empty.err, `error: HTTP 502 from ${foreign.url} is not a Keyward response (no content type)`);
    const other = await runCli(['seal', '--addr', foreign.url], {});
    assert.equal(other.code, 4, other.err);
    assert.equal(other.err, `error: HTTP 500 from ${foreign.url} is not a Keyward response (application/json)`);
    const odd = await runCli(['keys', 'list', '--addr', foreign.url], {});
    assert.equal(odd.code, 1, odd.err);
    assert.equal(odd.err, `error: HTTP 403 from ${foreign.url} is not a Keyward response (application/json)`);
  });

  test('--json: a failed client command still prints one JSON document on stdout, the error line on stderr', async () => {
    const down = await runCli(['status', '--json', '--addr', proxy.url], {});
    assert.equal(down.code, 4, down.err);
    assert.deepEqual(JSON.parse(down.out), { ok: false, error: { status: 502, message: `HTTP 502 from ${proxy.url} is not a Keyward response (text/html)` } });
    assert.match(down.err, /^error: HTTP 502 /);
    const keys = await runCli(['keys', 'show', 'k1', '--json', '--addr', foreign.url], {});
    assert.equal(keys.code, 1, keys.err);
    assert.equal(JSON.parse(keys.out).ok, false);
  });
});
