// Keyward's identity provider store as a migration source: a SQLite store filled through `keyward idp apply` and the
// Directory API, read back by the adapter into a canonical document and a credential source, exported to Keycloak
// (passwords and TOTP carried over) and to LDIF, through the library and the CLI.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashRaw } from '@node-rs/argon2';
import { Kysely, sql } from 'kysely';
import { Secret, TOTP } from 'otpauth';
import { run as idpCli } from '../../src/cli/commands/idp.ts';
import { idpConfigSchema } from '../../src/idp/config.ts';
import { generateRecoveryCodes } from '../../src/idp/recovery-codes.ts';
import { Directory, type SecretBox } from '../../src/idp/store/directory.ts';
import { validateIdentityDocument } from '../../src/identity/validate.ts';
import { loadMigrationSource, planKeycloak } from '../../src/migrate/export.ts';
import { readIdpStore } from '../../src/migrate/idp-store.ts';
import type { KcCredential } from '../../src/migrate/keycloak/types.ts';
import { nodeSqliteDialect } from '../../src/store/sqlite-dialect.ts';
import { runCli } from '../cli/helpers.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';

const dir = mkdtempSync(join(tmpdir(), 'kw-migrate-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const dbPath = join(dir, 'k.db');
const cfg = join(dir, 'keyward.yaml');
const IDP = `idp:
  enabled: true
  base_url: http://127.0.0.1:8080
  environment: staging
  argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 }
  realms:
    - name: acme
      display_name: Acme Corporation
      access_token_resource: urn:keyward:key-api
      custom_scopes: [{ name: keys.sign, description: sign with tenant keys }]
      mfa: { required_groups: [admins] }
      ttl: { access_token: 600 }
`;
writeFileSync(cfg, `storage: { type: sqlite, path: ${dbPath} }\n${IDP}`);
const REALM = `realm: acme
roles: [{ name: admin }, { name: reader }, { name: deployer }]
groups:
  - { name: admins, description: Administrators, roles: [admin] }
  - { name: readers, roles: [reader] }
users:
  - { id: u-1, username: alice, display_name: Alice, given_name: Alice, family_name: Núñez, email: alice@acme.example, email_verified: true, tenant: "tenant:acme", groups: [admins], password_env: ALICE_PW }
  - { id: u-2, username: bob, email: bob@acme.example, tenant: "tenant:acme", groups: [readers], roles: [deployer], password_env: BOB_PW }
  - { id: a-1, username: robot, email: robot@acme.example, principal_type: agent, tenant: "tenant:acme", roles: [deployer], enabled: false }
clients:
  - { client_id: web, name: Web, redirect_uris: ["https://web.acme.example/cb"], grant_types: [authorization_code, refresh_token], scopes: [openid, profile], secret_env: WEB_SECRET, tenant: "tenant:acme" }
  - { client_id: svc, grant_types: [client_credentials], scopes: [keys.sign], secret_env: SVC_SECRET, roles: [reader], tenant: "tenant:acme", signing_alg: RS256 }
`;
const ENV = { ALICE_PW: 'alice password', BOB_PW: 'bob password', WEB_SECRET: 'web-secret-value', SVC_SECRET: 'svc-secret-value' };
const SEED = new Secret({ size: 20 }).base32;

/** A stand-in for the key service's box: reversible, bound to the context, and visibly not the seed. */
const box: SecretBox = {
  seal: async (ctx, p) => `sealed:${Buffer.from(`${ctx}|${p}`).toString('base64')}`,
  open: async (ctx, s) => {
    const [c, p] = Buffer.from(s.replace(/^sealed:/, ''), 'base64').toString().split('|');
    if (c !== ctx) throw new Error('wrong context');
    return p!;
  },
};

const idp = idpConfigSchema.parse((await import('yaml')).parse(IDP).idp);
let db: Kysely<any>;

async function keycloakVerifies(c: KcCredential, password: string): Promise<boolean> {
  const s = JSON.parse(c.secretData);
  const d = JSON.parse(c.credentialData);
  const p = d.additionalParameters;
  const raw = await hashRaw(password, {
    salt: Buffer.from(s.salt, 'base64'),
    memoryCost: Number(p.memory[0]),
    timeCost: d.hashIterations,
    parallelism: Number(p.parallelism[0]),
    outputLen: Number(p.hashLength[0]),
  });
  return p.type[0] === 'id' && p.version[0] === '1.3' && raw.toString('base64') === s.value;
}

describe("the identity provider's store as a migration source", () => {
  before(async () => {
    const file = join(dir, 'realm.yaml');
    writeFileSync(file, REALM);
    const applied = await idpCli(['apply', file, '--config', cfg], { out: () => {}, err: (l) => console.error(l), env: ENV });
    assert.equal(applied, 0);
    db = new Kysely<any>({ dialect: nodeSqliteDialect(dbPath) });
    await new Directory(db, 'acme', box).putTotp('u-1', { secret: SEED, confirmed: true, lastStep: null });
    await new Directory(db, 'acme').replaceRecoveryCodes('u-1', generateRecoveryCodes(3));
    // An enrolment started but never confirmed is not a credential.
    await new Directory(db, 'acme', box).putTotp('u-2', { secret: new Secret({ size: 20 }).base32, confirmed: false, lastStep: null });
    // A privacyIDEA token serial on record for bob (Path 3): carried into the document, and so into the report.
    await new Directory(db, 'acme').putMfaReference({ id: 'pi-bob', user_id: 'u-2', provider: 'privacyidea', method: 'push', reference: 'PIPU0042', status: 'active' });
  });
  after(() => db?.destroy());

  it('reads a canonical document that passes validation, with the store as credential source', async () => {
    const { document, notes } = await readIdpStore(idpRepositories(db, 'sqlite'), idp, idp.realms[0]!, box);
    assert.deepEqual(validateIdentityDocument(document, 'store'), []);
    assert.equal(document.tenant, 'tenant:acme');
    assert.deepEqual(document.environments, ['staging']);
    assert.deepEqual(document.users.map((u) => [u.id, u.username, u.enabled, u.principal_type, u.roles]), [
      ['u-1', 'alice', true, 'human', undefined],
      ['u-2', 'bob', true, 'human', ['deployer']],
      ['a-1', 'robot', false, 'agent', ['deployer']],
    ]);
    // Names the store keeps go back into the document; no names, no `directory`.
    assert.deepEqual(document.users.map((u) => u.directory), [{ given_name: 'Alice', family_name: 'Núñez' }, undefined, undefined]);
    assert.deepEqual(document.memberships, [
      { user_id: 'u-1', group: 'admins' },
      { user_id: 'u-2', group: 'readers' },
    ]);
    const svc = document.clients.find((c) => c.client_id === 'svc')!;
    assert.deepEqual(svc.principal, { principal_type: 'service', roles: ['reader'] });
    assert.match((svc.secret as { argon2id_hash: string }).argon2id_hash, /^\$argon2id\$/);
    assert.deepEqual(document.client_scope_assignments.filter((a) => a.client_id === 'web').map((a) => a.scope), ['openid', 'profile']);
    assert.deepEqual(document.mfa_enrollments.map((e) => [e.user_id, e.provider, e.status]), [['u-1', 'keyward', 'active'], ['u-2', 'keyward', 'pending'], ['u-2', 'privacyidea', 'active']]);
    assert.equal(document.mfa_enrollments[2]!.reference, 'PIPU0042');
    assert.deepEqual(notes.map((n) => [n.code, n.subject]), [
      ['keycloak.mfa.required_groups', 'groups admins'],
      ['keycloak.mfa.recovery_codes', 'user alice'],
    ]);
    assert.match(notes[1]!.message, /^3 unused recovery code/);
  });

  it('exports passwords Keycloak verifies and a TOTP credential that yields the same codes', async () => {
    const src = await readIdpStore(idpRepositories(db, 'sqlite'), idp, idp.realms[0]!, box);
    const plan = await planKeycloak(
      { kind: 'idp_store', name: 'store', document: src.document, credentials: src.credentials, settings: { lifetimes: { accessToken: 600, idToken: 600, authorizationCode: 60, refreshToken: 3600, session: 3600 }, lockout: { maxFailures: 5, windowSeconds: 900, lockSeconds: 900 }, mfaRequiredGroups: [] }, notes: src.notes, findings: [] },
      { realmName: 'acme' },
    );
    const alice = plan.result.users.find((u) => u.username === 'alice')!;
    const pw = alice.credentials.find((c) => c.type === 'password')!;
    assert.equal(await keycloakVerifies(pw, 'alice password'), true);
    assert.equal(await keycloakVerifies(pw, 'bob password'), false);
    const otp = alice.credentials.find((c) => c.type === 'otp')!;
    const app = new TOTP({ secret: Secret.fromBase32(SEED), digits: 6, period: 30, algorithm: 'SHA1' });
    const kc = new TOTP({ secret: Secret.fromBase32(JSON.parse(otp.secretData).value), digits: 6, period: 30, algorithm: 'SHA1' });
    assert.equal(JSON.parse(otp.credentialData).secretEncoding, 'BASE32');
    assert.equal(kc.generate({ timestamp: 1_700_000_000_000 }), app.generate({ timestamp: 1_700_000_000_000 }));
    assert.deepEqual(plan.result.users.find((u) => u.username === 'bob')!.credentials.map((c) => c.type), ['password'], 'the pending enrolment is not exported');
    assert.equal(plan.result.users.find((u) => u.username === 'robot')!.credentials.length, 0);
    // Client secrets exist only as hashes in the store: placeholders, blocking.
    assert.equal(plan.result.realm.clients.find((c) => c.clientId === 'web')!.secret, '${KEYCLOAK_CLIENT_SECRET_WEB}');
    assert.ok(plan.report.incompatibilities.some((i) => i.code === 'keycloak.client.secret_hash_only' && i.subject === 'client svc'));
    assert.equal(plan.result.realm.accessTokenLifespan, 600);
  });

  it('without the key service the seed stays sealed: reported, never exported as if it were the seed', async () => {
    const out = await loadMigrationSource({ configPath: cfg, realm: 'acme', env: {} });
    assert.ok(out.source);
    assert.equal(await out.source.credentials.totp('u-1'), 'unavailable');
    const plan = await planKeycloak(out.source, { realmName: 'acme' });
    const alice = plan.result.users.find((u) => u.username === 'alice')!;
    assert.deepEqual(alice.credentials.map((c) => c.type), ['password']);
    assert.ok(!plan.files.some((f) => f.text.includes('sealed:')), 'no sealed text in the export');
    assert.ok(plan.report.incompatibilities.some((i) => i.code === 'keycloak.otp.seed_sealed' && i.subject === 'user alice'));
    assert.equal(plan.report.source.kind, 'idp_store');
    assert.equal(plan.result.realm.displayName, 'Acme Corporation');
    assert.equal(plan.result.realm.clientScopes[0]!.protocolMappers.find((m) => m.name === 'audience')!.config['included.custom.audience'], 'urn:keyward:key-api');
  });

  it('keyward migrate export --config: Keycloak files and LDIF from the store', async () => {
    const kc = join(dir, 'kc');
    const r = await runCli(['migrate', 'export', '--to', 'keycloak', '--realm', 'acme', '--config', cfg, '--out', kc], {});
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(readdirSync(kc).sort(), ['acme-realm.json', 'acme-users-0.json']);
    const users = JSON.parse(readFileSync(join(kc, 'acme-users-0.json'), 'utf8')).users;
    assert.deepEqual(users.map((u: { username: string }) => u.username), ['alice', 'bob', 'robot', 'service-account-svc']);
    assert.deepEqual([users[0].firstName, users[0].lastName, users[1].firstName, users[1].lastName], ['Alice', 'Núñez', undefined, undefined]);
    const ldif = join(dir, 'acme.ldif');
    const l = await runCli(['migrate', 'export', '--to', 'ldif', '--config', cfg, '--out', ldif], {});
    assert.equal(l.code, 0, l.err);
    const text = readFileSync(ldif, 'utf8');
    assert.match(text, /dn: uid=robot,ou=people,dc=example,dc=com/);
    const alice = text.split(/\n\n+/).find((e) => e.startsWith('dn: uid=alice,'))!;
    assert.match(alice, /^givenName: Alice$/m);
    assert.match(alice, new RegExp(`^sn:: ${Buffer.from('Núñez').toString('base64')}$`, 'm'));
    assert.match(text.split(/\n\n+/).find((e) => e.startsWith('dn: uid=bob,'))!, /^sn: bob$/m, 'no family name: sn is the username, as before');
  });

  it('store data the canonical model cannot hold is refused with the finding, and nothing is written', async () => {
    await new Directory(db, 'acme').putUser({ id: 'u-9', username: 'noemail', displayName: null, givenName: null, familyName: null, email: null, emailVerified: false, enabled: true, principalType: 'human', tenant: 'tenant:acme', groups: ['readers'], roles: [], passwordHash: null });
    try {
      const out = join(dir, 'refused');
      const r = await runCli(['migrate', 'export', '--to', 'keycloak', '--realm', 'acme', '--config', cfg, '--out', out, '--json'], {});
      assert.equal(r.code, 1);
      const j = JSON.parse(r.out);
      assert.equal(j.refused, true);
      assert.deepEqual(j.findings.map((f: { code: string; path: string }) => [f.code, f.path]), [['identity.schema.required', '/users/2/email']]);
      assert.equal(existsSync(out), false);
    } finally {
      await new Directory(db, 'acme').deleteUser('u-9');
    }
  });

  it('a missing store is unavailable (exit 4), not an empty realm; an unknown realm is a usage error', async () => {
    const missing = join(dir, 'missing.yaml');
    writeFileSync(missing, `storage: { type: sqlite, path: ${join(dir, 'nope.db')} }\n${IDP}`);
    const r = await runCli(['migrate', 'export', '--to', 'ldif', '--config', missing, '--out', join(dir, 'x.ldif')], {});
    assert.equal(r.code, 4);
    assert.match(r.err, /migrate\.store_unavailable/);
    assert.equal(existsSync(join(dir, 'nope.db')), false, 'no database was created');
    // An existing database without the provider's tables is refused and left as it was: nothing is migrated into it.
    const other = join(dir, 'other.db');
    const empty = new Kysely<any>({ dialect: nodeSqliteDialect(other) });
    await sql`create table unrelated (id integer)`.execute(empty);
    await empty.destroy();
    const before = readFileSync(other);
    const otherCfg = join(dir, 'other.yaml');
    writeFileSync(otherCfg, `storage: { type: sqlite, path: ${other} }\n${IDP}`);
    const o = await runCli(['migrate', 'export', '--to', 'ldif', '--config', otherCfg, '--out', join(dir, 'z.ldif')], {});
    assert.equal(o.code, 4);
    assert.match(o.err, /migrate\.store_unavailable/);
    assert.deepEqual(readFileSync(other), before, 'the database was not changed');
    const u = await runCli(['migrate', 'export', '--to', 'ldif', '--config', cfg, '--realm', 'other', '--out', join(dir, 'y.ldif')], {});
    assert.equal(u.code, 2);
    assert.match(u.err, /migrate\.realm_unknown/);
  });
});
