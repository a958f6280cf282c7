// The Keycloak export checked against Keycloak's own representation types (@keycloak/keycloak-admin-client):
//  - at compile time (tsc runs in `npm test`): every interface of src/migrate/keycloak/types.ts is assignable to the
//    matching representation AND names no field the representation lacks, so a misspelt field fails compilation;
//  - at run time: every key of the written JSON, at every level, is a member of the representation interface as
//    declared in the package's .d.ts files (read with the TypeScript parser), so nothing the types do not declare
//    slips in through a spread or a cast.
// Keycloak's Java representations differ from the TypeScript ones in one place the import depends on: components
// (a list per provider type, config values as lists: MultivaluedHashMap). Those are checked against
// ComponentRepresentation, whose config allows string lists, and for their shape at run time.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import type ClientRepresentation from '@keycloak/keycloak-admin-client/lib/defs/clientRepresentation.js';
import type ClientScopeRepresentation from '@keycloak/keycloak-admin-client/lib/defs/clientScopeRepresentation.js';
import type ComponentExportRepresentation from '@keycloak/keycloak-admin-client/lib/defs/componentExportRepresentation.js';
import type ComponentRepresentation from '@keycloak/keycloak-admin-client/lib/defs/componentRepresentation.js';
import type CredentialRepresentation from '@keycloak/keycloak-admin-client/lib/defs/credentialRepresentation.js';
import type GroupRepresentation from '@keycloak/keycloak-admin-client/lib/defs/groupRepresentation.js';
import type ProtocolMapperRepresentation from '@keycloak/keycloak-admin-client/lib/defs/protocolMapperRepresentation.js';
import type RealmRepresentation from '@keycloak/keycloak-admin-client/lib/defs/realmRepresentation.js';
import type RoleRepresentation from '@keycloak/keycloak-admin-client/lib/defs/roleRepresentation.js';
import type RolesRepresentation from '@keycloak/keycloak-admin-client/lib/defs/rolesRepresentation.js';
import type UserRepresentation from '@keycloak/keycloak-admin-client/lib/defs/userRepresentation.js';
import type { IdentityDocument } from '../../src/identity/model.ts';
import { documentCredentialSource } from '../../src/migrate/credentials.ts';
import { keycloakExportFiles } from '../../src/migrate/keycloak/files.ts';
import { buildKeycloakRealm } from '../../src/migrate/keycloak/realm.ts';
import type {
  KcClient,
  KcClientScope,
  KcComponent,
  KcCredential,
  KcGroup,
  KcProtocolMapper,
  KcRealm,
  KcRole,
  KcUser,
  KcUsersFile,
} from '../../src/migrate/keycloak/types.ts';

// ---- compile time -------------------------------------------------------------------------------------------------

/** `true` when T names only fields of S; otherwise a type naming the unknown fields (and `= true` fails). */
type OnlyKnownFields<T, S> = [Exclude<keyof T, keyof S>] extends [never] ? true : { unknown_fields: Exclude<keyof T, keyof S> };

const fields = {
  realm: true as OnlyKnownFields<Omit<KcRealm, 'components'>, RealmRepresentation>,
  roles: true as OnlyKnownFields<KcRealm['roles'], RolesRepresentation>,
  role: true as OnlyKnownFields<KcRole, RoleRepresentation>,
  group: true as OnlyKnownFields<KcGroup, GroupRepresentation>,
  client: true as OnlyKnownFields<KcClient, ClientRepresentation>,
  clientScope: true as OnlyKnownFields<KcClientScope, ClientScopeRepresentation>,
  protocolMapper: true as OnlyKnownFields<KcProtocolMapper, ProtocolMapperRepresentation>,
  user: true as OnlyKnownFields<KcUser, UserRepresentation>,
  credential: true as OnlyKnownFields<KcCredential, CredentialRepresentation>,
  component: true as OnlyKnownFields<Omit<KcComponent, 'subComponents'>, ComponentRepresentation>,
  componentExport: true as OnlyKnownFields<Omit<KcComponent, 'config' | 'subComponents'>, ComponentExportRepresentation>,
  usersFile: true as OnlyKnownFields<KcUsersFile, RealmRepresentation>,
} satisfies Record<string, true>;

