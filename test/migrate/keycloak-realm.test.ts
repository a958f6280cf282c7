// The realm the exporter builds from the canonical fixture tenant: roles, groups, users, clients, service accounts,
// client scopes and mappers, Path 2's federation component, the profile conformance checks, the incompatibilities,
// and the directory-export file layout.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { IdentityDocument } from '../../src/identity/model.ts';
import { documentCredentialSource, NO_CREDENTIALS } from '../../src/migrate/credentials.ts';
import { keycloakConformance } from '../../src/migrate/keycloak/conformance.ts';
import { LDAP_MAPPER, USER_STORAGE_PROVIDER } from '../../src/migrate/keycloak/federation.ts';
import { keycloakExportFiles, writeExportFiles } from '../../src/migrate/keycloak/files.ts';
import { buildKeycloakRealm, USER_PROFILE_PROVIDER, type KeycloakExportOptions } from '../../src/migrate/keycloak/realm.ts';
import { isProblem } from '../../src/core/problem.ts';

const tenant = () => JSON.parse(readFileSync('fixtures/identity/tenant.json', 'utf8')) as IdentityDocument;
const FAST = { memoryKib: 8192, iterations: 1, parallelism: 1 };
const tmp = mkdtempSync(join(tmpdir(), 'kw-migrate-realm-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function build(doc = tenant(), extra: Partial<KeycloakExportOptions> = {}) {
  return buildKeycloakRealm(doc, {
    realmName: 'acme',
    credentials: documentCredentialSource(doc, { ACME_ALICE_PASSWORD: 'a', ACME_BOB_PASSWORD: 'b', ACME_DAVE_PASSWORD: 'd', ACME_BACKUP_SVC_PASSWORD: 's' }, FAST),
    audience: 'urn:keyward:key-api',
    now: 1_700_000_000_000,
    ...extra,
  });
}

const codes = (r: Awaited<ReturnType<typeof build>>) => new Set(r.incompatibilities.map((i) => i.code));

describe('Keycloak realm from the canonical tenant (Path 1)', () => {
  it('roles, the empty default role, groups with their realm roles', async () => {
    const { realm } = await build();
    assert.deepEqual(realm.roles.realm.map((r) => r.name), ['admin', 'signer', 'reader', 'auditor', 'deployer', 'default-roles-acme']);
    assert.ok(realm.roles.realm.every((r) => !r.composite && !r.clientRole));
    assert.deepEqual(realm.defaultRole, { name: 'default-roles-acme', description: realm.defaultRole.description, composite: false, clientRole: false });
    assert.deepEqual(
      realm.groups.map((g) => [g.path, g.realmRoles]),
      [
        ['/admins', ['admin', 'signer']],
        ['/ops', ['reader']],
        ['/developers', ['reader']],
        ['/auditors', ['auditor']],
        ['/release-bots', ['deployer']],
      ],
    );
  });

  it('users keep their ids (sub), state, names, groups, direct roles and profile attributes, and never the default role', async () => {
    const { users, summary } = await build();
    const by = new Map(users.map((u) => [u.username, u]));
    assert.equal(summary.users, 6);
    assert.equal(summary.serviceAccounts, 2);
    const alice = by.get('alice')!;
    assert.equal(alice.id, 'u-0001');
    assert.deepEqual([alice.email, alice.emailVerified, alice.firstName, alice.lastName], ['alice@acme.example', true, 'Alice', 'Liddell']);
    assert.deepEqual(alice.attributes, { tenant: ['tenant:acme'], principal_type: ['human'], keyward_id: ['u-0001'], display_name: ['Alice Liddell'] });
    assert.deepEqual(alice.groups, ['/admins', '/ops']);
    assert.deepEqual(by.get('bob')!.realmRoles, ['signer']);
    assert.equal(by.get('carol')!.enabled, false);
    assert.equal(by.get('carol')!.lastName, 'Núñez');
    assert.equal(by.get('release-agent')!.attributes.principal_type![0], 'agent');
    assert.equal(by.get('backup-svc')!.firstName, undefined);
    for (const u of users) assert.ok(!u.realmRoles.includes('default-roles-acme'), u.username);
  });

  it('passwords as argon2 credentials for users with a password source, none for the others', async () => {
    const { users, summary } = await build();
    const creds = Object.fromEntries(users.map((u) => [u.username, u.credentials.map((c) => c.type)]));
    assert.deepEqual(creds.alice, ['password']);
    assert.deepEqual(creds.carol, []);
    assert.deepEqual(creds['release-agent'], []);
    assert.equal(summary.passwords, 4);
    assert.equal(JSON.parse(users[0]!.credentials[0]!.credentialData).algorithm, 'argon2');
  });

  it('service accounts for client_credentials clients: client id as user id, roles, groups, tenant and principal type', async () => {
    const { users, realm } = await build();
    const sa = users.filter((u) => u.serviceAccountClientId);
    assert.deepEqual(
      sa.map((u) => [u.id, u.username, u.realmRoles, u.groups, u.attributes.principal_type]),
      [
        ['billing', 'service-account-billing', ['signer'], [], ['service']],
        ['release-agent', 'service-account-release-agent', ['deployer'], ['/release-bots'], ['agent']],
      ],
    );
    assert.deepEqual(
      realm.clients.filter((c) => c.serviceAccountsEnabled).map((c) => c.clientId),
      ['billing', 'release-agent'],
    );
  });

  it('clients: exact redirect URIs, PKCE S256, confidential/public, authenticators, secrets as placeholders, allowed scopes, lifetimes', async () => {
    const { realm } = await build(undefined, { lifetimes: { accessToken: 600, idToken: 600, authorizationCode: 30, refreshToken: 7200, session: 3600 } });
    const c = new Map(realm.clients.map((x) => [x.clientId, x]));
    const portal = c.get('portal')!;
    assert.deepEqual(portal.redirectUris, ['https://portal.acme.example/oidc/callback', 'http://127.0.0.1:8400/oidc/callback']);
    assert.equal(portal.attributes['pkce.code.challenge.method'], 'S256');
    assert.equal(portal.attributes['post.logout.redirect.uris'], 'https://portal.acme.example/');
    assert.equal(portal.attributes['access.token.lifespan'], '600');
    assert.equal(portal.attributes['use.refresh.tokens'], 'true');
    assert.deepEqual([portal.publicClient, portal.clientAuthenticatorType, portal.secret], [false, 'client-secret', '${ACME_PORTAL_SECRET}']);
    assert.deepEqual([portal.standardFlowEnabled, portal.implicitFlowEnabled, portal.directAccessGrantsEnabled, portal.serviceAccountsEnabled], [true, false, false, false]);
    assert.deepEqual(portal.webOrigins, ['+']);
    assert.deepEqual(portal.defaultClientScopes, ['netkingdom-iam-0.2']);
    assert.deepEqual(portal.optionalClientScopes, ['profile', 'email', 'groups', 'offline_access']);
    const cli = c.get('acme-cli')!;
    assert.deepEqual([cli.publicClient, cli.clientAuthenticatorType, cli.secret], [true, undefined, undefined]);
    assert.deepEqual(cli.optionalClientScopes, ['profile', 'keys.sign']);
    assert.equal(cli.attributes['post.logout.redirect.uris'], '-');
    const billing = c.get('billing')!;
    assert.deepEqual([billing.standardFlowEnabled, billing.redirectUris, billing.webOrigins, billing.attributes['pkce.code.challenge.method']], [false, [], [], undefined]);
    assert.equal(billing.attributes['id.token.signed.response.alg'], 'RS256');
    const agent = c.get('release-agent')!;
    assert.equal(agent.clientAuthenticatorType, 'client-jwt');
    assert.equal(agent.attributes['use.jwks.string'], 'true');
    assert.equal(JSON.parse(agent.attributes['jwks.string']!).keys[0].kid, 'release-agent-1');
    assert.equal(agent.attributes['token.endpoint.auth.signing.alg'], 'ES256');
    assert.equal(agent.secret, undefined);
    assert.deepEqual([realm.accessTokenLifespan, realm.accessCodeLifespan, realm.ssoSessionMaxLifespan, realm.offlineSessionMaxLifespan], [600, 30, 3600, 7200]);
  });

  it('a secret known only as a hash becomes a placeholder to fill (blocking), never the hash', async () => {
    const doc = tenant();
    doc.clients[0]!.secret = { argon2id_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g' };
    const r = await build(doc);
    assert.equal(r.realm.clients[0]!.secret, '${KEYCLOAK_CLIENT_SECRET_PORTAL}');
    assert.ok(!JSON.stringify(r.realm).includes('$argon2id$'));
    const i = r.incompatibilities.find((x) => x.code === 'keycloak.client.secret_hash_only')!;
    assert.equal(i.severity, 'blocking');
    assert.match(i.action, /KEYCLOAK_CLIENT_SECRET_PORTAL/);
  });

  it('client scopes and mappers reproduce the profile claims; Keycloak-only features are off', async () => {
    const { realm } = await build();
    const scopes = new Map(realm.clientScopes.map((s) => [s.name, s]));
    assert.deepEqual([...scopes.keys()], ['netkingdom-iam-0.2', 'profile', 'email', 'groups', 'offline_access', 'keys.sign']);
    const claims = scopes.get('netkingdom-iam-0.2')!;
    assert.equal(claims.attributes['include.in.token.scope'], 'false');
    const m = new Map(claims.protocolMappers.map((x) => [x.name, x]));
    assert.deepEqual([...m.keys()], ['sub', 'auth_time', 'preferred_username', 'tenant', 'principal_type', 'groups', 'roles', 'acr', 'audience']);
    assert.deepEqual(m.get('tenant')!.config, {
      'user.attribute': 'tenant',
      'claim.name': 'tenant',
      'jsonType.label': 'String',
      'id.token.claim': 'true',
      'access.token.claim': 'true',
      'userinfo.token.claim': 'true',
      'introspection.token.claim': 'true',
    });
    assert.equal(m.get('groups')!.protocolMapper, 'oidc-group-membership-mapper');
    assert.equal(m.get('groups')!.config['full.path'], 'false');
    assert.equal(m.get('roles')!.protocolMapper, 'oidc-usermodel-realm-role-mapper');
    assert.equal(m.get('roles')!.config.multivalued, 'true');
    assert.equal(m.get('audience')!.config['included.custom.audience'], 'urn:keyward:key-api');
    assert.equal(m.get('acr')!.protocolMapper, 'oidc-acr-mapper');
    assert.equal(realm.attributes['acr.loa.map'], '{"aal1":1,"aal2":2}');
    assert.deepEqual(realm.defaultDefaultClientScopes, ['netkingdom-iam-0.2']);
    assert.equal(scopes.get('keys.sign')!.attributes['include.in.token.scope'], 'true');
    assert.deepEqual(scopes.get('profile')!.protocolMappers.map((x) => [x.config['claim.name'], x.config['user.attribute']]), [['name', 'display_name'], ['given_name', 'firstName'], ['family_name', 'lastName']]);
    for (const c of realm.clients) {
      assert.equal(c.attributes['oauth2.device.authorization.grant.enabled'], 'false');
      assert.equal(c.attributes['oidc.ciba.grant.enabled'], 'false');
    }
    assert.deepEqual([realm.registrationAllowed, realm.resetPasswordAllowed, realm.revokeRefreshToken, realm.refreshTokenMaxReuse], [false, false, true, 0]);
    // Keycloak 24+ keeps only declared user attributes: the ones the mappers read are declared.
    const up = JSON.parse(realm.components[USER_PROFILE_PROVIDER]![0]!.config['kc.user.profile.config']![0]!);
    for (const a of ['tenant', 'principal_type', 'keyward_id', 'display_name']) assert.ok(up.attributes.some((x: { name: string }) => x.name === a), a);
    assert.ok(!JSON.stringify(realm).includes('${username}'), 'no message keys that the import would take for placeholders');
  });

  it('profile conformance: every checkable requirement passes, assurance is not expressible', async () => {
    const doc = tenant();
    const r = await build(doc);
    const checks = keycloakConformance(doc, r.realm, r.users);
    assert.deepEqual(
      checks.filter((c) => c.status !== 'pass').map((c) => [c.id, c.status]),
      [['assurance_claim', 'not_expressible']],
    );
  });

  it('profile conformance fails when the export is broken (the checks can fail)', async () => {
    const doc = tenant();
    const r = await build(doc);
    r.realm.clients[0]!.attributes['pkce.code.challenge.method'] = 'plain';
    r.realm.clients[1]!.redirectUris.push('https://evil.example/*');
    r.realm.clients[2]!.directAccessGrantsEnabled = true;
    r.realm.clients[3]!.defaultClientScopes = [];
    r.realm.clientScopes[0]!.protocolMappers = r.realm.clientScopes[0]!.protocolMappers.filter((m) => m.name !== 'tenant');
    r.users.find((u) => u.username === 'bob')!.attributes = {};
    r.realm.clients[0]!.secret = 'plain-secret';
    const failed = keycloakConformance(doc, r.realm, r.users).filter((c) => c.status === 'fail').map((c) => c.id);
    assert.deepEqual(failed, ['pkce_s256', 'redirect_uris_exact', 'code_flow_only', 'no_secrets_written', 'claims_scope_default', 'required_claims', 'user_claim_attributes']);
  });

  it('incompatibilities name what Keycloak cannot express, what behaves differently, and what the profile forbids', async () => {
    const r = await build();
    const c = codes(r);
    for (const code of [
      'keycloak.claim.assurance',
      'keycloak.claim.acr_step_up',
      'keycloak.claim.amr',
      'keycloak.claim.permissions',
      'keycloak.claim.scp',
      'keycloak.mfa.privacyidea',
      'keycloak.mfa.required_clients',
      'keycloak.otp.seed_unavailable',
      'keycloak.scope.offline_access',
      'keycloak.keys.ecdsa_provider',
      'keycloak.client.secret_from_environment',
      'keycloak.profile_forbids.implicit_grant',
      'keycloak.profile_forbids.dynamic_client_registration',
      'keycloak.profile_forbids.token_exchange',
    ])
      assert.ok(c.has(code), code);
    assert.ok(!c.has('keycloak.password.unavailable'), 'every password source was set');
    const assurance = r.incompatibilities.find((i) => i.code === 'keycloak.claim.assurance')!;
    assert.deepEqual([assurance.direction, assurance.severity], ['source_not_expressible', 'blocking']);
    assert.ok(r.incompatibilities.every((i) => i.message && i.subject && i.code.startsWith('keycloak.')));
    assert.ok(r.incompatibilities.filter((i) => i.direction === 'target_forbidden_by_profile').length >= 10);
  });

  it('identity that cannot be kept is reported: long ids, a renamed realm, reserved role names, missing passwords', async () => {
    const doc = tenant();
    doc.users[0]!.id = 'u-'.padEnd(40, '0');
    doc.memberships = doc.memberships.map((m) => (m.user_id === 'u-0001' ? { ...m, user_id: doc.users[0]!.id } : m));
    doc.mfa_enrollments = doc.mfa_enrollments.filter((e) => e.user_id !== 'u-0001');
    doc.roles.push({ name: 'offline_access' });
    const r = await buildKeycloakRealm(doc, { realmName: 'acme2', credentials: NO_CREDENTIALS });
    const c = codes(r);
    for (const code of ['keycloak.user.sub_changes', 'keycloak.realm.renamed', 'keycloak.role.reserved_name', 'keycloak.password.unavailable', 'keycloak.token.audience_unset']) assert.ok(c.has(code), code);
    assert.equal(r.users.find((u) => u.username === 'alice')!.id, undefined);
    assert.equal(r.users.find((u) => u.username === 'alice')!.attributes.keyward_id![0], doc.users[0]!.id);
  });
});

describe('Keycloak realm with LDAP federation (Path 2)', () => {
  const directory = { url: 'ldaps://ldap.acme.example:636', baseDn: 'dc=acme,dc=example', bindDn: 'cn=keycloak,dc=acme,dc=example', bindPasswordEnv: 'ACME_LDAP_BIND', startTls: false };

  it('writes the federation component with its mappers instead of directory users; service accounts stay', async () => {
    const r = await build(undefined, { directory });
    assert.equal(r.summary.path, 2);
    assert.deepEqual(r.users.map((u) => u.username), ['service-account-billing', 'service-account-release-agent']);
    const [ldap] = r.realm.components[USER_STORAGE_PROVIDER]!;
    assert.equal(ldap!.providerId, 'ldap');
    const cfg = ldap!.config;
    assert.deepEqual(cfg.connectionUrl, ['ldaps://ldap.acme.example:636']);
    assert.deepEqual(cfg.usersDn, ['ou=people,dc=acme,dc=example']);
    assert.deepEqual(cfg.bindDn, ['cn=keycloak,dc=acme,dc=example']);
    assert.deepEqual(cfg.bindCredential, ['${ACME_LDAP_BIND}']);
    assert.deepEqual([cfg.usernameLDAPAttribute, cfg.rdnLDAPAttribute, cfg.uuidLDAPAttribute, cfg.editMode], [['uid'], ['uid'], ['entryUUID'], ['READ_ONLY']]);
    assert.deepEqual(cfg.customUserSearchFilter, ['(!(memberOf=cn=keyward-disabled,ou=groups,dc=acme,dc=example))']);
    for (const [k, v] of Object.entries(cfg)) assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), k);
    const mappers = new Map(ldap!.subComponents[LDAP_MAPPER]!.map((m) => [m.name, m]));
    assert.deepEqual([...mappers.keys()], ['username', 'first name', 'last name', 'email', 'display name', 'keyward id', 'principal type', 'tenant', 'groups']);
    assert.deepEqual(mappers.get('email')!.config['ldap.attribute'], ['mail']);
    assert.deepEqual(mappers.get('keyward id')!.config['ldap.attribute'], ['employeeNumber']);
    assert.deepEqual(mappers.get('tenant')!.config['attribute.value'], ['tenant:acme']);
    const g = mappers.get('groups')!.config;
    assert.deepEqual(
      [g['groups.dn'], g['group.object.classes'], g['membership.ldap.attribute'], g['membership.attribute.type'], g.mode, g['groups.ldap.filter']],
      [['ou=groups,dc=acme,dc=example'], ['groupOfUniqueNames'], ['uniqueMember'], ['DN'], ['READ_ONLY'], ['(!(cn=keyward-disabled))']],
    );
    // The realm still defines the groups with their roles; the group mapper links the LDAP groups to them.
    assert.equal(r.realm.groups.length, 5);
    assert.ok(!JSON.stringify(r).includes('$argon2'), 'no password hashes with federation');
  });

  it('without a bind DN the component binds anonymously and names no credential', async () => {
    const r = await build(undefined, { directory: { url: 'ldap://127.0.0.1:389', baseDn: 'dc=example,dc=com', startTls: true } });
    const cfg = r.realm.components[USER_STORAGE_PROVIDER]![0]!.config;
    assert.deepEqual([cfg.authType, cfg.bindDn, cfg.bindCredential, cfg.startTls], [['none'], undefined, undefined, ['true']]);
  });

  it('reports what federation changes: sub, disabled accounts through memberOf, direct roles, TOTP re-enrolment', async () => {
    const c = codes(await build(undefined, { directory }));
    for (const code of ['keycloak.ldap.sub_changes', 'keycloak.ldap.disabled_needs_memberof', 'keycloak.ldap.direct_roles', 'keycloak.ldap.email_verified', 'keycloak.mfa.federated_user_otp', 'keycloak.ldap.bind_password_placeholder'])
      assert.ok(c.has(code), code);
  });
});

