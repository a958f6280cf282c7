// The NetKingdom IAM profile as Keyward implements it, and the error taxonomy for everything outside it
// (KeyCape specification §9). The profile document is what {issuer}/profile publishes.
import type { IdpConfig, IdpRealmConfig } from './config.ts';

export const PROFILE_ERROR_CLASSES = [
  'feature_not_supported_by_profile',
  'available_in_keycloak_mode_only',
  'rejected_for_profile_safety',
  'invalid_profile_usage',
] as const;
export type ProfileErrorClass = (typeof PROFILE_ERROR_CLASSES)[number];

export const STANDARD_SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'] as const;

/** Which OIDC claims each scope releases at userinfo and in the ID token. */
export const SCOPE_CLAIMS: Record<string, string[]> = {
  // The profile's claims schema requires groups (and preferred_username for humans) in every token.
  openid: ['sub', 'tenant', 'principal_type', 'groups', 'roles', 'assurance', 'acr', 'amr', 'auth_time', 'preferred_username'],
  profile: ['preferred_username', 'name', 'given_name', 'family_name'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

/** One unsupported feature: how it is refused. `oauth_error` is the RFC 6749 code of the body. */
export interface UnsupportedFeature {
  feature: string;
  errorClass: ProfileErrorClass;
  oauthError: string;
  status: number;
  description: string;
}

const f = (feature: string, errorClass: ProfileErrorClass, oauthError: string, status: number, description: string): UnsupportedFeature => ({
  feature,
  errorClass,
  oauthError,
  status,
  description,
});

/** The catalogue; tests walk it, the profile document publishes it. */
export const UNSUPPORTED = {
  dynamic_registration: f('dynamic_client_registration', 'feature_not_supported_by_profile', 'invalid_request', 400, 'dynamic client registration is not part of the profile; clients are declared in the realm file'),
  device_flow: f('device_authorization_grant', 'feature_not_supported_by_profile', 'unsupported_grant_type', 400, 'the device authorization grant is not part of the profile'),
  ciba: f('ciba', 'feature_not_supported_by_profile', 'unsupported_grant_type', 400, 'client-initiated backchannel authentication is not part of the profile'),
  par: f('pushed_authorization_requests', 'feature_not_supported_by_profile', 'invalid_request', 400, 'pushed authorization requests are not part of the profile'),
  request_object: f('request_objects', 'feature_not_supported_by_profile', 'request_not_supported', 400, 'request objects are not part of the profile'),
  request_uri: f('request_uri', 'feature_not_supported_by_profile', 'request_uri_not_supported', 400, 'request_uri (request objects by reference, pushed authorization requests) is not part of the profile'),
  response_mode: f('response_mode', 'feature_not_supported_by_profile', 'invalid_request', 400, 'only response_mode=query is part of the profile (keycloak-js: init with responseMode: "query")'),
  token_exchange: f('token_exchange', 'available_in_keycloak_mode_only', 'unsupported_grant_type', 400, 'token exchange is available in Keycloak mode only'),
  saml: f('saml', 'available_in_keycloak_mode_only', 'invalid_request', 404, 'SAML is available in Keycloak mode only'),
  identity_brokering: f('identity_brokering', 'available_in_keycloak_mode_only', 'invalid_request', 400, 'identity brokering is available in Keycloak mode only'),
  admin_rest: f('admin_rest_api', 'available_in_keycloak_mode_only', 'invalid_request', 404, 'the Keycloak admin REST API is available in Keycloak mode only; use keyward idp apply'),
  realm_info: f('realm_info', 'available_in_keycloak_mode_only', 'invalid_request', 404, "Keycloak's realm information document is available in Keycloak mode only; use the discovery document"),
  account_console: f('account_console', 'available_in_keycloak_mode_only', 'invalid_request', 404, 'the account console is available in Keycloak mode only'),
  user_registration: f('user_self_registration', 'available_in_keycloak_mode_only', 'invalid_request', 404, 'user self-registration is available in Keycloak mode only; users are declared in the realm file'),
  session_status_iframe: f('session_status_iframe', 'available_in_keycloak_mode_only', 'invalid_request', 404, 'the login-status iframe is available in Keycloak mode only; the third-party cookie check answers "unsupported", so keycloak-js does not load it'),
  third_party_cookie_check: f('third_party_cookie_check', 'available_in_keycloak_mode_only', 'invalid_request', 404, 'only step1.html of the third-party cookie check is served (it answers "unsupported")'),
  implicit: f('implicit_or_hybrid_response_type', 'rejected_for_profile_safety', 'unsupported_response_type', 400, 'only response_type=code is allowed'),
  implicit_grant: f('implicit_grant', 'rejected_for_profile_safety', 'unsupported_grant_type', 400, 'the implicit grant is not allowed; use authorization_code with PKCE'),
  pkce_plain: f('pkce_plain', 'rejected_for_profile_safety', 'invalid_request', 400, 'only code_challenge_method=S256 is allowed'),
  password_grant: f('resource_owner_password_grant', 'rejected_for_profile_safety', 'unsupported_grant_type', 400, 'the password grant is not allowed'),
  wildcard_redirect: f('wildcard_redirect_uri', 'rejected_for_profile_safety', 'invalid_request', 400, 'redirect URIs are matched exactly; wildcards are not allowed'),
  public_client: f('public_client', 'rejected_for_profile_safety', 'invalid_client', 401, 'public clients are not allowed by this profile version'),
  missing_pkce: f('pkce_required', 'invalid_profile_usage', 'invalid_request', 400, 'PKCE with code_challenge_method=S256 is required'),
  unregistered_redirect: f('redirect_uri', 'invalid_profile_usage', 'invalid_request', 400, 'redirect_uri is not registered for this client'),
  unknown_scope: f('scope', 'invalid_profile_usage', 'invalid_scope', 400, 'a requested scope is not declared by the profile or not allowed for this client'),
  grant_not_allowed: f('grant_type', 'invalid_profile_usage', 'unauthorized_client', 400, 'this grant type is not allowed for the client'),
  unknown_grant: f('grant_type', 'invalid_profile_usage', 'unsupported_grant_type', 400, 'unknown grant type'),
  unknown_client: f('client', 'invalid_profile_usage', 'invalid_client', 401, 'client authentication failed'),
  unknown_endpoint: f('endpoint', 'invalid_profile_usage', 'invalid_request', 404, 'no such endpoint in the profile'),
  unknown_realm: f('realm', 'invalid_profile_usage', 'invalid_request', 404, 'no such realm'),
  claims_parameter: f('claims_parameter', 'feature_not_supported_by_profile', 'invalid_request', 400, 'the claims request parameter is not part of the profile'),
} as const satisfies Record<string, UnsupportedFeature>;
export type UnsupportedKey = keyof typeof UNSUPPORTED;

export interface ProfileErrorBody {
  error: string;
  error_description: string;
  profile_error_class: ProfileErrorClass;
  feature: string;
  profile_version: string;
  correlation_id: string;
}

export function profileErrorBody(u: UnsupportedFeature, profileVersion: string, correlationId: string, detail?: string): ProfileErrorBody {
  return {
    error: u.oauthError,
    error_description: detail ?? u.description,
    profile_error_class: u.errorClass,
    feature: u.feature,
    profile_version: profileVersion,
    correlation_id: correlationId,
  };
}

/**
 * While Keyward is sealed the provider cannot sign: not a profile refusal but an outage, so plain OAuth
 * `temporarily_unavailable`, sent with 503 and a retry-after of SEALED_RETRY_AFTER seconds.
 */
export const SEALED_RETRY_AFTER = '5';
export function sealedBody(correlationId?: string) {
  return {
    error: 'temporarily_unavailable',
    error_description: 'Keyward is sealed; the identity provider signs again once it is unsealed',
    ...(correlationId ? { correlation_id: correlationId } : {}),
  };
}

/** Maps oidc-provider's own OAuth errors into the taxonomy, so its refusals carry the same fields. */
export function classifyProviderError(error: string, description: string | undefined): UnsupportedFeature {
  const d = description ?? '';
  if (error === 'invalid_client') return UNSUPPORTED.unknown_client;
  if (error === 'invalid_scope') return UNSUPPORTED.unknown_scope;
  if (error === 'unauthorized_client') return UNSUPPORTED.grant_not_allowed;
  if (error === 'unsupported_grant_type') return UNSUPPORTED.unknown_grant;
  if (error === 'unsupported_response_type') return UNSUPPORTED.implicit;
  if (/redirect_uri/.test(d)) return UNSUPPORTED.unregistered_redirect;
  if (/code_challenge|PKCE/i.test(d)) return UNSUPPORTED.missing_pkce;
  return f(error, 'invalid_profile_usage', error, 400, d || error);
}

export interface ProfileDocument {
  profile: 'netkingdom-iam';
  version: string;
  issuer: string;
  realm: string;
  grants: string[];
  response_types: string[];
  pkce: { required: true; methods: ['S256'] };
  client_auth_methods: string[];
  public_clients_allowed: boolean;
  scopes: { standard: string[]; custom: Array<{ name: string; description: string }> };
  claims: { id_token_and_userinfo: Record<string, string[]>; access_token: string[] };
  access_token: { format: 'jwt'; typ: 'at+jwt'; audience: string; signing_algs: string[]; scope_claims: { scope: string; scp: string } };
  endpoints: Record<string, string>;
  unsupported: Array<{ feature: string; profile_error_class: ProfileErrorClass }>;
}

export const ACCESS_TOKEN_CLAIMS = [
  'iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'azp', 'scope', 'scp', 'tenant', 'principal_type', 'groups', 'roles',
  'realm_access', 'permissions', 'assurance', 'preferred_username', 'auth_time', 'acr', 'amr', 'emergency',
];

/** How the granted scopes appear in access tokens: both claims carry exactly what was granted. */
export const SCOPE_CLAIM_FORMS = {
  scope: 'space-separated string of the granted scopes (Keycloak and RFC 9068 form); absent when none was granted',
  scp: 'array of the granted scopes (NetKingdom profile form); always present, empty when none was granted',
};

export function profileDocument(cfg: IdpConfig, realm: IdpRealmConfig): ProfileDocument {
  const issuer = `${cfg.base_url}/realms/${realm.name}`;
  const oidc = `${issuer}/protocol/openid-connect`;
  const seen = new Set<string>();
  const unsupported: ProfileDocument['unsupported'] = [];
  for (const u of Object.values(UNSUPPORTED)) {
    if (u.errorClass === 'invalid_profile_usage' || seen.has(u.feature)) continue;
    seen.add(u.feature);
    unsupported.push({ feature: u.feature, profile_error_class: u.errorClass });
  }
  return {
    profile: 'netkingdom-iam',
    version: cfg.profile_version,
    issuer,
    realm: realm.name,
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    pkce: { required: true, methods: ['S256'] },
    client_auth_methods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', ...(realm.public_clients_allowed ? ['none'] : [])],
    public_clients_allowed: realm.public_clients_allowed,
    scopes: { standard: [...STANDARD_SCOPES], custom: realm.custom_scopes.map((s) => ({ name: s.name, description: s.description })) },
    claims: { id_token_and_userinfo: SCOPE_CLAIMS, access_token: ACCESS_TOKEN_CLAIMS },
    access_token: { format: 'jwt', typ: 'at+jwt', audience: realm.access_token_resource, signing_algs: ['ES256', 'RS256'], scope_claims: SCOPE_CLAIM_FORMS },
    endpoints: {
      discovery: `${issuer}/.well-known/openid-configuration`,
      authorization: `${oidc}/auth`,
      token: `${oidc}/token`,
      jwks: `${oidc}/certs`,
      userinfo: `${oidc}/userinfo`,
      end_session: `${oidc}/logout`,
      introspection: `${oidc}/token/introspect`,
      revocation: `${oidc}/revoke`,
    },
    unsupported,
  };
}
