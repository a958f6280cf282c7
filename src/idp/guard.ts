// The profile guard: looks at every request before oidc-provider does and refuses, with the §9 taxonomy,
// anything outside the profile. What passes is then checked again by the library itself.
import { STANDARD_SCOPES, UNSUPPORTED, type UnsupportedFeature } from './profile.ts';
import { namedClientId } from './named-client.ts';
import { OIDC_PREFIX, type RealmRuntime } from './provider.ts';

export interface GuardRequest {
  method: string;
  /** Path below /realms/{realm}, without query. */
  path: string;
  params: Record<string, string | undefined>;
  authorization?: string | undefined;
}

export interface GuardRefusal {
  feature: UnsupportedFeature;
  detail?: string;
  /** Render the HTML error page rather than JSON (browser-facing endpoints). */
  browser: boolean;
  clientId?: string | undefined;
}

const PROVIDER_PATHS = [
  '/.well-known/openid-configuration',
  `${OIDC_PREFIX}/auth`,
  `${OIDC_PREFIX}/token`,
  `${OIDC_PREFIX}/certs`,
  `${OIDC_PREFIX}/userinfo`,
  `${OIDC_PREFIX}/logout`,
  `${OIDC_PREFIX}/logout/confirm`,
  `${OIDC_PREFIX}/logout/success`,
  `${OIDC_PREFIX}/token/introspect`,
  `${OIDC_PREFIX}/revoke`,
];

const GRANTS: Record<string, UnsupportedFeature> = {
  password: UNSUPPORTED.password_grant,
  'urn:ietf:params:oauth:grant-type:device_code': UNSUPPORTED.device_flow,
  'urn:openid:params:grant-type:ciba': UNSUPPORTED.ciba,
  'urn:ietf:params:oauth:grant-type:token-exchange': UNSUPPORTED.token_exchange,
  'urn:ietf:params:oauth:grant-type:uma-ticket': UNSUPPORTED.token_exchange,
  implicit: UNSUPPORTED.implicit_grant,
};
const PROFILE_GRANTS = new Set(['authorization_code', 'refresh_token', 'client_credentials']);

/** Served by Keyward itself (index.ts), not by the provider: keycloak-js's third-party cookie check. */
export const THIRD_PARTY_COOKIE_CHECK = `${OIDC_PREFIX}/3p-cookies/step1.html`;

export async function guard(rt: RealmRuntime, req: GuardRequest): Promise<GuardRefusal | undefined> {
  const refusal = await check(rt, req);
  // Demand is attributed to the client the request named, however it named it (RFC 6749 §2.3, RFC 7523).
  if (refusal) refusal.clientId ??= namedClientId(req.authorization, req.params);
  return refusal;
}


async function check(rt: RealmRuntime, req: GuardRequest): Promise<GuardRefusal | undefined> {
  const p = req.path.replace(/\/+$/, '') || '/';
  const q = req.params;

  // Keycloak's own pages, outside the OIDC protocol: Keycloak mode has them, this mode does not.
  if (p === '/') return { feature: UNSUPPORTED.realm_info, browser: false };
  if (p === '/account' || p.startsWith('/account/')) return { feature: UNSUPPORTED.account_console, browser: true };
  if (p === `${OIDC_PREFIX}/registrations`) return { feature: UNSUPPORTED.user_registration, browser: true };
  if (p.startsWith(`${OIDC_PREFIX}/login-status-iframe.html`)) return { feature: UNSUPPORTED.session_status_iframe, browser: true };
  if (p.startsWith(`${OIDC_PREFIX}/3p-cookies`)) return { feature: UNSUPPORTED.third_party_cookie_check, browser: true };

  // Whole features that live elsewhere in Keycloak's layout.
  if (p.startsWith('/clients-registrations')) return { feature: UNSUPPORTED.dynamic_registration, browser: false };
  if (p === `${OIDC_PREFIX}/auth/device`) return { feature: UNSUPPORTED.device_flow, browser: false };
  if (p.startsWith(`${OIDC_PREFIX}/ext/ciba`)) return { feature: UNSUPPORTED.ciba, browser: false };
  if (p.startsWith(`${OIDC_PREFIX}/ext/par`)) return { feature: UNSUPPORTED.par, browser: false };
  if (p.startsWith('/protocol/saml')) return { feature: UNSUPPORTED.saml, browser: true };
  if (p.startsWith('/broker') || p.startsWith('/login-actions') || p.startsWith('/first-broker-login')) return { feature: UNSUPPORTED.identity_brokering, browser: true };

  const known = PROVIDER_PATHS.includes(p) || (p.startsWith(`${OIDC_PREFIX}/auth/`) && p.split('/').length === 5);
  if (!known) return { feature: UNSUPPORTED.unknown_endpoint, browser: false, detail: `no endpoint ${p} in the profile` };

  if (p === `${OIDC_PREFIX}/auth`) return authorization(rt, q);
  if (p === `${OIDC_PREFIX}/token` && req.method === 'POST') return token(rt, q);
  return undefined;
}

