// Scenario B's stand-in for Keycloak: Keycloak cannot run on these machines, so a second Keyward is provisioned
// from the files `keyward migrate export --to keycloak` wrote, and from nothing else. This module reads them the way
// Keycloak's import does (realm, roles, groups, clients with their attributes and scopes, users with their argon2
// credentials, service-account users) and states the result as a canonical identity document plus the realm
// settings Keyward needs. Anything the export lost is lost here too, which is what the suite is meant to notice.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatArgon2Phc, type Argon2Variant } from '../../src/migrate/phc.ts';
import type { KcClient, KcCredential, KcRealm, KcUser } from '../../src/migrate/keycloak/types.ts';

const STANDARD = new Set(['openid', 'profile', 'email', 'groups', 'offline_access']);
const VARIANT: Record<string, Argon2Variant> = { id: 'argon2id', i: 'argon2i', d: 'argon2d' };

/** Keycloak's argon2 password credential as the PHC string Keyward verifies. */
function phcOf(c: KcCredential): string {
  const secret = JSON.parse(c.secretData) as { value: string; salt: string };
  const data = JSON.parse(c.credentialData) as { hashIterations: number; algorithm: string; additionalParameters: Record<string, string[]> };
  if (data.algorithm !== 'argon2') throw new Error(`credential algorithm ${data.algorithm}`);
  const p = data.additionalParameters;
  return formatArgon2Phc({
    variant: VARIANT[p['type']![0]!]!,
    version: p['version']![0] === '1.0' ? 16 : 19,
    memoryKib: Number(p['memory']![0]),
    iterations: data.hashIterations,
    parallelism: Number(p['parallelism']![0]),
    salt: Buffer.from(secret.salt, 'base64'),
    hash: Buffer.from(secret.value, 'base64'),
  });
}

