// The replacement suite's catalogue (KeyCape §15): every application-facing test, the profile section it holds the
// issuer to, what it asserts, and where it applies. `any` tests use only what the profile promises applications
// (discovery, the authorization-code flow with PKCE in a browser, the token, userinfo and end-session endpoints), so
// they run unchanged against Keyward or Keycloak; `keyward` tests read what only Keyward exposes (its profile
// document, its profile error classes, its telemetry counters on /metrics).
import type { CONTRACT_CATEGORIES } from '../migrate/report.ts';

export type ConformanceCategory = (typeof CONTRACT_CATEGORIES)[number];
export type Applicability = 'any' | 'keyward';
/** What a test needs from the target beyond the issuer, client and user; without it the test is skipped. */
export type Need = 'browser' | 'client_secret' | 'post_logout_redirect' | 'mfa_client' | 'document';

export interface ConformanceTestDef {
  id: string;
  category: ConformanceCategory;
  /** KeyCape specification / IAM profile section. */
  section: string;
  title: string;
  asserts: string;
  applies: Applicability;
  needs: readonly Need[];
}

const t = (id: string, category: ConformanceCategory, section: string, title: string, asserts: string, applies: Applicability = 'any', needs: Need[] = []): ConformanceTestDef => ({
  id,
  category,
  section,
  title,
  asserts,
  applies,
  needs,
});

