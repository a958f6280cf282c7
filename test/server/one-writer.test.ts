// One writer per data directory, audit file and audit chain: while a `keyward serve` runs, a second start with
// the same configuration (or one sharing its database, audit file or PostgreSQL chain) exits non-zero having
// changed nothing on disk or in the database, and the first one's trail, checkpoint sidecar and dev client
// secret are untouched. Real processes, real file system, real PostgreSQL.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import pg from 'pg';
import { generateSigningKeyFile } from '../../src/audit/keys.ts';
import { startDevProcess, type DevProcess } from '../../harness/dev-process.ts';
import { freePort } from '../../harness/net.ts';
import { pgTestSchema } from '../support/pg.ts';
import { resume, suspend } from '../support/suspend.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

/** Every file under `dir`: content digest, size and mode. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out[p] = `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${st.size} ${(st.mode & 0o777).toString(8)}`;
    }
  };
  walk(dir);
  return out;
}

/**
 * Runs `fn` with the running server stopped (SIGSTOP): it keeps its port, locks and connections, but its own timers
 * (checkpoints, SQLite's shared-memory reads) cannot touch the files between two snapshots, so any change is the
 * refused start's.
 */
async function frozen<T>(server: DevProcess, fn: () => Promise<T>): Promise<T> {
  await suspend(server.proc);
  try {
    return await fn();
  } finally {
    resume(server.proc);
  }
}

/** Runs `keyward serve` to its end; resolves with the exit code and stderr. */
function serveOnce(config: string, cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [MAIN, 'serve', '--config', config], { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => proc.once('exit', (code) => (clearTimeout(timer), resolve({ code, stderr }))));
}

async function clientToken(c: { id: string; secret: string; tokenUrl: string }): Promise<number> {
  const r = await fetch(c.tokenUrl, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${c.id}:${c.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  return r.status;
}

async function verifyTrail(key: string, dir: string): Promise<{ code: number | null; out: string }> {
  const proc = spawn(process.execPath, [MAIN, 'audit', 'verify', '--require-checkpoints', '--key', key, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, out })));
}

async function createKey(s: DevProcess, id: string): Promise<number> {
  return (await s.request('POST', '/v1/keys', { key_id: id, key_type: 'EC-P256' })).status;
}

/** Waits until the running server has written a checkpoint sidecar covering its latest event. */
async function checkpointed(auditFile: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await sleep(200);
    try {
      const lines = readFileSync(auditFile, 'utf8').trim().split('\n');
      const last = JSON.parse(lines.at(-1)!) as { event_type: string; sequence: number };
      const cp = JSON.parse(readFileSync(auditFile + '.checkpoint', 'utf8')) as { sequence: number };
      if (last.event_type === 'audit.checkpoint' && cp.sequence === last.sequence) {
        await sleep(1000); // the chain head reaches the database a moment after the sinks (at most 250 ms)
        return;
      }
    } catch {
      // not yet
    }
  }
  assert.fail('no checkpoint was written');
}

test('a second start next to a running server (same config, another port, or only the audit file shared) changes nothing and exits non-zero', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-one-writer-'));
  const other = mkdtempSync(join(tmpdir(), 'keyward-one-writer-other-'));
  const port = await freePort();
  const key = join(dir, 'audit.pem');
  await generateSigningKeyFile(key);
  const auditFile = join(dir, 'audit', 'audit.log');
  const cfg = (db: string, p: number) => `mode: dev
server: { port: ${p} }
storage: { type: sqlite, path: ${db} }
seal: { dev_unseal_file: ${join(dir, 'unseal.json')} }
logging: { level: warn }
audit: { signing_key_path: ${key}, checkpoint_interval: 1, sinks: [{ type: file, path: ${auditFile} }] }
`;
  const config = join(dir, 'keyward.yaml');
  writeFileSync(config, cfg(join(dir, 'kw.db'), port));
  let first: DevProcess | undefined;
  try {
    first = await startDevProcess({ config, cwd: dir, base: `http://127.0.0.1:${port}` });
    const client = first.devClient();
    assert.equal(await createKey(first, 'before'), 201);
    await checkpointed(auditFile);
    await frozen(first, async () => {
      const before = snapshot(dir);
      assert.ok(Object.keys(before).some((p) => p.endsWith('audit.log.checkpoint')));

      // 1. The same configuration: the port is taken, and nothing else was touched first.
      const same = await serveOnce(config, dir);
      assert.equal(same.code, 4, same.stderr);
      assert.match(same.stderr, /cannot listen on 127\.0\.0\.1:\d+: address in use/);
      assert.deepEqual(snapshot(dir), before, 'a refused start (port in use) changed files');

      // 2. The same configuration on another free port: the database's lock refuses it.
      const another = await serveOnce(config, dir, { KEYWARD_SERVER__PORT: String(await freePort()) });
      assert.equal(another.code, 4, another.stderr);
      assert.match(another.stderr, /the database .*kw\.db is in use by another running Keyward/);
      assert.deepEqual(snapshot(dir), before, 'a refused start (database locked) changed files');

      // 3. Its own database, but the running server's audit file: the audit file's lock refuses it.
      const otherConfig = join(other, 'keyward.yaml');
      writeFileSync(otherConfig, cfg(join(other, 'kw.db'), await freePort()));
      const shared = await serveOnce(otherConfig, other);
      assert.equal(shared.code, 4, shared.stderr);
      assert.match(shared.stderr, /the audit file .*audit\.log is in use by another running Keyward/);
      assert.deepEqual(snapshot(dir), before, 'a refused start (audit file locked) changed files');
    });

    // The running server is unaffected: its dev client secret still works, it keeps writing its chain.
    assert.equal(await clientToken(client), 200);
    assert.equal(await createKey(first, 'after'), 201);
    await first.stop();
    first = undefined;
    const v = await verifyTrail(key, join(dir, 'audit'));
    assert.equal(v.code, 0, v.out);

    // Once it has stopped, the same configuration starts (the lock went with the process).
    first = await startDevProcess({ config, cwd: dir, base: `http://127.0.0.1:${port}` });
    assert.equal(await createKey(first, 'restarted'), 201);
  } finally {
    await first?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  }
});

