// The identity provider's protocol endpoints, each its own route (so each has its own OpenAPI entry) and what the
// document says about it. oidc-provider validates these requests and writes the answers itself, in the OAuth error
// format the protocols prescribe, so the schemas here are documentation only (route config `documented`, see
// src/http/openapi.ts): they never become a validator or serializer in front of the provider.
import { type TSchema, Type } from '@sinclair/typebox';
import type { FastifyContextConfig } from 'fastify';
import type { ProblemCode } from '../core/problem-codes.ts';
import { IDP_BEARER_SCHEME, OAUTH_CLIENT_SCHEME } from '../http/openapi.ts';
import { StringEnum } from '../http/typebox.ts';
import { OIDC_PREFIX } from './provider.ts';

export const realmParams = Type.Object({ realm: Type.String({ description: 'Realm name' }) });
export const interactionParams = Type.Object({ realm: Type.String({ description: 'Realm name' }), uid: Type.String({ description: 'Interaction id (from the redirect)' }) });

const oauthError = Type.Object(
  {
    error: Type.String({ description: 'OAuth 2.0 error code (RFC 6749 §5.2)' }),
    error_description: Type.Optional(Type.String()),
    profile_error_class: Type.Optional(Type.String({ description: 'When Keyward refused the request: why, in the profile taxonomy' })),
    feature: Type.Optional(Type.String()),
    profile_version: Type.Optional(Type.String()),
    correlation_id: Type.Optional(Type.String({ description: 'The request id, also in x-correlation-id' })),
  },
  { additionalProperties: true },
);
const json = (description: string, schema: TSchema = oauthError) => ({ description, content: { 'application/json': { schema } } });
const html = (description: string) => ({ description, content: { 'text/html': { schema: Type.String() } } });
const redirect = (description: string) => Type.Null({ description, headers: { location: Type.String() } });

/** Every route below a realm answers this while Keyward is sealed (the provider cannot sign). */
const sealed = { 503: json('Keyward is sealed: temporarily_unavailable, with Retry-After') };
/** A protocol endpoint answers an unknown realm as OAuth does; the other routes with idp.realm_not_found. */
const protocolErrors = { 404: json('No such realm (invalid_request)'), ...sealed };
const apiErrors = { 400: json('Invalid request (OAuth error), or a request outside the profile (with profile_error_class)'), ...protocolErrors };
const form = (properties: Parameters<typeof Type.Object>[0]) => ({ consumes: ['application/x-www-form-urlencoded'], body: Type.Object(properties, { additionalProperties: true }) });

const str = (description: string) => Type.Optional(Type.String({ description }));
const authorizationParams = {
  client_id: Type.String(),
  response_type: StringEnum(['code'] as const, { description: 'code only (the profile has no implicit or hybrid flows)' }),
  redirect_uri: str('One of the client\'s registered redirect URIs, exactly'),
  scope: str('Space-separated; openid for an ID token'),
  state: str('Returned unchanged'),
  nonce: str('Bound into the ID token'),
  code_challenge: Type.String({ description: 'PKCE (RFC 7636), required' }),
  code_challenge_method: StringEnum(['S256'] as const),
  prompt: str('none, login or consent'),
  login_hint: str('Pre-fills the username'),
  max_age: str('Seconds since the last authentication'),
  ui_locales: str('Preferred languages'),
};
const tokenTypeHint = Type.Optional(StringEnum(['access_token', 'refresh_token'] as const));
const clientAuthentication = {
  client_id: str('client_secret_post, private_key_jwt, or a public client'),
  client_secret: str('client_secret_post'),
  client_assertion_type: str('private_key_jwt: urn:ietf:params:oauth:client-assertion-type:jwt-bearer'),
  client_assertion: str('private_key_jwt: a JWT signed with the client\'s key'),
};

export interface ProviderEndpoint {
  /** Below /realms/{realm}. */
  path: string;
  methods: Array<'GET' | 'POST'>;
  documented: NonNullable<FastifyContextConfig['documented']>;
}