export const CATALOGUE: readonly ConformanceTestDef[] = [
  // discovery
  t('DISC-1', 'discovery', '§8.1 discovery metadata, §16.2 issuer consistency', 'discovery document', 'the discovery document names exactly the issuer it was fetched for, the authorization, token, userinfo and JWKS endpoints, response type code and PKCE S256'),
  t('DISC-2', 'discovery', '§8.1 JWKS exposure', 'signing keys', 'the JWKS holds public signing keys only (kid, kty; no private members) with an algorithm the discovery document lists'),
  t('DISC-3', 'discovery', '§12.1 profile endpoint exposure', 'profile document', 'Keyward publishes the profile it implements at {issuer}/profile: netkingdom-iam 0.2 for this issuer', 'keyward'),
  // login flow
  t('LOGIN-1', 'login_flow', '§8.1 authorization code flow, PKCE', 'browser sign-in', 'the user signs in through the issuer\'s own login page in Chromium; the code comes back to the registered redirect URI with the state; the code exchange returns an ID token that verifies (issuer, audience, nonce, signature)', 'any', ['browser']),
  t('LOGIN-2', 'login_flow', '§8.6 valid account states', 'wrong password', 'a wrong password yields no authorization code: the browser stays at the issuer', 'any', ['browser']),
  t('LOGIN-3', 'login_flow', '§16.2 explicit token lifetime policy', 'refresh rotation', 'the refresh token grant returns new tokens, and the used refresh token is refused afterwards (invalid_grant)', 'any', ['browser']),
  // token claims
  t('CLAIMS-1', 'token_claims', 'IAM profile 0.2 claims', 'profile claims', 'the ID token matches the profile\'s claims schema (tenant, principal_type, groups, roles, assurance, …)', 'any', ['browser']),
  t('CLAIMS-2', 'token_claims', '§8.4, IAM profile 0.2 access tokens', 'access token', 'the access token is a JWT signed by the issuer\'s keys for the same subject; at Keyward also typ at+jwt and the profile\'s audience', 'any', ['browser']),
  t('CLAIMS-3', 'token_claims', '§8.2 userinfo endpoint', 'userinfo', 'userinfo answers the access token with the ID token\'s subject, username, groups and roles', 'any', ['browser']),
  // migration data integrity (the canonical document is the source of truth, §14.2)
  t('DATA-1', 'migration_data_integrity', '§14.2 validation before and after transfer', 'canonical document', 'the canonical identity document the target was provisioned from validates', 'any', ['document']),
  t('DATA-2', 'migration_data_integrity', '§15.4 required claims remain stable', 'claims from canonical data', 'sub, preferred_username, email, tenant, principal_type, groups and roles of the signed-in user are those of the canonical document', 'any', ['browser', 'document']),
  // redirect validation
  t('REDIR-1', 'redirect_validation', '§16.2 strict redirect URI validation', 'unregistered redirect URI', 'an authorization request with a redirect URI the client does not have is refused at the issuer: nothing is sent to that URI'),
  t('REDIR-2', 'redirect_validation', '§8.1 fixed redirect URIs', 'redirect URI prefix', 'a registered redirect URI with a path appended is refused (exact matching, no prefixes)'),
  t('REDIR-3', 'redirect_validation', '§8.1 PKCE', 'missing PKCE', 'an authorization request without code_challenge yields no code'),
  // client configuration
  t('CLIENT-1', 'client_configuration', '§16.2 strict client identity', 'wrong client secret', 'the token endpoint answers 401 invalid_client for a wrong secret', 'any', ['client_secret']),
  t('CLIENT-2', 'client_configuration', '§8.5 known grant types', 'grant not configured', 'client_credentials for a client without it is refused (unauthorized_client or unsupported_grant_type)', 'any', ['client_secret']),
  t('CLIENT-3', 'client_configuration', '§16.2 strict client identity', 'unknown client', 'an authorization request naming an unknown client is refused at the issuer without redirecting'),
  t('CLIENT-4', 'client_configuration', '§8.5 known scopes', 'scope not allowed', 'a scope the client may not request is refused with invalid_scope'),
  // logout
  t('LOGOUT-1', 'logout', '§8.2 logout endpoint', 'logout', 'end_session with id_token_hint returns to the registered post-logout URI, and the session is gone: prompt=none answers login_required', 'any', ['browser', 'post_logout_redirect']),
  // MFA policy
  t('MFA-1', 'mfa_policy', '§8.6 MFA interaction', 'second factor required', 'for a client that requires MFA, the password alone yields no code: the issuer asks for a second factor; when it offers TOTP enrolment the suite enrols, and the ID token then says aal2 / otp', 'any', ['browser', 'mfa_client']),
  // negative profile
  t('NEG-1', 'negative_profile', '§9.2 rejected_for_profile_safety', 'implicit flow', 'response_type=token is refused (unsupported_response_type or invalid_request), no token in any redirect'),
  t('NEG-2', 'negative_profile', '§9.2 rejected_for_profile_safety', 'PKCE plain', 'code_challenge_method=plain yields no code'),
  t('NEG-3', 'negative_profile', '§9.2 rejected_for_profile_safety', 'password grant', 'grant_type=password is refused', 'any', ['client_secret']),
  t('NEG-4', 'negative_profile', '§16.2 strict redirect URI validation', 'wildcard redirect', 'a redirect URI with a wildcard is refused'),
  t('NEG-5', 'negative_profile', '§9.2 error taxonomy', 'profile error classes', 'features outside the profile (device flow, token exchange, dynamic registration, the claims parameter, SAML, the admin API) answer with their profile_error_class', 'keyward'),
  // telemetry
  t('TEL-1', 'telemetry', '§13.2 minimum telemetry events', 'sign-in telemetry', 'the sign-in counted flow_start and token_issued for the client, the wrong password authentication_failed', 'keyward', ['browser']),
  t('TEL-2', 'telemetry', '§13.2 minimum telemetry events', 'refusal telemetry', 'each refusal the suite provoked was counted with its event (unsupported_request, invalid_redirect_or_client, invalid_request, admin_unsupported), profile error class and feature', 'keyward'),
];

/** Named runs of §15.2: which categories each runs. */
export const SCENARIOS = {
  A: { title: 'lightweight baseline: canonical fixtures provisioned into Keyward', categories: 'all' },
  B: { title: 'IAM replacement: the same tests against another issuer', categories: 'all' },
  C: { title: 'full expansion: the directory moved to full LDAP', categories: 'all' },
  D: { title: 'negative profile: unsupported functionality, errors and telemetry', categories: ['negative_profile', 'telemetry'] },
} as const satisfies Record<string, { title: string; categories: 'all' | ConformanceCategory[] }>;
export type Scenario = keyof typeof SCENARIOS;

export function scenarioTests(s: Scenario): ConformanceTestDef[] {
  const cats = SCENARIOS[s].categories;
  return CATALOGUE.filter((d) => cats === 'all' || (cats as readonly string[]).includes(d.category));
}