/** Every table of the schema, as a digest of its rows. */
async function dbSnapshot(url: string, schema: string): Promise<Record<string, string>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const tables = await c.query<{ t: string }>('select table_name as t from information_schema.tables where table_schema = $1 order by 1', [schema]);
    const out: Record<string, string> = {};
    for (const { t } of tables.rows) {
      const r = await c.query<{ d: string | null; n: string }>(`select md5(string_agg(x::text, ',' order by x::text)) as d, count(*) as n from "${schema}"."${t}" x`);
      out[t] = `${r.rows[0]!.n} ${r.rows[0]!.d}`;
    }
    return out;
  } finally {
    await c.end();
  }
}

test('PostgreSQL: a second process for the same instance (same chain) is refused by the advisory lock and changes nothing in the database', { timeout: 120_000 }, async (t: TestContext) => {
  const pgs = await pgTestSchema(t, 'the one-writer test on PostgreSQL');
  if (!pgs) return;
  const dirs = [mkdtempSync(join(tmpdir(), 'keyward-one-writer-pg-a-')), mkdtempSync(join(tmpdir(), 'keyward-one-writer-pg-b-'))];
  const key = join(dirs[0]!, 'audit.pem');
  await generateSigningKeyFile(key);
  const ports = [await freePort(), await freePort()];
  const configs = dirs.map((d, i) => {
    const p = join(d, 'keyward.yaml');
    // Separate data directories and audit files: only the database (and the instance id, so the chain) is shared.
    writeFileSync(p, `mode: dev
server: { port: ${ports[i]}, instance_id: kw-one }
storage: { type: postgres, url: "${pgs.url}", schema: ${pgs.schema} }
seal: { dev_unseal_file: ${join(dirs[0]!, 'unseal.json')} }
logging: { level: warn }
audit: { signing_key_path: ${key}, checkpoint_interval: 1, sinks: [{ type: file, path: ${join(d, 'audit', 'audit.log')} }] }
`);
    return p;
  });
  let first: DevProcess | undefined;
  try {
    first = await startDevProcess({ config: configs[0]!, cwd: dirs[0]!, base: `http://127.0.0.1:${ports[0]}` });
    const client = first.devClient();
    assert.equal(await createKey(first, 'before'), 201);
    await checkpointed(join(dirs[0]!, 'audit', 'audit.log'));
    await frozen(first, async () => {
      const before = await dbSnapshot(pgs.url, pgs.schema);
      const filesBefore = snapshot(dirs[0]!);

      const second = await serveOnce(configs[1]!, dirs[1]!);
      assert.equal(second.code, 4, second.stderr);
      assert.match(second.stderr, /audit\.chain_id:kw-one is in use by another running Keyward \(PostgreSQL advisory lock held\)/);
      assert.deepEqual(await dbSnapshot(pgs.url, pgs.schema), before, 'the refused start changed the database');
      assert.deepEqual(snapshot(dirs[0]!), filesBefore);
      assert.deepEqual(readdirSync(join(dirs[1]!)).sort(), ['keyward.yaml'], 'and wrote nothing in its own directory');
    });

    assert.equal(await clientToken(client), 200, 'the dev client secret was not replaced');
    assert.equal(await createKey(first, 'after'), 201);
    await first.stop();
    first = undefined;
    const v = await verifyTrail(key, join(dirs[0]!, 'audit'));
    assert.equal(v.code, 0, v.out);
  } finally {
    await first?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await pgs.cleanup();
  }
});
