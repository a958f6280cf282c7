// `keyward serve` as a real process: SIGHUP reloads the API keyring without a restart; SIGTERM stops cleanly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fingerprint } from '../../src/authn/index.ts';
import { freePort } from '../support/net.ts';

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
