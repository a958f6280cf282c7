// The profile conformance report of a Keycloak export (KeyCape specification §14.4, §20.2): the NetKingdom profile's
// requirements checked on the realm as written, each passed, failed, or not expressible in Keycloak. It checks the
// configuration that will be imported; whether a running Keycloak then behaves so is the contract tests' question.
import type { IdentityDocument } from '../../identity/model.ts';
import { profileScopeName } from './realm.ts';
import type { KcClient, KcRealm, KcUser } from './types.ts';

export type CheckStatus = 'pass' | 'fail' | 'not_expressible';

export interface ConformanceCheck {
  id: string;
  requirement: string;
  status: CheckStatus;
  /** What failed, or how a not-expressible requirement is handled. */
  detail: string;
}

const REQUIRED_CLAIMS = ['sub', 'preferred_username', 'tenant', 'principal_type', 'groups', 'roles', 'acr'];

export function keycloakConformance(doc: IdentityDocument, realm: KcRealm, users: KcUser[]): ConformanceCheck[] {
  const checks: ConformanceCheck[] = [];
  const check = (id: string, requirement: string, failures: string[], passDetail = '') =>
    checks.push({ id, requirement, status: failures.length ? 'fail' : 'pass', detail: failures.length ? failures.join('; ') : passDetail });
  const codeClients = realm.clients.filter((c) => c.standardFlowEnabled);
  const each = (pred: (c: KcClient) => boolean, clients = realm.clients) => clients.filter((c) => !pred(c)).map((c) => c.clientId);
  const canonical = new Map(doc.clients.map((c) => [c.client_id, c]));

  check('pkce_s256', 'PKCE with S256 is required for every authorization-code client (§8.1)', each((c) => c.attributes['pkce.code.challenge.method'] === 'S256', codeClients));
  check(
    'redirect_uris_exact',
    'redirect URIs are fixed and exact, as in the canonical document (§8.1, §16.2)',
    realm.clients.flatMap((c) => {
      const want = canonical.get(c.clientId)?.grant_types.includes('authorization_code') ? canonical.get(c.clientId)!.redirect_uris : [];
      const bad = c.redirectUris.some((u) => u.includes('*')) || JSON.stringify(c.redirectUris) !== JSON.stringify(want);
      return bad ? [c.clientId] : [];
    }),
  );
  check('code_flow_only', 'no implicit or hybrid flow, no password grant (§8.1)', each((c) => !c.implicitFlowEnabled && !c.directAccessGrantsEnabled));
  check(
    'grants_off',
    'device and CIBA grants and token exchange are off (§8.5 known grant types)',
    each((c) => ['oauth2.device.authorization.grant.enabled', 'oidc.ciba.grant.enabled', 'standard.token.exchange.enabled'].every((k) => c.attributes[k] === 'false')),
  );
  const publicAllowed = doc.profile_versions[0]!.public_clients_allowed;
  check('public_clients', `public clients only where the profile version allows them (allowed: ${publicAllowed})`, publicAllowed ? [] : realm.clients.filter((c) => c.publicClient).map((c) => c.clientId));
  check(
    'client_types',
    'confidential clients authenticate (client secret or private_key_jwt); public clients do not',
    realm.clients.filter((c) => (c.publicClient ? c.clientAuthenticatorType !== undefined || c.secret !== undefined : !['client-secret', 'client-jwt'].includes(c.clientAuthenticatorType ?? ''))).map((c) => c.clientId),
  );
  check(
    'no_secrets_written',
    'client secrets are placeholders substituted at import, never values',
    realm.clients.filter((c) => c.secret !== undefined && !/^\$\{[A-Z_][A-Z0-9_]*\}$/.test(c.secret)).map((c) => c.clientId),
  );
  const scope = profileScopeName(doc);
  check('claims_scope_default', `every client has the profile claims scope ${scope} as a default scope`, each((c) => c.defaultClientScopes.includes(scope)));
  const claimsScope = realm.clientScopes.find((s) => s.name === scope);
  const mapped = new Set((claimsScope?.protocolMappers ?? []).map((m) => m.config['claim.name'] ?? m.name));
  check('required_claims', `the claims scope maps ${REQUIRED_CLAIMS.join(', ')}`, REQUIRED_CLAIMS.filter((c) => !mapped.has(c)).map((c) => `missing ${c}`));
  checks.push({ id: 'scope_claim', requirement: 'scope or scp in every access token', status: 'pass', detail: "Keycloak's own scope claim" });
  checks.push({
    id: 'assurance_claim',
    requirement: 'assurance {level, methods, mfa, source, at} in every token (profile v0.2)',
    status: 'not_expressible',
    detail: 'no built-in Keycloak mapper computes it; see the incompatibility keycloak.claim.assurance',
  });
  check(
    'allowed_scopes',
    "each client may request exactly its canonical scopes",
    realm.clients.flatMap((c) => {
      const want = doc.client_scope_assignments.filter((a) => a.client_id === c.clientId && a.scope !== 'openid').map((a) => a.scope).sort();
      return JSON.stringify([...c.optionalClientScopes].sort()) === JSON.stringify(want) ? [] : [c.clientId];
    }),
  );
  check('refresh_rotation', 'refresh tokens rotate and reuse is refused', realm.revokeRefreshToken && realm.refreshTokenMaxReuse === 0 ? [] : ['realm']);
  check('no_registration', 'no self-registration, no dynamic account creation', realm.registrationAllowed ? ['realm'] : []);
  const sa = users.filter((u) => u.serviceAccountClientId !== undefined);
  const ccClients = realm.clients.filter((c) => c.serviceAccountsEnabled).map((c) => c.clientId);
  check(
    'service_principals',
    'every client_credentials client has a service account with roles, tenant and principal type',
    ccClients.filter((id) => {
      const u = sa.find((s) => s.serviceAccountClientId === id);
      return !u || u.realmRoles.length + u.groups.length === 0 || !u.attributes.tenant?.length || !u.attributes.principal_type?.length;
    }),
  );
  const groupRoles = new Map(realm.groups.map((g) => [g.path, g.realmRoles]));
  check(
    'users_have_roles',
    'every user holds at least one role, directly or through a group (profile v0.2: roles non-empty)',
    users.filter((u) => u.realmRoles.length === 0 && !u.groups.some((g) => (groupRoles.get(g) ?? []).length > 0)).map((u) => u.username),
  );
  check(
    'user_claim_attributes',
    'every user carries the tenant and principal_type attributes the mappers read',
    users.filter((u) => !u.attributes.tenant?.[0] || !u.attributes.principal_type?.[0]).map((u) => u.username),
  );
  return checks;
}
