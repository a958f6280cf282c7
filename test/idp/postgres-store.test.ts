import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { applyRealmFile, parseRealmFile } from '../../src/idp/realm-file.ts';
import { createAdapterFactory, sweepExpired } from '../../src/idp/store/adapter.ts';
import { Directory } from '../../src/idp/store/directory.ts';
import { migrateIdp } from '../../src/idp/store/migrations.ts';
import { nodeSqliteDialect } from '../../src/store/sqlite-dialect.ts';
import { IdpTelemetry } from '../../src/idp/telemetry.ts';
import { REALM_YAML, realmConfig, SECRETS } from './support/env.ts';
import { skipUnless } from '../support/missing.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';

const URL_ = 'postgres://postgres@127.0.0.1:5432/test';

/** Two requests consuming one code at once: one wins, the other is a reuse that revokes the whole grant. */
async function assertConsumeOnce(Adapter: ReturnType<typeof createAdapterFactory>) {
  const codes = new Adapter('AuthorizationCode');
  const tokens = new Adapter('AccessToken');
  await codes.upsert('c1', { grantId: 'g2' }, 60);
  await tokens.upsert('t1', { grantId: 'g2' }, 60);
  const results = await Promise.allSettled([codes.consume('c1'), codes.consume('c1'), codes.consume('c1')]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results.filter((r) => r.status === 'rejected')) assert.equal((r as PromiseRejectedResult).reason.error, 'invalid_grant');
  assert.equal(await tokens.find('t1'), undefined, 'the grant is revoked');
  await assert.rejects(codes.consume('missing'), (e: any) => e.error === 'invalid_grant');
}

/**
 * A store at migration 0005 with a user in it (the latest schema with 0006's columns dropped and its record removed:
 * what 0005 created), brought to the latest: the user reads back without names, and names can then be written.
 */
async function assertNamesMigration(db: Kysely<any>, dialect: 'sqlite' | 'postgres') {
  await migrateIdp(db, dialect);
  await db.schema.alterTable('idp_users').dropColumn('given_name').execute();
  await db.schema.alterTable('idp_users').dropColumn('family_name').execute();
  await db.deleteFrom('keyward_idp_migration').where('name', '=', '0006_idp_user_names').execute();
  await sql`insert into idp_users (realm, id, username, display_name, email, email_verified, enabled, principal_type, tenant, groups, roles, password_hash, created_at, updated_at)
    values ('main', 'u-old', 'old', 'Old Timer', 'old@example.test', 1, 1, 'human', 'tenant:acme', '[]', '["reader"]', null, 1, 1)`.execute(db);
  await migrateIdp(db, dialect);
  const dir = new Directory(db, 'main');
  const old = (await dir.getUser('u-old'))!;
  assert.deepEqual([old.username, old.displayName, old.givenName, old.familyName, old.roles], ['old', 'Old Timer', null, null, ['reader']]);
  await dir.putUser({ ...old, givenName: 'Olga', familyName: 'Timerova' });
  const named = (await dir.findUserByUsername('old'))!;
  assert.deepEqual([named.givenName, named.familyName], ['Olga', 'Timerova']);
  await dir.putUser({ ...named, familyName: null });
  assert.equal((await dir.getUser('u-old'))!.familyName, null);
}

describe('idp store on SQLite', () => {
  it('migration 0006 gives a store with users the name columns', async () => {
    const sqlite = new Kysely<any>({ dialect: nodeSqliteDialect(':memory:') });
    try {
      await assertNamesMigration(sqlite, 'sqlite');
    } finally {
      await sqlite.destroy();
    }
  });

  it('one of several concurrent consumes wins; the rest revoke the grant', async () => {
    const sqlite = new Kysely<any>({ dialect: nodeSqliteDialect(':memory:') });
    await migrateIdp(sqlite, 'sqlite');
    await assertConsumeOnce(createAdapterFactory(sqlite, 'main', new Directory(sqlite, 'main')));
    await sqlite.destroy();
  });
});

async function reachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: URL_, connectionTimeoutMillis: 1000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

const up = await reachable();