/** `${NAME}`: the variable Keycloak's import substitutes. */
const placeholder = (s: string | undefined) => /^\$\{([A-Z_][A-Z0-9_]*)\}$/.exec(s ?? '')?.[1];
const attr = (u: KcUser, k: string) => u.attributes[k]?.[0];
const stripPath = (g: string) => g.replace(/^\//, '');

function client(c: KcClient, claimsScope: string, serviceAccount: KcUser | undefined) {
  const a = c.attributes;
  const grants = [
    ...(c.standardFlowEnabled ? ['authorization_code'] : []),
    ...(c.standardFlowEnabled && a['use.refresh.tokens'] === 'true' ? ['refresh_token'] : []),
    ...(c.serviceAccountsEnabled ? ['client_credentials'] : []),
  ];
  const secretEnv = placeholder(c.secret);
  const postLogout = a['post.logout.redirect.uris'];
  return {
    client_id: c.clientId,
    name: c.name,
    enabled: c.enabled,
    type: c.publicClient ? 'public' : 'confidential',
    // Keycloak's client-secret authenticator takes both forms; the profile pins one, so basic is chosen here.
    auth_method: c.publicClient ? 'none' : c.clientAuthenticatorType === 'client-jwt' ? 'private_key_jwt' : 'client_secret_basic',
    ...(secretEnv ? { secret: { env: secretEnv } } : {}),
    ...(a['jwks.string'] ? { jwks: JSON.parse(a['jwks.string']) } : {}),
    redirect_uris: c.redirectUris,
    ...(postLogout && postLogout !== '-' ? { post_logout_redirect_uris: postLogout.split('##') } : {}),
    grant_types: grants,
    ...(a['pkce.code.challenge.method'] ? { pkce_method: a['pkce.code.challenge.method'] } : {}),
    token_profile: { claims: claimsScope, signing_alg: a['id.token.signed.response.alg'] ?? 'RS256' },
    environments: (a['keyward.environments'] ?? 'dev').split(','),
    ...(a['keyward.mfa'] ? { mfa: a['keyward.mfa'] } : {}),
    ...(serviceAccount
      ? {
          principal: {
            principal_type: attr(serviceAccount, 'principal_type'),
            roles: serviceAccount.realmRoles,
            ...(serviceAccount.groups.length ? { groups: serviceAccount.groups.map(stripPath) } : {}),
          },
        }
      : {}),
  };
}

export interface ImportedRealm {
  document: Record<string, unknown>;
  /** Keyward realm settings the export carries (name, display name, audience, custom scopes, public clients). */
  realm: Record<string, unknown>;
}

export function importKeycloakExport(dir: string, realmName: string): ImportedRealm {
  const realm = JSON.parse(readFileSync(join(dir, `${realmName}-realm.json`), 'utf8')) as KcRealm;
  const users = readdirSync(dir)
    .filter((f) => new RegExp(`^${realmName}-users-\\d+\\.json$`).test(f))
    .flatMap((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { users: KcUser[] }).users);
  const claimsScope = realm.defaultDefaultClientScopes[0]!;
  const people = users.filter((u) => !u.serviceAccountClientId);
  const tenant = realm.attributes['keyward.tenant']!;
  const [profile, version] = (realm.attributes['keyward.profile'] ?? 'netkingdom-iam 0.2').split(' ');
  const custom = realm.clientScopes.filter((s) => s.name !== claimsScope && !STANDARD.has(s.name));
  const audience = realm.clientScopes
    .find((s) => s.name === claimsScope)
    ?.protocolMappers?.find((m) => m.protocolMapper === 'oidc-audience-mapper')?.config['included.custom.audience'];
  const codeClients = realm.clients.filter((c) => c.standardFlowEnabled);
  const document = {
    schema_version: '0.1',
    realm: realm.realm,
    tenant,
    environments: [...new Set(realm.clients.flatMap((c) => (c.attributes['keyward.environments'] ?? 'dev').split(',')))],
    profile_versions: [
      {
        profile,
        version,
        ldap_schema: '0.1',
        custom_scopes: custom.map((s) => ({ name: s.name, ...(s.description ? { description: s.description } : {}) })),
        public_clients_allowed: realm.clients.some((c) => c.publicClient),
      },
    ],
    roles: realm.roles.realm.filter((r) => r.name !== realm.defaultRole?.name).map((r) => ({ name: r.name, ...(r.description ? { description: r.description } : {}) })),
    groups: realm.groups.map((g) => ({ name: g.name, ...(g.description ? { description: g.description } : {}), roles: g.realmRoles })),
    users: people.map((u) => {
      const pw = u.credentials.find((c) => c.type === 'password');
      return {
        id: u.id,
        username: u.username,
        ...(attr(u, 'display_name') ? { display_name: attr(u, 'display_name') } : {}),
        ...(u.email ? { email: u.email } : {}),
        email_verified: u.emailVerified,
        enabled: u.enabled,
        principal_type: attr(u, 'principal_type') ?? 'human',
        ...(u.realmRoles.length ? { roles: u.realmRoles } : {}),
        ...(pw ? { password: { argon2id_hash: phcOf(pw) } } : {}),
        ...(u.firstName || u.lastName ? { directory: { ...(u.firstName ? { given_name: u.firstName } : {}), ...(u.lastName ? { family_name: u.lastName } : {}) } } : {}),
      };
    }),
    memberships: people.flatMap((u) => u.groups.map((g) => ({ user_id: u.id, group: stripPath(g) }))),
    clients: realm.clients.map((c) => client(c, claimsScope, users.find((u) => u.serviceAccountClientId === c.clientId))),
    client_scope_assignments: realm.clients.flatMap((c) => [
      ...(codeClients.includes(c) ? [{ client_id: c.clientId, scope: 'openid' }] : []),
      ...[...c.defaultClientScopes, ...c.optionalClientScopes].filter((s) => s !== claimsScope).map((scope) => ({ client_id: c.clientId, scope })),
    ]),
    mfa_enrollments: [],
  };
  return {
    document,
    realm: {
      name: realm.realm,
      ...(realm.displayName ? { display_name: realm.displayName } : {}),
      ...(audience ? { access_token_resource: audience } : {}),
      public_clients_allowed: realm.clients.some((c) => c.publicClient),
      custom_scopes: custom.map((s) => ({ name: s.name, description: s.description ?? '' })),
    },
  };
}