describe("Keycloak's directory export layout", () => {
  it('<realm>-realm.json without users, <realm>-users-N.json with at most N users each', async () => {
    const r = await build();
    const files = keycloakExportFiles(r.realm, r.users, 3);
    assert.deepEqual(files.map((f) => f.name), ['acme-realm.json', 'acme-users-0.json', 'acme-users-1.json', 'acme-users-2.json']);
    const parsed = files.slice(1).map((f) => JSON.parse(f.text));
    assert.deepEqual(parsed.map((p) => [p.realm, p.users.length]), [['acme', 3], ['acme', 3], ['acme', 2]]);
    assert.equal(JSON.parse(files[0]!.text).users, undefined);
    assert.deepEqual(keycloakExportFiles(r.realm, r.users).map((f) => f.name), ['acme-realm.json', 'acme-users-0.json']);
    assert.throws(() => keycloakExportFiles(r.realm, r.users, 0), RangeError);
  });

  it('writes owner-only, refuses to mix with an earlier export, and with --overwrite removes its stale user files', async () => {
    const r = await build();
    const dir = join(tmp, 'out');
    await writeExportFiles(dir, 'acme', keycloakExportFiles(r.realm, r.users, 2), { overwrite: false });
    assert.deepEqual(readdirSync(dir).sort(), ['acme-realm.json', 'acme-users-0.json', 'acme-users-1.json', 'acme-users-2.json', 'acme-users-3.json']);
    assert.equal(statSync(join(dir, 'acme-users-0.json')).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    writeFileSync(join(dir, 'other-realm.json'), '{}');
    await assert.rejects(
      writeExportFiles(dir, 'acme', keycloakExportFiles(r.realm, r.users), { overwrite: false }),
      (e) => isProblem(e) && e.code === 'migrate.output_exists',
    );
    await writeExportFiles(dir, 'acme', keycloakExportFiles(r.realm, r.users), { overwrite: true });
    assert.deepEqual(readdirSync(dir).sort(), ['acme-realm.json', 'acme-users-0.json', 'other-realm.json']);
    assert.equal(JSON.parse(readFileSync(join(dir, 'acme-users-0.json'), 'utf8')).users.length, 8);
  });
});
