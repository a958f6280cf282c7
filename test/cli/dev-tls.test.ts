// `keyward dev` over TLS: the quickstart it prints works as pasted, trusting the server's certificate.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../harness/net.ts';
import { TestPki } from '../support/certs.ts';

const BAR = '='.repeat(78);

test('with server.tls, the dev quickstart passes the certificate to curl and the CLI, and its curl lines run as printed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kw-dev-tls-'));
  const pki = new TestPki();
  // The certificate a dev setup serves: self-signed, so it is its own CA.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'dev.key', '-out', 'dev.pem', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: pki.dir, stdio: 'pipe' });
  const port = await freePort();
  const cfg = join(dir, 'cfg.yaml');
  writeFileSync(cfg, `mode: dev
server: { host: 127.0.0.1, port: ${port}, tls: { cert_file: ${pki.path('dev.pem')}, key_file: ${pki.path('dev.key')} } }
storage: { type: sqlite, path: ${join(dir, 'k.db')} }
seal: { dev_unseal_file: ${join(dir, 'u.json')} }
audit: { signing_key_path: ${join(dir, 'audit.pem')} }
`);
  const { KEYWARD_CONFIG: _c, ...env } = process.env;
  const proc = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts'), 'serve', '--config', cfg], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise((r) => proc.once('exit', r));
  try {
    // The banner is printed once the listener is up; bounded, not timed.
    for (let i = 0; i < 300 && err.split(BAR).length < 3 && proc.exitCode === null; i++) await sleep(100);
    const banner = err.split(BAR)[1];
    assert.ok(banner, err);
    const cert = pki.path('dev.pem');
    assert.match(banner, new RegExp(`export KEYWARD_ADDR=https://127\\.0\\.0\\.1:${port} KEYWARD_TOKEN=\\S+ NODE_EXTRA_CA_CERTS=${cert}\\n`));
    const curls = banner.split('\n').filter((l) => /\bcurl\b/.test(l));
    assert.ok(curls.length >= 2, banner);
    for (const l of curls) assert.ok(l.includes(`curl -s --cacert ${cert} `), l);
    // The first lines (export, create a key) as a user pastes them.
    const lines = banner.split('\n');
    const start = lines.findIndex((l) => l.includes('export KEYWARD_ADDR='));
    const script = lines.slice(start, start + 3).join('\n');
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
    assert.equal(JSON.parse(out).key_id, 'demo', out);
  } finally {
    proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    rmSync(pki.dir, { recursive: true, force: true });
  }
});
