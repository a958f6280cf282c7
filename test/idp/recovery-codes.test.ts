// Recovery codes in the store: hashes only, each spent once even when instances race (two database handles on one
// store), replaced with a TOTP confirmation in the same transaction. On SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { generateRecoveryCodes, normalizeRecoveryCode, recoveryCodeHash } from '../../src/idp/recovery-codes.ts';
import { Directory } from '../../src/idp/store/directory.ts';
import { migrateIdp } from '../../src/idp/store/migrations.ts';
import { nodeSqliteDialect } from '../../src/store/sqlite-dialect.ts';
import { pgTestSchema } from '../support/pg.ts';

test('codes are 80 random bits in four groups; typing variants normalise; hashes are bound to realm and user', () => {
  const codes = generateRecoveryCodes();
  assert.equal(codes.length, 10);
  assert.equal(new Set(codes).size, 10);
  for (const c of codes) assert.match(c, /^([0-9a-hjkmnp-tv-z]{4}-){3}[0-9a-hjkmnp-tv-z]{4}$/);
  assert.equal(normalizeRecoveryCode(' ABCD efgh-JKMN pqrs '), 'abcdefghjkmnpqrs');
  // Letters read as digits count as those digits (Crockford): I, L -> 1, O -> 0.
  assert.equal(normalizeRecoveryCode('iLo0-1111-0000-2222'), '1100111100002222');
  assert.equal(normalizeRecoveryCode('abcd-efgh-jkmn-pqr'), undefined, 'too short');
  assert.equal(normalizeRecoveryCode('abcd-efgh-jkmn-pqru'), undefined, 'u is not in the alphabet');
  const h = recoveryCodeHash('main', 'u-1', 'abcd-efgh-jkmn-pqrs');
  assert.equal(recoveryCodeHash('main', 'u-1', 'ABCD EFGH JKMN PQRS'), h);
  assert.notEqual(recoveryCodeHash('main', 'u-2', 'abcd-efgh-jkmn-pqrs'), h);
  assert.notEqual(recoveryCodeHash('other', 'u-1', 'abcd-efgh-jkmn-pqrs'), h);
  assert.ok(!h.includes('abcd'));
});

async function spentOnce(a: Kysely<any>, b: Kysely<any>) {
  // Two instances: two handles (connection pools) on one store.
  const one = new Directory(a, 'main');
  const two = new Directory(b, 'main');
  const codes = generateRecoveryCodes();
  await one.replaceRecoveryCodes('u-1', codes);
  assert.equal(await two.unusedRecoveryCodes('u-1'), 10);
  const rows = await a.selectFrom('idp_recovery_codes').selectAll().execute();
  assert.ok(!JSON.stringify(rows).includes(codes[0]!.slice(0, 9)), 'hashes only');

  const racing = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? one : two).useRecoveryCode('u-1', codes[0]!)));
  assert.equal(racing.filter((r) => r === 'used').length, 1, 'exactly one request spends the code');
  assert.equal(racing.filter((r) => r === 'already_used').length, 11);
  assert.equal(await one.useRecoveryCode('u-1', codes[0]!), 'already_used');
  assert.equal(await one.useRecoveryCode('u-1', 'zzzz-zzzz-zzzz-zzzz'), 'unknown');
  assert.equal(await one.useRecoveryCode('u-1', 'not a code'), 'unknown');
  // Another user's code is unknown here.
  await one.replaceRecoveryCodes('u-2', ['aaaa-bbbb-cccc-dddd']);
  assert.equal(await one.useRecoveryCode('u-1', 'aaaa-bbbb-cccc-dddd'), 'unknown');
  assert.equal(await two.unusedRecoveryCodes('u-1'), 9);

  // A sign-in that could not be recorded gives its code back.
  assert.equal(await one.useRecoveryCode('u-1', codes[1]!), 'used');
  await one.restoreRecoveryCode('u-1', codes[1]!);
  assert.equal(await two.useRecoveryCode('u-1', codes[1]!), 'used');

  // Confirming an enrolment replaces the user's codes in the same transaction.
  await one.pendingTotp('u-1', 'session-1', 600);
  const fresh = generateRecoveryCodes();
  assert.equal(await one.confirmTotp('u-1', 'session-1', 7, fresh), true);
  assert.equal(await two.unusedRecoveryCodes('u-1'), 10);
  assert.equal(await two.useRecoveryCode('u-1', codes[2]!), 'unknown', 'the old set is gone');
  assert.equal(await two.useRecoveryCode('u-1', fresh[0]!), 'used');
  // Deleting the user takes the codes along.
  await one.deleteUser('u-1');
  assert.equal(await two.unusedRecoveryCodes('u-1'), 0);
}

test('a recovery code is spent once across instances (SQLite)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kw-recovery-'));
  const a = new Kysely<any>({ dialect: nodeSqliteDialect(join(dir, 'idp.db')) });
  const b = new Kysely<any>({ dialect: nodeSqliteDialect(join(dir, 'idp.db')) });
  try {
    await migrateIdp(a, 'sqlite');
    await spentOnce(a, b);
  } finally {
    await a.destroy();
    await b.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a recovery code is spent once across instances (PostgreSQL)', async (t) => {
  const s = await pgTestSchema(t, 'idp recovery code tests');
  if (!s) return;
  // A sibling schema with the identity provider's tables in the same database (another deployment, another test)
  // must not confuse the migration of ours.
  const sibling = `${s.schema}_sibling`;
  const admin = new pg.Client({ connectionString: s.url });
  await admin.connect();
  await admin.query(`create schema ${s.schema}`);
  await admin.query(`create schema ${sibling}`);
  const handle = (schema: string) => new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: s.url, max: 6, options: `-c search_path=${schema}` }) }) });
  const other = handle(sibling);
  const a = handle(s.schema);
  const b = handle(s.schema);
  try {
    await migrateIdp(other, 'postgres');
    await migrateIdp(a, 'postgres');
    await spentOnce(a, b);
  } finally {
    await other.destroy();
    await a.destroy();
    await b.destroy();
    await admin.query(`drop schema if exists ${sibling} cascade`);
    await admin.end();
    await s.cleanup();
  }
});
