// Lockout counts live in the store, so several instances share them: an attacker gains nothing by spreading
// attempts across instances. Runs on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { Throttle } from '../../src/idp/store/throttle.ts';
import { migrateIdp } from '../../src/idp/store/migrations.ts';
import { nodeSqliteDialect } from '../../src/store/sqlite-dialect.ts';
import { pgTestSchema } from '../support/pg.ts';

async function sharedLockout(db: Kysely<any>) {
  // Two instances: two Throttle objects on one database.
  const a = new Throttle(db);
  const b = new Throttle(db);
  const t0 = 1_900_000_000_000;
  for (let i = 0; i < 2; i++) await a.fail('acct', 4, 900, 60, t0 + i);
  for (let i = 0; i < 2; i++) await b.fail('acct', 4, 900, 60, t0 + 10 + i);
  assert.equal(await a.isLocked('acct', t0 + 20), true, 'four failures across two instances lock the account');
  assert.equal(await b.isLocked('acct', t0 + 20), true);
  assert.equal(await a.isLocked('acct', t0 + 61_000), false, 'the lock expires');
  // A new window starts after window_seconds.
  await a.fail('acct', 4, 900, 60, t0 + 901_000);
  assert.equal(await b.isLocked('acct', t0 + 901_001), false);
  await b.reset('acct');
  await b.fail('other', 1, 900, 60, t0);
  await a.sweep(1000, t0 + 2_000_000);
  assert.equal(await a.isLocked('other', t0 + 10), false, 'swept');
}

test('lockout is shared across instances (SQLite)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kw-throttle-'));
  const db = new Kysely<any>({ dialect: nodeSqliteDialect(join(dir, 'idp.db')) });
  try {
    await migrateIdp(db, 'sqlite');
    await sharedLockout(db);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lockout is shared across instances (PostgreSQL)', async (t) => {
  const s = await pgTestSchema(t, 'idp throttle tests');
  if (!s) return;
  const admin = new pg.Client({ connectionString: s.url });
  await admin.connect();
  await admin.query(`create schema ${s.schema}`);
  await admin.end();
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: s.url, options: `-c search_path=${s.schema}` }) }) });
  try {
    await migrateIdp(db, 'postgres');
    await sharedLockout(db);
  } finally {
    await db.destroy();
    await s.cleanup();
  }
});