describe('idp store on PostgreSQL', { skip: skipUnless(up, 'the idp store tests on PostgreSQL', 'PostgreSQL not reachable') }, () => {
  const schema = `idp_test_${process.pid}_${Date.now()}`;
  let db: Kysely<any>;
  let admin: pg.Client;
  before(async () => {
    admin = new pg.Client({ connectionString: URL_ });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const pool = new pg.Pool({ connectionString: URL_, max: 2, options: `-c search_path=${schema}` });
    db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    await migrateIdp(db, 'postgres');
    await migrateIdp(db, 'postgres');
  });
  after(async () => {
    await db?.destroy();
    await admin?.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin?.end();
  });

  it('migration 0006 gives a store with users the name columns', async () => {
    const old = `${schema}_names`;
    await admin.query(`CREATE SCHEMA ${old}`);
    const pool = new pg.Pool({ connectionString: URL_, max: 2, options: `-c search_path=${old}` });
    const other = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    try {
      await assertNamesMigration(other, 'postgres');
    } finally {
      await other.destroy();
      await admin.query(`DROP SCHEMA ${old} CASCADE`);
    }
  });

  it('applies the realm file, serves clients and persists provider artefacts with sweeping', async () => {
    const cfg = realmConfig(1);
    const changes = await applyRealmFile(idpRepositories(db, 'postgres'), cfg.realms[0]!, parseRealmFile(REALM_YAML), { dryRun: false, env: { ...SECRETS }, argon2: cfg.argon2 });
    assert.ok(changes.every((c) => c.action === 'create'));
    const dir = new Directory(db, 'main');
    assert.deepEqual(await dir.effectiveRoles((await dir.findUserByUsername('bob'))!), ['signer']);
    const alice = (await dir.findUserByUsername('alice'))!;
    assert.deepEqual([alice.givenName, alice.familyName], ['Alice', 'Anders']);
    const Adapter = createAdapterFactory(db, 'main', dir);
    assert.equal(((await new Adapter('Client').find('svc')) as any).client_id, 'svc');
    const rt = new Adapter('RefreshToken');
    await rt.upsert('r1', { grantId: 'g1', x: 1 }, 60);
    await rt.consume('r1');
    assert.ok(((await rt.find('r1')) as any).consumed);
    await rt.revokeByGrantId('g1');
    assert.equal(await rt.find('r1'), undefined);
    await assertConsumeOnce(Adapter);
    const s = new Adapter('Session');
    await s.upsert('s1', { uid: 'u1' }, 1);
    assert.ok(await s.findByUid('u1'));
    assert.equal(await sweepExpired(db, Math.floor(Date.now() / 1000) + 10), 1);
    assert.ok(await dir.useTotpStep('u-bob', 5) === false, 'no enrolment yet');
    // Enrolment seeds per session: two sessions, two seeds; one confirms; the other cannot confirm after it.
    const s1 = await dir.pendingTotp('u-bob', 'session-1', 600);
    const s2 = await dir.pendingTotp('u-bob', 'session-2', 600);
    assert.notEqual(s1, s2);
    assert.equal(await dir.pendingTotp('u-bob', 'session-1', 600), s1);
    // The same sign-in session may change user (back to the login form): each user gets a seed of their own.
    assert.notEqual(await dir.pendingTotp('u-alice', 'session-1', 600), s1);
    assert.equal(await dir.confirmTotp('u-bob', 'session-2', 3), true);
    assert.equal((await dir.getTotp('u-bob'))!.secret, s2);
    assert.equal(await dir.confirmTotp('u-bob', 'session-1', 4), false);
    assert.equal((await dir.getTotp('u-bob'))!.secret, s2);
    await db.deleteFrom('idp_mfa').where('user_id', '=', 'u-bob').execute();
    await dir.putTotp('u-bob', { secret: 'JBSWY3DPEHPK3PXP', confirmed: true, lastStep: null });
    assert.equal(await dir.useTotpStep('u-bob', 5), true);
    assert.equal(await dir.useTotpStep('u-bob', 5), false);
    const t = new IdpTelemetry({ environment: 'test', deploymentMode: 'lightweight', demand: idpRepositories(db, 'postgres').demand });
    await t.emit({ event: 'unsupported_request', realm: 'main', client_id: 'svc', endpoint: '/protocol/saml', feature_category: 'saml', error_class: 'available_in_keycloak_mode_only', result: 'rejected', correlation_id: 'req-1' });
    const rows = await idpRepositories(db, 'postgres').demand.report();
    assert.equal(rows[0]?.count, 1);
  });
});
