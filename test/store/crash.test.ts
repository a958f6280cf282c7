// The kill -9 proof: a writer SIGKILLed at random points, repeatedly, never leaves a key with a gap in its
// versions, a live version without material, or a version without its key.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import pg from 'pg';
import type { StoreConfig } from '../../src/store/open.ts';
import type { KeyRecord } from '../../src/store/types.ts';
import { freshEnv, type DialectName } from './harness.ts';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const ROUNDS = 5;

/** Runs the child until it is ready, lets it write for 300–600 ms, then SIGKILLs it. */
const CHILD_APP = 'keyward-crash-child';

async function runAndKill(cfg: StoreConfig): Promise<void> {
  // PostgreSQL sessions of the child are named, so the parent can wait for the server to finish with them.
  const childCfg = cfg.type === 'postgres' ? { ...cfg, url: `${cfg.url}${cfg.url.includes('?') ? '&' : '?'}application_name=${CHILD_APP}` } : cfg;
  const child = spawn(process.execPath, [CHILD, JSON.stringify(childCfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<void>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('created\n')) resolve();
    });
  });
  const first = await Promise.race([ready.then(() => 'ready' as const), exited]);
  if (first !== 'ready') assert.fail(`crash child exited before it was ready (${JSON.stringify(first)}): ${stderr}`);
  await sleep(300 + randomInt(301));
  child.kill('SIGKILL');
  const { signal } = await exited;
  // Anything but our SIGKILL means the child failed on its own (an unexpected store error, say).
  assert.equal(signal, 'SIGKILL', `crash child died by itself: ${stderr}`);
  if (cfg.type === 'postgres') await pgSessionsGone(cfg);
}

/**
 * After a client dies, PostgreSQL still finishes (commits or aborts) what its sessions were doing. Checking before
 * they are gone would read the keys and their versions across a commit landing in between: wait them out.
 */
async function pgSessionsGone(cfg: Extract<StoreConfig, { type: 'postgres' }>): Promise<void> {
  const client = new pg.Client({ connectionString: cfg.url });
  await client.connect();
  try {
    for (let i = 0; i < 100; i++) {
      const r = await client.query<{ n: string }>('select count(*) as n from pg_stat_activity where application_name = $1', [CHILD_APP]);
      if (Number(r.rows[0]!.n) === 0) return;
      await sleep(50);
    }
    assert.fail('the killed child still has PostgreSQL sessions after 5 s');
  } finally {
    await client.end();
  }
}

async function allKeys(env: { open(): Promise<import('../../src/store/types.ts').Store> }) {
  const s = await env.open();
  const keys: KeyRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await s.keys.list({ limit: 1000, cursor });
    keys.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return { s, keys };
}

async function orphanVersions(cfg: StoreConfig): Promise<number> {
  const q = 'select count(*) as n from key_versions v left join keys k on k.id = v.key_id where k.id is null';
  if (cfg.type === 'sqlite') {
    const db = new DatabaseSync(cfg.path);
    try {
      assert.equal((db.prepare('pragma integrity_check').get() as { integrity_check: string }).integrity_check, 'ok');
      assert.deepEqual(db.prepare('pragma foreign_key_check').all(), []);
      return Number((db.prepare(q).get() as { n: number }).n);
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: cfg.url, options: `-c search_path=${cfg.schema}` });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>(q)).rows[0]!.n);
  } finally {
    await client.end();
  }
}

function crashSuite(dialect: DialectName) {
  describe(dialect, () => {
    test(`SIGKILL during writes, ${ROUNDS} times, leaves the store consistent`, async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      // Migrate up front so every child spends its time writing.
      await (await env.open()).close();

      let previous = 0;
      for (let round = 0; round < ROUNDS; round++) {
        await runAndKill(env.cfg);
        const { s, keys } = await allKeys(env);
        assert.ok(keys.length > previous, `round ${round}: the child wrote keys (${keys.length} after ${previous})`);
        previous = keys.length;

        let versionsSeen = 0;
        for (const k of keys) {
          const versions = await s.keys.versions(k.id);
          versionsSeen += versions.length;
          assert.deepEqual(
            versions.map((v) => v.version),
            Array.from({ length: k.currentVersion }, (_, i) => i + 1),
            `key ${k.id}: versions are exactly 1..${k.currentVersion}`,
          );
          for (const v of versions) {
            assert.match(v.fingerprint, /^sha256:[0-9a-f]{64}$/, `key ${k.id} v${v.version}: fingerprint`);
            if (k.state === 'destroyed') {
              assert.equal(v.sealedMaterial, null, `key ${k.id} v${v.version}: destroyed key keeps no material`);
              assert.ok(v.destroyedAt, `key ${k.id} v${v.version}: destroyedAt set`);
            } else {
              assert.ok(v.sealedMaterial && v.sealedMaterial.length >= 300, `key ${k.id} v${v.version}: material present`);
              assert.equal(v.destroyedAt, null);
            }
          }
        }
        assert.equal(await orphanVersions(env.cfg), 0, 'no version rows without a key');
        assert.ok(versionsSeen >= keys.length);
        await s.close();
      }
      t.diagnostic(`${previous} keys written across ${ROUNDS} killed writers`);
    });
  });
}

crashSuite('sqlite');
crashSuite('postgres');