const tags = ['idp'];
export const PROVIDER_ENDPOINTS: ProviderEndpoint[] = [
  {
    path: '/.well-known/openid-configuration',
    methods: ['GET'],
    documented: {
      tags,
      summary: 'OpenID Provider discovery document (OpenID Connect Discovery 1.0)',
      response: {
        200: json('Provider metadata', Type.Object({ issuer: Type.String(), authorization_endpoint: Type.String(), token_endpoint: Type.String(), jwks_uri: Type.String() }, { additionalProperties: true })),
        ...sealed,
      },
    },
  },
  {
    path: `${OIDC_PREFIX}/auth`,
    // GET only, as at the logout endpoint: oidc-provider serves POST there only with SameSite=None session cookies
    // (a cross-site form post carries no Lax cookie), which the profile's cookies are not.
    methods: ['GET'],
    documented: {
      tags,
      summary: 'Authorization endpoint: authorization code flow with PKCE (S256); parameters in the query',
      querystring: Type.Object(authorizationParams),
      response: {
        '3xx': redirect('To the login page, or back to redirect_uri with code and state (or error)'),
        400: html('An invalid or refused request that cannot go back to the client (unknown client, unregistered redirect_uri)'),
        ...protocolErrors,
      },
    },
  },
  {
    path: `${OIDC_PREFIX}/auth/:uid`,
    methods: ['GET'],
    documented: {
      tags,
      summary: 'Authorization resumed after the login pages (the browser is redirected here)',
      response: { '3xx': redirect('Back to redirect_uri with code and state (or error)'), 400: html('The interaction expired or is unknown'), ...protocolErrors },
    },
  },
  {
    path: `${OIDC_PREFIX}/token`,
    methods: ['POST'],
    documented: {
      tags,
      summary: 'Token endpoint: authorization_code, refresh_token and client_credentials grants',
      security: [{ [OAUTH_CLIENT_SCHEME]: [] }, {}],
      ...form({
        grant_type: StringEnum(['authorization_code', 'refresh_token', 'client_credentials'] as const),
        code: str('authorization_code'),
        redirect_uri: str('authorization_code: the same as in the authorization request'),
        code_verifier: str('authorization_code: the PKCE verifier'),
        refresh_token: str('refresh_token'),
        scope: str('client_credentials, refresh_token: the scopes wanted'),
        resource: str('The API the access token is for (RFC 8707)'),
        ...clientAuthentication,
      }),
      response: {
        200: json('Tokens', Type.Object({
          access_token: Type.String(),
          token_type: Type.String(),
          expires_in: Type.Integer(),
          refresh_token: Type.Optional(Type.String()),
          id_token: Type.Optional(Type.String()),
          scope: Type.Optional(Type.String()),
        }, { additionalProperties: true })),
        ...apiErrors,
        401: json('Client authentication failed (invalid_client), with WWW-Authenticate'),
      },
    },
  },
  {
    path: `${OIDC_PREFIX}/certs`,
    methods: ['GET'],
    documented: {
      tags,
      summary: 'JSON Web Key Set: the public keys that sign the realm\'s tokens',
      response: { 200: json('JWKS (RFC 7517)', Type.Object({ keys: Type.Array(Type.Object({ kty: Type.String(), kid: Type.String() }, { additionalProperties: true })) })), ...protocolErrors },
    },
  },
  {
    path: `${OIDC_PREFIX}/userinfo`,
    methods: ['GET', 'POST'],
    documented: {
      tags,
      summary: 'UserInfo: the claims of the access token\'s subject',
      security: [{ [IDP_BEARER_SCHEME]: [] }],
      response: {
        200: json('Claims', Type.Object({ sub: Type.String() }, { additionalProperties: true })),
        ...apiErrors,
        401: json('Missing, invalid or expired access token (invalid_token), with WWW-Authenticate'),
      },
    },
  },
  {
    path: `${OIDC_PREFIX}/logout`,
    methods: ['GET'],
    documented: {
      tags,
      summary: 'RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): asks the user to confirm',
      querystring: Type.Object({
        id_token_hint: str('An ID token the realm issued to the client'),
        post_logout_redirect_uri: str('One of the client\'s registered post-logout redirect URIs'),
        state: str('Returned unchanged'),
        client_id: str('When there is no id_token_hint'),
        ui_locales: str('Preferred languages'),
      }),
      response: { 200: html('The confirmation page (its form posts to logout/confirm)'), 400: html('An invalid logout request'), ...protocolErrors },
    },
  },
  {
    path: `${OIDC_PREFIX}/logout/confirm`,
    methods: ['POST'],
    documented: {
      tags,
      summary: 'Logout confirmed (the form of the confirmation page)',
      ...form({ xsrf: Type.String({ description: 'From the confirmation page' }), logout: str('Present: end the session at the provider too') }),
      response: { '3xx': redirect('To post_logout_redirect_uri, or to logout/success'), 400: html('An invalid or expired confirmation'), ...protocolErrors },
    },
  },
  {
    path: `${OIDC_PREFIX}/logout/success`,
    methods: ['GET'],
    documented: { tags, summary: 'Signed out (when the client gave no post_logout_redirect_uri)', response: { 200: html('The signed-out page'), ...protocolErrors } },
  },
  {
    path: `${OIDC_PREFIX}/token/introspect`,
    methods: ['POST'],
    documented: {
      tags,
      summary: 'Token introspection (RFC 7662): a client learns about its own tokens only',
      security: [{ [OAUTH_CLIENT_SCHEME]: [] }],
      ...form({ token: Type.String(), token_type_hint: tokenTypeHint, ...clientAuthentication }),
      response: {
        200: json('Whether the token is active, and its claims when it is', Type.Object({ active: Type.Boolean() }, { additionalProperties: true })),
        ...apiErrors,
        401: json('Client authentication failed (invalid_client)'),
      },
    },
  },
  {
    path: `${OIDC_PREFIX}/revoke`,
    methods: ['POST'],
    documented: {
      tags,
      summary: 'Token revocation (RFC 7009)',
      security: [{ [OAUTH_CLIENT_SCHEME]: [] }],
      ...form({ token: Type.String(), token_type_hint: tokenTypeHint, ...clientAuthentication }),
      response: { 200: Type.Null({ description: 'Revoked, or the token was not valid (RFC 7009 §2.2)' }), ...apiErrors, 401: json('Client authentication failed (invalid_client)') },
    },
  },
];