async function authorization(rt: RealmRuntime, q: Record<string, string | undefined>): Promise<GuardRefusal | undefined> {
  const clientId = q.client_id;
  const refuse = (feature: UnsupportedFeature, detail?: string): GuardRefusal => ({ feature, browser: true, clientId, ...(detail ? { detail } : {}) });
  if (q.request_uri !== undefined) return refuse(UNSUPPORTED.request_uri);
  if (q.request !== undefined) return refuse(UNSUPPORTED.request_object);
  if (q.kc_idp_hint !== undefined) return refuse(UNSUPPORTED.identity_brokering);
  if (q.claims !== undefined) return refuse(UNSUPPORTED.claims_parameter);
  if (q.response_type !== undefined && q.response_type !== 'code') return refuse(UNSUPPORTED.implicit, `response_type ${q.response_type} is not allowed; use code`);
  if (q.response_mode !== undefined && q.response_mode !== 'query') return refuse(UNSUPPORTED.response_mode, `response_mode=${q.response_mode} is not part of the profile; use query (keycloak-js: init with responseMode: "query")`);
  if (q.redirect_uri?.includes('*')) return refuse(UNSUPPORTED.wildcard_redirect);
  if (q.code_challenge_method !== undefined && q.code_challenge_method !== 'S256') return refuse(UNSUPPORTED.pkce_plain);
  if (!clientId) return undefined; // the library answers a missing client_id itself
  const client = await rt.directory.getClient(clientId);
  if (!client || !client.enabled) return refuse(UNSUPPORTED.unknown_client, 'unknown client');
  if (q.redirect_uri !== undefined && !client.redirectUris.includes(q.redirect_uri)) return refuse(UNSUPPORTED.unregistered_redirect);
  if (!client.grantTypes.includes('authorization_code')) return refuse(UNSUPPORTED.grant_not_allowed, 'the client may not use the authorization code grant');
  if (!q.code_challenge) return refuse(UNSUPPORTED.missing_pkce);
  const bad = scopeProblem(rt, q.scope, client.scopes);
  if (bad) return refuse(UNSUPPORTED.unknown_scope, bad);
  return undefined;
}

/** A scope the profile does not declare (public knowledge: the profile document lists them), else one the client may not ask for. */
function scopeProblem(rt: RealmRuntime, scope: string | undefined, allowed?: string[]): string | undefined {
  if (!scope) return undefined;
  const declared = new Set<string>([...STANDARD_SCOPES, ...rt.realm.custom_scopes.map((s) => s.name)]);
  for (const s of scope.split(' ').filter(Boolean)) {
    if (!declared.has(s)) return `scope ${s} is not declared by the profile`;
    if (allowed && !allowed.includes(s) && !(s === 'offline_access' && allowed.includes('openid'))) return `scope ${s} is not allowed for this client`;
  }
  return undefined;
}

/**
 * Only what concerns no client in particular is refused before the client authenticates: grants outside the profile
 * and scopes it does not declare. Whether this client may use the grant or the scope is the library's to answer,
 * after authentication, so an unauthenticated caller learns nothing about a client (RFC 6749 §5.2: invalid_client
 * comes first).
 */
async function token(rt: RealmRuntime, q: Record<string, string | undefined>): Promise<GuardRefusal | undefined> {
  const gt = q.grant_type;
  const refuse = (feature: UnsupportedFeature, detail?: string): GuardRefusal => ({ feature, browser: false, ...(detail ? { detail } : {}) });
  if (!gt) return undefined;
  const special = GRANTS[gt];
  if (special) return refuse(special);
  if (!PROFILE_GRANTS.has(gt)) return refuse(UNSUPPORTED.unknown_grant, `grant_type ${gt} is not part of the profile`);
  const bad = scopeProblem(rt, q.scope);
  if (bad) return refuse(UNSUPPORTED.unknown_scope, bad);
  return undefined;
}