// The check can fail: a field Keycloak does not know is a compile error (ts-expect-error fails if it is not).
// @ts-expect-error redirectUri (singular) is not a ClientRepresentation field
const misspelt: OnlyKnownFields<{ redirectUri: string[] }, ClientRepresentation> = true;
void misspelt;

// Field types: each of ours is assignable to Keycloak's.
function assignable(r: KcRealm, u: KcUsersFile, c: KcComponent) {
  const { components: _components, ...rest } = r;
  const realm: RealmRepresentation = rest satisfies Omit<KcRealm, 'components'>;
  const users: RealmRepresentation = u;
  const scopes: ClientScopeRepresentation[] = r.clientScopes;
  const mappers: ProtocolMapperRepresentation[] = r.clientScopes.flatMap((s) => s.protocolMappers);
  const component: ComponentRepresentation = { id: c.id, name: c.name, providerId: c.providerId, subType: c.subType, config: c.config };
  const credentials: CredentialRepresentation[] = u.users.flatMap((x) => x.credentials);
  return [realm, users, scopes, mappers, component, credentials];
}
void assignable;

// ---- run time ------------------------------------------------------------------------------------------------------

const require = createRequire(import.meta.url);
const defs = join(dirname(require.resolve('@keycloak/keycloak-admin-client')), 'defs');

/** Member names of the default-exported interface of one of the package's .d.ts files. */
function members(file: string): Set<string> {
  const path = join(defs, file);
  const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, false);
  for (const st of sf.statements)
    if (ts.isInterfaceDeclaration(st) && st.modifiers?.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword))
      return new Set(st.members.map((m) => (m.name && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name)) ? m.name.text : '')).filter(Boolean));
  throw new Error(`no default interface in ${file}`);
}

const REP = {
  realm: members('realmRepresentation.d.ts'),
  roles: members('rolesRepresentation.d.ts'),
  role: members('roleRepresentation.d.ts'),
  group: members('groupRepresentation.d.ts'),
  client: members('clientRepresentation.d.ts'),
  scope: members('clientScopeRepresentation.d.ts'),
  mapper: members('protocolMapperRepresentation.d.ts'),
  user: members('userRepresentation.d.ts'),
  credential: members('credentialRepresentation.d.ts'),
  component: new Set([...members('componentRepresentation.d.ts'), ...members('componentExportRepresentation.d.ts')]),
};

function unknownKeys(obj: object, known: Set<string>, where: string): string[] {
  return Object.keys(obj)
    .filter((k) => !known.has(k))
    .map((k) => `${where}.${k}`);
}

function checkComponent(c: Record<string, unknown>, where: string, out: string[]): void {
  out.push(...unknownKeys(c, REP.component, where));
  for (const [k, v] of Object.entries(c.config as Record<string, unknown>))
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) out.push(`${where}.config.${k} is not a list of strings`);
  for (const [type, list] of Object.entries(c.subComponents as Record<string, unknown>)) {
    if (!Array.isArray(list)) out.push(`${where}.subComponents.${type} is not a list`);
    else list.forEach((s, i) => checkComponent(s, `${where}.subComponents.${type}[${i}]`, out));
  }
}

function checkGroup(g: Record<string, unknown>, where: string, out: string[]): void {
  out.push(...unknownKeys(g, REP.group, where));
  (g.subGroups as Record<string, unknown>[]).forEach((s, i) => checkGroup(s, `${where}.subGroups[${i}]`, out));
}

