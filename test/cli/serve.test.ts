// `keyward serve` as a real process: SIGHUP reloads the API keyring without a restart; SIGTERM stops cleanly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { fingerprint } from '../../src/authn/index.ts';
import { freePort } from '../../harness/net.ts';
import { listenServer, runCli, STACK_LINE } from './helpers.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');


test('SIGHUP reloads a file-held API keyring live; SIGTERM exits 0', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-serve-'));
  const port = await freePort();
  const keyA = randomBytes(24).toString('base64url');
  const keyB = randomBytes(24).toString('base64url');
  const hashFile = join(dir, 'ci.hash');
  writeFileSync(hashFile, fingerprint(keyA) + '\n');
  const cfg = join(dir, 'keyward.yaml');
  writeFileSync(cfg, `mode: dev
server: { port: ${port} }
storage: { type: sqlite, path: ${join(dir, 'kw.db')} }
seal: { dev_unseal_file: ${join(dir, 'unseal.json')} }
logging: { level: warn }
audit: { enabled: false }
authn: { type: api_key, keys: [{ id: ci, hash_file: ${hashFile}, scopes: [keyward.keys.list] }] }
`);
  const proc = spawn(process.execPath, [MAIN, 'serve', '--config', cfg], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const list = (key: string) => fetch(`http://127.0.0.1:${port}/v1/keys`, { headers: { 'x-api-key': key } }).then((r) => r.status, () => 0);
  try {
    for (let i = 0; i < 100 && (await list(keyA)) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await list(keyA), 200, stderr);
    assert.equal(await list(keyB), 401);
    writeFileSync(hashFile, fingerprint(keyB) + '\n');
    proc.kill('SIGHUP');
    for (let i = 0; i < 50 && (await list(keyB)) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await list(keyB), 200);
    assert.equal(await list(keyA), 401);
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('port in use: one clear line and exit 4 promptly, everything it opened closed (no hang, no stack trace)', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-serve-busy-'));
  const blocker = createServer();
  blocker.unref();
  const port = await listenServer(blocker);
  // Dev defaults: the audit trail (with its worker), the identity provider and the store all get opened before listen.
  const cfg = join(dir, 'keyward.yaml');
  writeFileSync(cfg, `mode: dev
server: { port: ${port} }
storage: { type: sqlite, path: ${join(dir, 'kw.db')} }
seal: { dev_unseal_file: ${join(dir, 'unseal.json')} }
logging: { level: error }
`);
  const proc = spawn(process.execPath, [MAIN, 'serve', '--config', cfg], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const deadline = new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000).unref());
  try {
    assert.equal(await Promise.race([exited, deadline]), 4, stderr);
    assert.equal(stderr.trim(), `keyward: cannot listen on 127.0.0.1:${port}: address in use`);
  } finally {
    proc.kill('SIGKILL');
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve with an unknown option or an extra argument: usage error 2 in one line, no stack trace', async () => {
  for (const args of [['serve', '--bogus'], ['dev', 'extra']]) {
    const proc = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    assert.equal(code, 2, stderr);
    assert.match(stderr.split('\n')[0]!, args[1] === '--bogus' ? /^error: unknown option --bogus$/ : /^error: unexpected argument "extra"$/);
    assert.match(stderr, new RegExp(`usage: keyward ${args[0]}`));
    assert.doesNotMatch(stderr, STACK_LINE);
    assert.doesNotMatch(stderr, /ERR_PARSE_ARGS/);
  }
});

test('pdp serve with its port in use: the same one line, exit 4', async () => {
  const blocker = createServer();
  blocker.unref();
  const port = await listenServer(blocker);
  try {
    const policies = join(import.meta.dirname, '..', '..', 'policies');
    const r = await runCli(['pdp', 'serve', '--policies', policies, '--port', String(port), '--no-watch'], {});
    assert.equal(r.code, 4, r.err);
    assert.equal(r.err, `keyward: cannot listen on 127.0.0.1:${port}: address in use`);
  } finally {
    blocker.close();
  }
});