/** The problem codes Keyward's own routes below a realm answer with (the protocol endpoints answer as OAuth does). */
export const PAGE_PROBLEMS = ['idp.realm_not_found'] as const satisfies readonly ProblemCode[];

/** Keyward's own pages and documents below a realm. */
const csrf = Type.String({ description: 'From the page' });
const submitted = (summary: string, fields: Parameters<typeof Type.Object>[0]) => ({
  tags,
  summary,
  ...form({ csrf, ...fields }),
  response: { '3xx': redirect('On to the next step, or back to the authorization'), 200: html('The page again, with the error'), 403: html('A stale or forged form'), 503: sealedOrDirectory },
});
const sealedOrDirectory = {
  description: 'Keyward is sealed (temporarily_unavailable, with Retry-After), or the user directory is unavailable (a page saying so)',
  content: { ...sealed[503].content, 'text/html': { schema: Type.String() } },
};
const page = (summary: string) => ({ tags, summary, response: { 200: html('The page'), 400: html('The interaction expired or is unknown'), 503: sealedOrDirectory } });
export const PAGES = {
  thirdPartyCookieCheck: { tags, summary: 'keycloak-js third-party cookie check: answers "unsupported" so the adapter skips the session iframe', response: { 200: html('A page that posts its answer to the opener'), ...protocolErrors } },
  profile: { tags, summary: 'The realm\'s profile document: claims, scopes and refusals this provider follows', response: { 200: json('Profile document', Type.Object({}, { additionalProperties: true })), ...sealed } },
  login: page('Login page (username and password)'),
  loginSubmit: submitted('Login form', { username: Type.String(), password: Type.String() }),
  totp: page('Second factor: a TOTP code'),
  totpSubmit: submitted('TOTP form', { code: Type.String() }),
  recovery: page('Second factor: a recovery code'),
  recoverySubmit: submitted('Recovery code form', { recovery_code: Type.String() }),
  continue: submitted('Continue to the client', {}),
  stylesheet: { tags, summary: 'The realm theme\'s stylesheet', response: { 200: { description: 'CSS', content: { 'text/css': { schema: Type.String() } } }, 304: Type.Null({ description: 'Not modified (ETag)' }), ...sealed } },
  asset: {
    tags,
    summary: 'A file of the realm\'s theme directory',
    response: {
      200: { description: 'The file, with its own content type', content: { 'application/octet-stream': { schema: Type.String({ contentEncoding: 'binary' }) } } },
      304: Type.Null({ description: 'Not modified (ETag)' }),
      404: { description: 'No such file (text/plain), or no such realm (problem+json idp.realm_not_found)', content: { 'text/plain': { schema: Type.String() } } },
      ...sealed,
    },
  },
} satisfies Record<string, NonNullable<FastifyContextConfig['documented']>>;