/** Every key of a realm file and its users files, at every level, against the representation members. */
function unknownInExport(files: Array<{ name: string; text: string }>): string[] {
  const out: string[] = [];
  for (const f of files) {
    const j = JSON.parse(f.text);
    out.push(...unknownKeys(j, REP.realm, f.name));
    if (f.name.endsWith('-realm.json')) {
      out.push(...unknownKeys(j.roles, REP.roles, `${f.name}.roles`));
      j.roles.realm.forEach((r: object, i: number) => out.push(...unknownKeys(r, REP.role, `${f.name}.roles.realm[${i}]`)));
      out.push(...unknownKeys(j.defaultRole, REP.role, `${f.name}.defaultRole`));
      j.groups.forEach((g: Record<string, unknown>, i: number) => checkGroup(g, `${f.name}.groups[${i}]`, out));
      j.clients.forEach((c: object, i: number) => out.push(...unknownKeys(c, REP.client, `${f.name}.clients[${i}]`)));
      j.clientScopes.forEach((s: { protocolMappers: object[] }, i: number) => {
        out.push(...unknownKeys(s, REP.scope, `${f.name}.clientScopes[${i}]`));
        s.protocolMappers.forEach((m, k) => out.push(...unknownKeys(m, REP.mapper, `${f.name}.clientScopes[${i}].protocolMappers[${k}]`)));
      });
      for (const [type, list] of Object.entries(j.components as Record<string, unknown>)) {
        if (!Array.isArray(list)) out.push(`${f.name}.components.${type} is not a list`);
        else list.forEach((c, i) => checkComponent(c, `${f.name}.components.${type}[${i}]`, out));
      }
    } else {
      j.users.forEach((u: { credentials: Array<Record<string, unknown>> }, i: number) => {
        out.push(...unknownKeys(u, REP.user, `${f.name}.users[${i}]`));
        u.credentials.forEach((c, k) => {
          out.push(...unknownKeys(c, REP.credential, `${f.name}.users[${i}].credentials[${k}]`));
          for (const d of ['secretData', 'credentialData']) if (typeof c[d] !== 'string' || typeof JSON.parse(c[d] as string) !== 'object') out.push(`${f.name}.users[${i}].credentials[${k}].${d} is not a JSON string`);
        });
      });
    }
  }
  return out;
}

const tenant = () => JSON.parse(readFileSync('fixtures/identity/tenant.json', 'utf8')) as IdentityDocument;
const ENV = { ACME_ALICE_PASSWORD: 'alice-pw', ACME_BOB_PASSWORD: 'bob-pw' };

describe('Keycloak export against @keycloak/keycloak-admin-client representation types', () => {
  it('compiles against the representation types (see the type assertions above)', () => {
    assert.ok(Object.values(fields).every((v) => v === true));
  });

  it('the representation members are read from the package (the runtime check has something to check against)', () => {
    for (const [name, set] of Object.entries(REP)) assert.ok(set.size >= 3, `${name}: ${[...set].join(',')}`);
    assert.ok(REP.client.has('redirectUris') && REP.user.has('credentials') && REP.realm.has('clientScopes'));
  });

  for (const path of [1, 2] as const)
    it(`Path ${path}: every key written, at every level, is a field of Keycloak's representations`, async () => {
      const doc = tenant();
      const r = await buildKeycloakRealm(doc, {
        realmName: 'acme',
        credentials: documentCredentialSource(doc, ENV, { memoryKib: 8192, iterations: 1, parallelism: 1 }),
        audience: 'urn:keyward:key-api',
        ...(path === 2 ? { directory: { url: 'ldap://ldap.acme.example:389', baseDn: 'dc=acme,dc=example', bindDn: 'cn=keycloak,dc=acme,dc=example', bindPasswordEnv: 'LDAP_BIND', startTls: true } } : {}),
      });
      const files = keycloakExportFiles(r.realm, r.users, 3);
      assert.deepEqual(unknownInExport(files), []);
      if (path === 1) assert.ok(files.some((f) => f.text.includes('"credentials": [\n        {')), 'credentials were checked');
    });

  it('the runtime check fails on a field Keycloak does not know, at any level', async () => {
    const doc = tenant();
    const r = await buildKeycloakRealm(doc, { realmName: 'acme', credentials: documentCredentialSource(doc, {}) });
    (r.realm.clients[0] as unknown as Record<string, unknown>).redirectUri = ['x'];
    (r.realm.clientScopes[0]!.protocolMappers[0] as unknown as Record<string, unknown>).claim = 'x';
    (r.users[0] as unknown as Record<string, unknown>).password = 'x';
    r.realm.components['org.keycloak.userprofile.UserProfileProvider']![0]!.config.x = 'not-a-list' as unknown as string[];
    assert.deepEqual(unknownInExport(keycloakExportFiles(r.realm, r.users)).sort(), [
      'acme-realm.json.clientScopes[0].protocolMappers[0].claim',
      'acme-realm.json.clients[0].redirectUri',
      'acme-realm.json.components.org.keycloak.userprofile.UserProfileProvider[0].config.x is not a list of strings',
      'acme-users-0.json.users[0].password',
    ]);
  });
});
