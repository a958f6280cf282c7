// Realms as canonical identity documents: `keyward idp apply` and `keyward identity provision --to builtin` write
// them into the built-in tables (validated, checked against the server's realm configuration, dry run, idempotent,
// all or nothing); the deprecated realm file is still read, with a warning.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { verify } from '@node-rs/argon2';
import { Kysely } from 'kysely';
import { stringify } from 'yaml';
import { Directory } from '../../src/idp/store/directory.ts';
import { nodeSqliteDialect } from '../../src/store/sqlite-dialect.ts';
import { runCli } from '../cli/helpers.ts';
import { REALM_YAML, SECRETS } from './support/env.ts';

const TENANT = 'fixtures/identity/tenant.json';
const tenant = () => JSON.parse(readFileSync(TENANT, 'utf8')) as Record<string, any>;
const ENV = {
  ACME_ALICE_PASSWORD: 'alice password 0123',
  ACME_BOB_PASSWORD: 'bob password 0123',
  ACME_DAVE_PASSWORD: 'dave password 0123',
  ACME_BACKUP_SVC_PASSWORD: 'backup password 0123',
  ACME_PORTAL_SECRET: 'portal-secret-0123456789',
  ACME_BILLING_SECRET: 'billing-secret-0123456789',
};

const tmp = mkdtempSync(join(tmpdir(), 'kw-realm-doc-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A configuration with realm acme (as the fixture tenant needs it) and a store of its own. */
function config(name: string, realm: Record<string, unknown> = {}, environment = 'dev'): { path: string; db: string } {
  const db = join(tmp, `${name}.db`);
  const path = join(tmp, `${name}.yaml`);
  writeFileSync(
    path,
    stringify({
      storage: { type: 'sqlite', path: db },
      idp: {
        enabled: true,
        base_url: 'http://127.0.0.1:8080',
        environment,
        argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 },
        realms: [
          { name: 'acme', access_token_resource: 'urn:keyward:key-api', custom_scopes: [{ name: 'keys.sign' }], public_clients_allowed: true, ...realm },
          { name: 'main', access_token_resource: 'urn:keyward:key-api', custom_scopes: [{ name: 'keys.sign' }] },
        ],
      },
    }),
  );
  return { path, db };
}

function write(name: string, content: string | object): string {
  const p = join(tmp, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return p;
}

async function tables(dbPath: string, realm = 'acme') {
  const db = new Kysely<any>({ dialect: nodeSqliteDialect(dbPath) });
  try {
    const d = new Directory(db, realm);
    return { users: await d.listUsers(), clients: await d.listClients(), groups: await d.listGroups(), roles: await d.listRoles() };
  } finally {
    await db.destroy();
  }
}

describe('realm documents into the built-in directory', () => {
  it('keyward idp apply: dry run shows the diff and writes nothing; apply writes it; a second apply changes nothing', async () => {
    const cfg = config('apply');
    const dry = await runCli(['idp', 'apply', TENANT, '--config', cfg.path, '--dry-run'], ENV);
    assert.equal(dry.code, 0, dry.err);
    const lines = dry.out.split('\n');
    for (const l of ['+ role admin', '+ group admins', '+ user u-0001', '+ user a-0001', '+ client portal', '+ client acme-cli', '+ client release-agent', '+ mfa_reference mfa-0002'])
      assert.ok(lines.includes(l), `${l} in\n${dry.out}`);
    // billing exists in staging and prod only; this server runs in dev.
    assert.ok(lines.some((l) => l.startsWith('- client billing: not for environment dev')), dry.out);
    assert.ok(!lines.includes('+ client billing'));
    // Given and family names are kept (idp_users.given_name, family_name): nothing about them is left out.
    assert.ok(!dry.out.includes('users[].directory'), dry.out);
    assert.match(dry.out, /dry run: 22 change\(s\) would be applied$/);
    assert.equal(dry.err, '', 'a canonical document draws no deprecation warning');
    assert.deepEqual((await tables(cfg.db)).users, [], 'the dry run wrote nothing');

    const first = await runCli(['idp', 'apply', TENANT, '--config', cfg.path], ENV);
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /22 change\(s\) applied$/);
    const t = await tables(cfg.db);
    const alice = t.users.find((u) => u.username === 'alice')!;
    assert.deepEqual({ ...alice, passwordHash: undefined }, {
      id: 'u-0001',
      username: 'alice',
      displayName: 'Alice Liddell',
      givenName: 'Alice',
      familyName: 'Liddell',
      email: 'alice@acme.example',
      emailVerified: true,
      enabled: true,
      principalType: 'human',
      tenant: 'tenant:acme',
      groups: ['admins', 'ops'],
      roles: [],
      passwordHash: undefined,
    });
    assert.ok(await verify(alice.passwordHash!, ENV.ACME_ALICE_PASSWORD), 'the password is stored as an argon2id hash of the env value');
    assert.equal(t.users.find((u) => u.username === 'carol')!.enabled, false);
    assert.equal(t.users.find((u) => u.username === 'carol')!.passwordHash, null, 'no password reference: no password');
    assert.equal(t.users.find((u) => u.username === 'backup-svc')!.principalType, 'service');
    const portal = t.clients.find((c) => c.clientId === 'portal')!;
    assert.deepEqual(portal.scopes, ['openid', 'profile', 'email', 'groups', 'offline_access']);
    assert.deepEqual([portal.name, portal.authMethod, portal.signingAlg, portal.mfa], ['Acme portal', 'client_secret_basic', 'ES256', 'optional']);
    assert.ok(await verify(portal.secretHash!, ENV.ACME_PORTAL_SECRET));
    const agent = t.clients.find((c) => c.clientId === 'release-agent')!;
    assert.deepEqual([agent.principalType, agent.tenant, agent.roles, agent.groups, agent.secretHash], ['agent', 'tenant:acme', ['deployer'], ['release-bots'], null]);
    assert.equal(agent.jwks?.keys[0]?.kid, 'release-agent-1');
    assert.deepEqual(t.groups.find((g) => g.name === 'admins')!.roles, ['admin', 'signer']);

    const again = await runCli(['idp', 'apply', TENANT, '--config', cfg.path], ENV);
    assert.equal(again.code, 0, again.err);
    assert.ok(again.out.split('\n').every((l) => l.startsWith('= ') || l.startsWith('- ') || l === '0 change(s) applied'), again.out);
  });

  it('the same document in YAML (the commented example too) applies the same way', async () => {
    const cfg = config('yaml');
    const yaml = write('tenant.yaml', stringify(tenant()));
    const r = await runCli(['idp', 'apply', yaml, '--config', cfg.path], ENV);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /22 change\(s\) applied$/);
    assert.equal((await tables(cfg.db)).users.length, 6);

    const staff = config('staff', { name: 'staff' });
    const example = await runCli(['idp', 'apply', 'fixtures/identity/realm.yaml', '--config', staff.path], { STAFF_ALICE_PASSWORD: 'pw 0123456789', STAFF_PORTAL_SECRET: 'portal 0123456789' });
    assert.equal(example.code, 0, example.err);
    assert.ok(example.out.includes('+ client portal') && example.out.includes('- client signer-svc: not for environment dev (prod); left alone'), example.out);
  });

  it('a change is applied as an update naming its fields, and a changed secret re-hashes', async () => {
    const cfg = config('update');
    assert.equal((await runCli(['idp', 'apply', TENANT, '--config', cfg.path], ENV)).code, 0);
    const doc = tenant();
    doc.users[0].display_name = 'Alice L.';
    doc.users[0].directory.family_name = 'Hargreaves';
    doc.memberships = doc.memberships.filter((m: any) => !(m.user_id === 'u-0001' && m.group === 'ops'));
    const r = await runCli(['idp', 'apply', write('changed.json', doc), '--config', cfg.path], { ...ENV, ACME_PORTAL_SECRET: 'rotated-secret-0123456789' });
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.includes('~ user u-0001 (displayName, familyName, groups)'), r.out);
    assert.ok(r.out.includes('~ client portal (secretHash)'), r.out);
    assert.doesNotMatch(r.out, /rotated-secret|\$argon2id\$/, 'secrets and hashes are named, never shown');
    const t = await tables(cfg.db);
    assert.deepEqual(t.users.find((u) => u.id === 'u-0001')!.groups, ['admins']);
    assert.deepEqual([t.users.find((u) => u.id === 'u-0001')!.givenName, t.users.find((u) => u.id === 'u-0001')!.familyName], ['Alice', 'Hargreaves']);
    // The CLI's listing shows them too (and never a password hash).
    const listed = await runCli(['idp', 'users', 'list', '--realm', 'acme', '--json', '--config', cfg.path], ENV);
    const alice = JSON.parse(listed.out).users.find((u: { id: string }) => u.id === 'u-0001');
    assert.deepEqual([alice.display_name, alice.given_name, alice.family_name], ['Alice L.', 'Alice', 'Hargreaves']);
    assert.doesNotMatch(listed.out, /argon2id/);
    assert.ok(await verify(t.clients.find((c) => c.clientId === 'portal')!.secretHash!, 'rotated-secret-0123456789'));
  });

  it('refuses, writing nothing, what the identity rules or the realm configuration reject', async () => {
    const cfg = config('refuse', { public_clients_allowed: false, custom_scopes: [] }, 'test');
    const expectRefused = async (file: string, codes: string[], env: NodeJS.ProcessEnv = ENV) => {
      const r = await runCli(['idp', 'apply', file, '--config', cfg.path], env);
      assert.equal(r.code, 1, `${file}: ${r.out}\n${r.err}`);
      for (const c of codes) assert.match(r.err, new RegExp(`error ${c.replaceAll('.', '\\.')} at `), r.err);
      assert.match(r.err, /refused: .* nothing was applied/);
      assert.deepEqual(await tables(cfg.db), { users: [], clients: [], groups: [], roles: [] });
    };
    await expectRefused('fixtures/identity/invalid/identity.redirect_uri_wildcard.json', ['identity.redirect_uri_wildcard']);
    const wrongRealm = { ...tenant(), realm: 'nope' };
    await expectRefused(write('nope.json', wrongRealm), ['idp.realm_unknown']);
    // acme is configured here without keys.sign, without public clients, and the server runs in environment test.
    await expectRefused(TENANT, ['idp.realm_environment_undeclared', 'idp.realm_scope_not_configured']);
    const inTest = { ...tenant(), environments: ['dev', 'staging', 'prod', 'test'], clients: tenant().clients.map((c: any) => ({ ...c, environments: [...c.environments, 'test'] })) };
    await expectRefused(write('in-test.json', inTest), ['idp.realm_scope_not_configured', 'idp.realm_public_clients_not_allowed']);
    const { ACME_BILLING_SECRET: _gone, ...withoutBilling } = ENV;
    const ok = config('env-missing');
    const r = await runCli(['idp', 'apply', TENANT, '--config', ok.path], withoutBilling);
    assert.equal(r.code, 0, 'billing is not applied in dev, so its secret is not needed');
    const { ACME_PORTAL_SECRET: _gone2, ...withoutPortal } = ENV;
    const missing = await runCli(['idp', 'apply', TENANT, '--config', config('env-missing-2').path], withoutPortal);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /error idp\.realm_secret_env_missing at \/clients\/0\/secret\/env: client portal: environment variable ACME_PORTAL_SECRET is not set/);
  });

  it('the deprecated realm file is still applied, with a warning', async () => {
    const cfg = config('legacy');
    const file = write('legacy-realm.yaml', REALM_YAML);
    const r = await runCli(['idp', 'apply', file, '--config', cfg.path], { ...SECRETS });
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /^warning: .*legacy-realm\.yaml is a realm file in the deprecated pre-canonical format; write the realm as a canonical identity document/);
    assert.ok(r.out.includes('+ user u-alice'), r.out);
    const users = (await tables(cfg.db, 'main')).users;
    assert.equal(users.length, 4);
    assert.deepEqual(users.map((u) => [u.username, u.givenName, u.familyName]), [['alice', 'Alice', 'Anders'], ['bob', null, null], ['carol', null, null], ['robot', null, null]]);
  });

  it('keyward identity provision --to builtin: dry run, apply, idempotent, refusals', async () => {
    const cfg = config('provision');
    const dry = await runCli(['identity', 'provision', '--to', 'builtin', TENANT, '--config', cfg.path, '--dry-run'], ENV);
    assert.equal(dry.code, 0, dry.err);
    assert.ok(dry.out.includes('+ user u-0001'), dry.out);
    assert.match(dry.out, /dry run: 22 change\(s\) would be applied to builtin$/);
    assert.deepEqual((await tables(cfg.db)).users, []);
    const first = await runCli(['identity', 'provision', '--to', 'builtin', TENANT, '--config', cfg.path, '--json'], ENV);
    assert.equal(first.code, 0, first.err);
    assert.deepEqual({ ...JSON.parse(first.out), plan: undefined }, { ok: true, dry_run: false, target: 'builtin', changed: 22, plan: undefined });
    const second = await runCli(['identity', 'provision', '--to', 'builtin', TENANT, '--config', cfg.path], ENV);
    assert.match(second.out, /0 change\(s\) applied to builtin$/);

    const bad = await runCli(['identity', 'provision', '--to', 'builtin', 'fixtures/identity/invalid/identity.membership_unknown_user.json', '--config', cfg.path], ENV);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /identity\.membership_unknown_user[\s\S]*refused: .* nothing was written to builtin/);
    const noConfig = await runCli(['identity', 'provision', '--to', 'builtin', TENANT], { ...ENV, KEYWARD_SEAL__DEV_UNSEAL_FILE: '/nonexistent/dev-unseal.json' });
    assert.equal(noConfig.code, 3);
    assert.match(noConfig.err, /no configuration: pass --config FILE or set KEYWARD_CONFIG/);
  });

  it('given and family names provisioned into the built-in directory come back out of keyward migrate export --config', async () => {
    const cfg = config('names');
    const applied = await runCli(['identity', 'provision', '--to', 'builtin', TENANT, '--config', cfg.path], ENV);
    assert.equal(applied.code, 0, applied.err);
    const names = (u: { username: string; directory?: { given_name?: string; family_name?: string } }) => [u.username, u.directory?.given_name, u.directory?.family_name];
    const expected: Array<Array<string | undefined>> = tenant().users.map(names);
    assert.ok(expected.some(([, g, f]) => g && f), 'the fixture names people');

    const ldif = join(tmp, 'names.ldif');
    const l = await runCli(['migrate', 'export', '--to', 'ldif', '--config', cfg.path, '--realm', 'acme', '--out', ldif], ENV);
    assert.equal(l.code, 0, l.err);
    const entries = readFileSync(ldif, 'utf8').split(/\n\n+/).filter((e) => /^dn: uid=/m.test(e));
    // `name:: base64` for a value that is not plain ASCII (RFC 2849).
    const attr = (entry: string, name: string) => {
      const m = entry.match(new RegExp(`^${name}(::?) (.*)$`, 'm'));
      return m ? (m[1] === '::' ? Buffer.from(m[2]!, 'base64').toString('utf8') : m[2]) : undefined;
    };
    const fromLdif = entries.map((e) => {
      const uid = attr(e, 'uid')!;
      const sn = attr(e, 'sn');
      return [uid, attr(e, 'givenName'), sn === uid ? undefined : sn];
    });
    assert.deepEqual(fromLdif.sort(), [...expected].sort());

    const kc = join(tmp, 'names-kc');
    const k = await runCli(['migrate', 'export', '--to', 'keycloak', '--config', cfg.path, '--realm', 'acme', '--out', kc], ENV);
    const users = JSON.parse(readFileSync(join(kc, 'acme-users-0.json'), 'utf8')).users as Array<{ username: string; firstName?: string; lastName?: string }>;
    const byName = new Map(users.map((u) => [u.username, [u.username, u.firstName, u.lastName]]));
    assert.deepEqual(expected.map(([username]) => byName.get(username!)), expected, k.err);
  });

  it('an LDAP-backed realm takes roles, groups and clients from the document, never its users', async () => {
    const pw = write('bind.pw', 'secret\n');
    const ldap = { type: 'ldap', url: 'ldap://127.0.0.1:1', base_dn: 'dc=example,dc=com', bind_dn: 'cn=admin,dc=example,dc=com', bind_password_file: pw, tenant: 'tenant:acme' };
    const cfg = config('ldap-realm', { directory: ldap });
    const r = await runCli(['idp', 'apply', TENANT, '--config', cfg.path], ENV);
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.includes('- users and memberships: not applied; realm acme reads them from its ldap directory'), r.out);
    assert.match(r.err, /warning idp\.realm_user_roles_ignored at \/users\/1\/roles/);
    const t = await tables(cfg.db);
    assert.deepEqual(t.users, []);
    assert.equal(t.clients.length, 3);
    assert.equal(t.groups.length, 5);

    const other = config('ldap-tenant', { directory: { ...ldap, tenant: 'tenant:other' } });
    const refused = await runCli(['idp', 'apply', TENANT, '--config', other.path], ENV);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /idp\.realm_tenant_mismatch/);
    const users = await runCli(['idp', 'users', 'list', '--realm', 'acme', '--config', cfg.path], ENV);
    assert.equal(users.code, 1);
    assert.match(users.err, /realm acme reads its users from its ldap directory/);
  });
});
