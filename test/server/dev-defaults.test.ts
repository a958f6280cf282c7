// Dev mode without an audit section keeps its signed trail beside its SQLite file, wherever that is.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.ts';
import { createKeyward } from '../../src/app/compose.ts';
import { freePort } from '../../harness/net.ts';

test('dev mode puts its audit key and trail next to the database, creating the directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-dev-'));
  const data = join(dir, 'not-yet', 'here');
  try {
    const config = parseConfig({ mode: 'dev', storage: { type: 'sqlite', path: join(data, 'k.db') }, seal: { dev_unseal_file: join(dir, 'u.json') } }, {});
    const kw = await createKeyward(config, { env: {}, logger: pino({ level: 'silent' }) });
    try {
      assert.ok(existsSync(join(data, 'audit-signing-key.pem')));
      const r = await kw.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(r.statusCode, 200, r.body);
      await kw.audit.flush();
      assert.ok(existsSync(join(data, 'audit', 'audit.log')));
    } finally {
      await kw.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with a stdout audit sink, stdout carries audit events only: logs go to stderr', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-stdout-'));
  const port = await freePort();
  const cfg = join(dir, 'cfg.yaml');
  writeFileSync(cfg, `mode: dev
server: { port: ${port} }
storage: { type: sqlite, path: ${join(dir, 'k.db')} }
seal: { dev_unseal_file: ${join(dir, 'u.json')} }
audit: { signing_key_path: ${join(dir, 'audit.pem')}, sinks: [{ type: stdout }] }
`);
  const proc = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts'), 'serve', '--config', cfg], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  try {
    for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)); i++) await sleep(100);
    const token = /BOOTSTRAP ADMIN TOKEN[^\n]*\n\s*(\S+)/.exec(err)?.[1];
    assert.ok(token, err);
    await fetch(`http://127.0.0.1:${port}/v1/keys`, { headers: { authorization: `Bearer ${token}` } });
    await sleep(300);
    const lines = out.split('\n').filter(Boolean);
    assert.ok(lines.length >= 2, out);
    for (const l of lines) assert.equal(JSON.parse(l).schema_version, 1, `not an audit event on stdout: ${l}`);
    assert.match(err, /"msg":"keyward listening"/);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
});
