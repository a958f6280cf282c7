// One oidc-provider instance per realm, configured to the profile: Keycloak URL layout, code + PKCE S256,
// refresh rotation, client credentials, at+jwt access tokens for the configured resource, signing keys held
// by the key service (external signing), persistence in Keyward's store.
import type { MfaAuthority } from './mfa/authority.ts';
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { verify as argonVerify } from '@node-rs/argon2';
import Provider, { errors as oidcErrors, interactionPolicy } from 'oidc-provider';
import type { AuditRecorder } from '../audit/types.ts';
import type { IdpConfig, IdpRealmConfig } from './config.ts';
import { isSealedProblem } from '../keys/errors.ts';
import { namedClientId } from './named-client.ts';
import { classifyProviderError, profileErrorBody, SCOPE_CLAIMS, SEALED_RETRY_AFTER, sealedBody, STANDARD_SCOPES, UNSUPPORTED, type UnsupportedFeature } from './profile.ts';
import { externalSigningKeys, type TokenSigner } from './signing.ts';
import { tokenShapes, type TokenShapes } from './token-shapes.ts';
import type { IdpRepositories } from './store/repositories.ts';
import type { Directory, IdpClient, SecretBox } from './store/directory.ts';
import { BuiltinUserDirectory } from './directories/builtin.ts';
import { DIRECTORY_RETRY_AFTER, DIRECTORY_UNAVAILABLE_CLASS, directoryUnavailableBody, isDirectoryUnavailable, type DirectoryUser, type UserDirectory } from './directories/types.ts';
import type { IdpEvent, IdpTelemetry } from './telemetry.ts';
import { loadTheme, type RealmTheme } from './theme.ts';
import { errorPage, logoutPage, messagePage, PAGE_HEADERS, signedOutPage } from './views.ts';
import { spendDecoy } from './passwords.ts';

export const OIDC_PREFIX = '/protocol/openid-connect';

export interface RealmRuntime {
  name: string;
  issuer: string;
  realm: IdpRealmConfig;
  config: IdpConfig;
  provider: Provider;
  directory: Directory;
  /** Where the realm's users come from (the built-in tables or LDAP); `directory` keeps clients, roles and MFA. */
  users: UserDirectory;
  telemetry: IdpTelemetry;
  /** Keys CSRF tokens of the interaction pages (derived from the cookie keys). */
  csrfKey: Buffer;
  /** The realm's look on its pages (display name, logo, colours, texts). */
  theme: RealmTheme;
  /** Userinfo twins of JWT access tokens and JWS-shaped refresh tokens (Keycloak's token shapes). */
  tokens: TokenShapes;
  /** The realm's MFA authority when it delegates second factors (privacyIDEA); absent: Keyward's own TOTP. */
  mfa?: MfaAuthority | undefined;
}

export interface RealmDeps {
  config: IdpConfig;
  realm: IdpRealmConfig;
  repos: IdpRepositories;
  signer: TokenSigner;
  audit: AuditRecorder;
  telemetry: IdpTelemetry;
  cookieKeys: string[];
  /** Seals TOTP seeds at rest (the key service in a server; absent in offline tools and unit tests). */
  secretBox?: SecretBox | undefined;
  /** The realm's users; the built-in directory when absent. */
  users?: UserDirectory | undefined;
  /** Who checks second factors when not Keyward's own TOTP (privacyIDEA); outlives provider rebuilds. */
  mfa?: MfaAuthority | undefined;
}

export function permissionsFor(realm: IdpRealmConfig, roles: string[]): string[] {
  const out = new Set<string>();
  for (const r of roles) for (const p of realm.role_permissions[r] ?? []) out.add(p);
  return [...out].sort();
}

export interface Assurance {
  level: 'aal0' | 'aal1' | 'aal2' | 'aal3' | 'break_glass';
  methods: string[];
  mfa: boolean;
  source: string;
  at: number;
}

/** RFC 8176 methods that are a second factor after the password: one-time codes, SMS, a key on a phone or token. */
const SECOND_FACTORS = new Set(['otp', 'sms', 'swk', 'hwk']);

export function assuranceFrom(amr: string[] | undefined, at: number): Assurance {
  const methods = amr ?? [];
  const mfa = methods.some((m) => SECOND_FACTORS.has(m));
  return { level: mfa ? 'aal2' : methods.length ? 'aal1' : 'aal0', methods, mfa, source: 'keyward', at };
}

interface SignIn {
  amr?: string[] | undefined;
  acr?: string | undefined;
  authTime?: number | undefined;
}

/**
 * How and when the user signed in, from the code, refresh token or session at hand, else from what an access token
 * recorded at issue (its auth_time, acr and amr claims). `assurance.at` is this time, not the time of the request.
 */
function signIn(src: SignIn | undefined, recorded?: { amr?: string[]; acr?: string; auth_time?: number } | undefined): SignIn {
  return { amr: src?.amr ?? recorded?.amr, acr: src?.acr ?? recorded?.acr, authTime: src?.authTime ?? recorded?.auth_time };
}

const signInClaims = (s: SignIn) => ({ ...(s.authTime ? { auth_time: s.authTime } : {}), ...(s.acr ? { acr: s.acr } : {}), ...(s.amr ? { amr: s.amr } : {}) });

/**
 * The profile requires `scope` or `scp` in every access token: `scope` is Keycloak's space-separated string (the
 * library leaves it out when nothing was granted), `scp` the profile's array, always present.
 */
const grantedScopes = (token: { scope?: string }) => (token.scope ? token.scope.split(' ') : []);

/** Keycloak's form of the realm roles (keycloak-js hasRealmRole reads it), next to the profile's `roles`. */
const realmAccess = (roles: string[]) => ({ realm_access: { roles } });

/** The NetKingdom profile claims of a user (before scope filtering). */
export async function userClaims(dir: Directory, user: DirectoryUser) {
  const roles = await dir.effectiveRoles(user);
  return {
    sub: user.id,
    preferred_username: user.username,
    ...(user.displayName ? { name: user.displayName } : {}),
    ...(user.givenName ? { given_name: user.givenName } : {}),
    ...(user.familyName ? { family_name: user.familyName } : {}),
    ...(user.email ? { email: user.email, email_verified: user.emailVerified } : {}),
    tenant: user.tenant,
    principal_type: user.principalType,
    groups: [...user.groups].sort(),
    roles,
  };
}

export function serviceClaims(c: IdpClient) {
  return { tenant: c.tenant, principal_type: c.principalType, groups: [...c.groups].sort(), roles: [...c.roles].sort() };
}

// Verified secrets are remembered as SHA-256 over a per-process random key, the stored hash and the presented
// secret, so client_credentials does not pay argon2id on every request; the store only ever holds the argon2id
// hash. (A plain hash with a secret fixed-length prefix suffices for a lookup key and costs a tenth of an HMAC.)
const secretCacheKey = randomBytes(32);
const verifiedSecrets = new Map<string, number>();
const SECRET_CACHE_MS = 5 * 60_000;

// Concurrent requests presenting the same secret share one argon2id verification instead of each running their own.
const verifying = new Map<string, Promise<boolean>>();

async function verifyClientSecret(hash: string, presented: string): Promise<boolean> {
  const tag = createHash('sha256').update(secretCacheKey).update(hash).update('\0').update(presented).digest('base64url');
  const until = verifiedSecrets.get(tag);
  if (until && until > Date.now()) return true;
  let pending = verifying.get(tag);
  if (!pending) {
    pending = argonVerify(hash, presented)
      .catch(() => false)
      .then((ok) => {
        verifying.delete(tag);
        if (ok) {
          if (verifiedSecrets.size > 10_000) verifiedSecrets.clear();
          verifiedSecrets.set(tag, Date.now() + SECRET_CACHE_MS);
        }
        return ok;
      });
    verifying.set(tag, pending);
  }
  return pending;
}

export async function createRealmRuntime(deps: RealmDeps): Promise<RealmRuntime> {
  const { config, realm, repos, signer, telemetry } = deps;
  const issuer = `${config.base_url}/realms/${realm.name}`;
  const directory = repos.directory(realm.name, deps.secretBox);
  const users = deps.users ?? new BuiltinUserDirectory(directory, config.argon2);
  const resource = realm.access_token_resource;
  const customScopes = realm.custom_scopes.map((s) => s.name);
  const { keys, publicJwks } = await externalSigningKeys(signer, realm.name);
  const tokens = tokenShapes({ issuer, realm: realm.name, cookieKeys: deps.cookieKeys, publicJwks });
  const theme = await loadTheme(realm);

  const policy = interactionPolicy.base();
  // Step-up: acr_values=aal2 forces a new login when the session was established without a second factor.
  policy.get('login').checks.add(
    new interactionPolicy.Check('acr_step_up', 'a higher authentication level was requested', 'login_required', (ctx: any) => {
      const wanted = String(ctx.oidc.params.acr_values ?? '').split(' ');
      if (wanted.includes('aal2') && ctx.oidc.session?.acr !== 'aal2') return interactionPolicy.Check.REQUEST_PROMPT;
      return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );

  const provider = new Provider(issuer, {
    adapter: repos.adapter(realm.name, directory),
    jwks: { keys },
    cookies: {
      keys: deps.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
      names: { session: `kw_session_${realm.name}`, interaction: `kw_interaction_${realm.name}`, resume: `kw_resume_${realm.name}` },
    },
    routes: {
      authorization: `${OIDC_PREFIX}/auth`,
      token: `${OIDC_PREFIX}/token`,
      jwks: `${OIDC_PREFIX}/certs`,
      userinfo: `${OIDC_PREFIX}/userinfo`,
      end_session: `${OIDC_PREFIX}/logout`,
      introspection: `${OIDC_PREFIX}/token/introspect`,
      revocation: `${OIDC_PREFIX}/revoke`,
    },
    features: {
      devInteractions: { enabled: false },
      externalSigningSupport: { enabled: true, ack: 'experimental-01' },
      clientCredentials: { enabled: true },
      // RFC 7662 §4: a client learns about its own tokens only, not about every client's. A user's token is active
      // only while the user may still sign in, as at userinfo and refresh (Keycloak answers so too): introspection is
      // how a resource server learns of a disabled account before the token expires.
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx: any, _client: any, token: any) =>
          token.clientId === ctx.oidc.client.clientId && (!token.accountId || (await users.getUser(token.accountId))?.enabled === true),
      },
      // RFC 7009 §2.1: a client revokes its own tokens only. The library's default policy, written out: the default
      // prints a notice on stdout, a line outside the server's JSON log.
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx: any, client: any, token: any) => {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          throw new oidcErrors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      userinfo: { enabled: true },
      registration: { enabled: false },
      claimsParameter: { enabled: false },
      // Outside the profile: never advertised or half-honoured (the key API takes bearer tokens only).
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx: any, form: string) => {
          ctx.type = 'html';
          ctx.body = logoutPage(theme, form, ctx.oidc.client?.clientName);
        },
        postLogoutSuccessSource: async (ctx: any) => {
          ctx.type = 'html';
          ctx.body = signedOutPage(theme, ctx.oidc.client?.clientName);
        },
      },
      resourceIndicators: {
        enabled: true,
        // Keycloak clients never send `resource`: every flow (code, refresh, client credentials) resolves to the
        // realm's audience, so every access token is the at+jwt the key API accepts (userinfo takes it too, through
        // its twin: see token-shapes.ts).
        defaultResource: async () => resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: any, indicator: string, client: any) => {
          if (indicator !== resource) throw new oidcErrors.InvalidTarget();
          const c = await directory.getClient(client.clientId);
          return {
            // Every scope of the profile, OIDC ones included: the token (and the token response) then name exactly
            // what was granted. Which scopes a client may ask for is checked per client before this.
            scope: [...STANDARD_SCOPES, ...customScopes].join(' '),
            audience: resource,
            accessTokenTTL: realm.ttl.access_token,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: c?.signingAlg ?? 'ES256' } },
          };
        },
      },
    },
    formats: {
      customizers: {
        // Runs while a JWT access token is being issued: its userinfo twin is stored before the client gets the JWT.
        jwt: async (_ctx: any, token: any, jwt: { payload: Record<string, any> }) => {
          if (token.kind !== 'AccessToken' || !token.accountId) return;
          const twin = new provider.AccessToken({
            client: token.client,
            accountId: token.accountId,
            grantId: token.grantId,
            scope: token.scope,
            claims: token.claims,
            sessionUid: token.sessionUid,
            expiresWithSession: token.expiresWithSession,
            gty: token.gty,
            sid: token.sid,
          });
          twin.jti = tokens.twinId(String(jwt.payload.jti));
          twin.iat = jwt.payload.iat;
          twin.exp = jwt.payload.exp;
          twin.format = 'opaque';
          await twin.save();
        },
      },
    },
    pkce: { required: () => true },
    responseTypes: ['code'],
    scopes: [...STANDARD_SCOPES, ...customScopes],
    claims: { sid: null, ...SCOPE_CLAIMS },
    conformIdTokenClaims: false,
    acrValues: ['aal1', 'aal2'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', ...(realm.public_clients_allowed ? ['none'] : [])],
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256', 'RS256'],
      userinfoSigningAlgValues: ['ES256', 'RS256'],
      introspectionSigningAlgValues: ['ES256', 'RS256'],
      authorizationSigningAlgValues: ['ES256', 'RS256'],
      clientAuthSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
    },
    clientDefaults: { id_token_signed_response_alg: 'ES256', grant_types: ['authorization_code'], response_types: ['code'] },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx: any, client: any) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: realm.ttl.access_token,
      ClientCredentials: realm.ttl.access_token,
      IdToken: realm.ttl.id_token,
      AuthorizationCode: realm.ttl.authorization_code,
      RefreshToken: realm.ttl.refresh_token,
      Session: realm.ttl.session,
      Interaction: realm.ttl.interaction,
      Grant: realm.ttl.grant,
    },
    interactions: {
      policy,
      url: async (_ctx: any, interaction: any) => `/realms/${realm.name}/login/${interaction.uid}`,
    },
    findAccount: async (_ctx: any, sub: string) => {
      const user = await users.getUser(sub);
      // Disabled (or deleted) users get no tokens, whatever the state of their grants.
      if (!user || !user.enabled) return undefined;
      const claims = await userClaims(directory, user);
      return {
        accountId: sub,
        claims: async (use: string, _scope: string, _claims: unknown, _rejected: unknown) => {
          // Userinfo has no code or refresh token at hand: what the access token recorded at issue stands in.
          const e = _ctx?.oidc?.entities;
          const s = signIn(e?.AuthorizationCode ?? e?.RefreshToken ?? _ctx?.oidc?.session, e?.AccessToken?.extra);
          return {
            ...claims,
            assurance: assuranceFrom(s.amr, s.authTime ?? Math.floor(Date.now() / 1000)),
            // The ID token gets these from the library itself; userinfo only from here.
            ...(use === 'userinfo' ? signInClaims(s) : {}),
          };
        },
      };
    },
    extraTokenClaims: async (ctx: any, token: any) => {
      if (token.kind === 'ClientCredentials') {
        const c = await directory.getClient(token.clientId);
        if (!c) return undefined;
        const base = serviceClaims(c);
        const method = c.authMethod === 'private_key_jwt' ? 'private_key_jwt' : 'client_secret';
        return {
          ...base,
          ...realmAccess(base.roles),
          azp: token.clientId,
          scp: grantedScopes(token),
          permissions: permissionsFor(realm, base.roles),
          assurance: { level: 'aal1', methods: [method], mfa: false, source: 'keyward', at: token.iat ?? Math.floor(Date.now() / 1000) },
        };
      }
      if (token.kind === 'AccessToken' && token.accountId) {
        const user = await users.getUser(token.accountId);
        if (!user) return undefined;
        const claims = await userClaims(directory, user);
        const s = signIn(ctx?.oidc?.entities?.AuthorizationCode ?? ctx?.oidc?.entities?.RefreshToken);
        return {
          tenant: claims.tenant,
          principal_type: claims.principal_type,
          preferred_username: claims.preferred_username,
          groups: claims.groups,
          roles: claims.roles,
          ...realmAccess(claims.roles),
          azp: token.clientId,
          scp: grantedScopes(token),
          permissions: permissionsFor(realm, claims.roles),
          assurance: assuranceFrom(s.amr, s.authTime ?? Math.floor(Date.now() / 1000)),
          ...signInClaims(s),
        };
      }
      return undefined;
    },
    clientBasedCORS: (_ctx: any, origin: string, client: any) => corsAllowed(origin, client.redirectUris),
    renderError: async (ctx: any, out: any, _error: unknown) => {
      const u = classifyProviderError(String(out.error), out.error_description);
      const body = profileErrorBody(u, config.profile_version, String(ctx.state?.correlationId ?? randomUUID()), out.error_description);
      ctx.type = 'html';
      ctx.body = errorPageHtml(body, theme);
    },
  });
  provider.proxy = config.proxy;

  // Client secrets are stored as argon2id hashes; oidc-provider compares through this method.
  provider.Client.prototype.compareClientSecret = function (this: any, actual: string) {
    return verifyClientSecret(this.clientSecret, actual);
  };
  // An unknown client costs the caller what a wrong secret does (one argon2id verification), so response times do
  // not tell which client ids exist; the answers were already identical.
  const findClient = provider.Client.find.bind(provider.Client);
  provider.Client.find = async (id: string, ...rest: unknown[]) => {
    const client = await findClient(id, ...(rest as []));
    if (!client) await spendDecoy(config.argon2);
    return client;
  };

  const csrfKey = createHmac('sha256', deps.cookieKeys[0]!).update(`csrf:${realm.name}`).digest();
  const rt: RealmRuntime = { name: realm.name, issuer, realm, config, provider, directory, users, telemetry, csrfKey, theme, tokens, mfa: deps.mfa };
  installProfileErrors(rt);
  return rt;
}

const CREDENTIALED_CORS_ROUTES = new Set(['token', 'revocation', 'introspection']);
const AUTHORIZATION_ROUTES = new Set<string | undefined>(['authorization', 'resume']);
/** Errors that tell the client how the user's authentication went, not that its request was wrong. */
const AUTHENTICATION_OUTCOMES = new Set(['login_required', 'consent_required', 'interaction_required', 'account_selection_required', 'access_denied']);

/**
 * The scopes the request asked for: its scope parameter, else (token endpoint) those of the code or refresh token
 * it redeems; '' when it asked for none.
 */
function requestedScopes(ctx: any, route: string | undefined): string | undefined {
  const asked = ctx.oidc?.params?.scope;
  if (typeof asked === 'string') return asked;
  if (route === 'token') {
    const e = ctx.oidc?.entities;
    return String(e?.AuthorizationCode?.scope ?? e?.RefreshToken?.scope ?? '');
  }
  return AUTHORIZATION_ROUTES.has(route) ? '' : undefined;
}

function redirectError(ctx: any): string | undefined {
  const location = URL.parse(String(ctx.response.get('location') ?? ''));
  return location?.searchParams.get('error') ?? undefined;
}

function addProfileErrorParams(ctx: any, u: UnsupportedFeature): void {
  const location = URL.parse(String(ctx.response.get('location') ?? ''));
  if (!location || location.searchParams.has('profile_error_class')) return;
  location.searchParams.set('profile_error_class', u.errorClass);
  location.searchParams.set('feature', u.feature);
  ctx.set('location', location.href);
}
const USERINFO_PATH = `${OIDC_PREFIX}/userinfo`;
const TOKEN_PARAM_PATHS = new Set([`${OIDC_PREFIX}/token/introspect`, `${OIDC_PREFIX}/revoke`]);

/**
 * Before the library sees a request: a JWT access token at userinfo, introspection or revocation stands for its
 * userinfo twin, a wrapped refresh token for the opaque one inside. Returns the access token found, if any.
 */
async function presentedTokens(rt: RealmRuntime, ctx: any): Promise<{ jti: string; aud: unknown } | undefined> {
  const path: string = ctx.path;
  const userinfo = path === USERINFO_PATH;
  if (userinfo) {
    const m = /^Bearer\s+(\S+)$/i.exec(String(ctx.req.headers.authorization ?? ''));
    const at = m ? await rt.tokens.accessToken(m[1]!) : undefined;
    if (at) ctx.req.headers.authorization = `Bearer ${rt.tokens.twinId(at.jti)}`;
    // Otherwise the token may be in the form body (RFC 6750 §2.2), which the library reads too.
    if (m || ctx.method !== 'POST') return at;
  }
  const tokenEndpoint = path === `${OIDC_PREFIX}/token`;
  if ((!userinfo && !tokenEndpoint && !TOKEN_PARAM_PATHS.has(path)) || typeof ctx.req.body !== 'string') return undefined;
  const form = new URLSearchParams(ctx.req.body);
  const name = userinfo ? 'access_token' : tokenEndpoint ? 'refresh_token' : 'token';
  const value = form.get(name);
  if (!value) return undefined;
  const at = tokenEndpoint ? undefined : await rt.tokens.accessToken(value);
  const replaced = at ? rt.tokens.twinId(at.jti) : userinfo ? value : await rt.tokens.unwrapRefresh(value);
  if (replaced !== value) {
    form.set(name, replaced);
    ctx.req.body = form.toString();
    // The library reads the body as a stream of content-length bytes (replay-body.ts).
    ctx.req.headers['content-length'] = String(Buffer.byteLength(ctx.req.body));
  }
  return at;
}

const CLIENT_CORS_PATHS = new Set([`${OIDC_PREFIX}/token`, ...TOKEN_PARAM_PATHS]);

/**
 * A browser's request to the token, introspection or revocation endpoint from an origin that is none of the named
 * client's redirect URIs' is refused before anything else, alike for a known client, an unknown one and none: the
 * library checks the origin when it finds the client, before authenticating it, so its refusal (naming the client)
 * against an unknown client's invalid_client told which clients exist, and what they may do, to anyone setting an
 * Origin header. Returns the refused origin. The library checks the authenticated client again (clientBasedCORS).
 */
async function originRefused(rt: RealmRuntime, ctx: any): Promise<string | undefined> {
  const origin: string = ctx.get('origin');
  if (!origin || ctx.method !== 'POST' || !CLIENT_CORS_PATHS.has(ctx.path)) return undefined;
  const form = typeof ctx.req.body === 'string' ? Object.fromEntries(new URLSearchParams(ctx.req.body)) : {};
  const id = namedClientId(ctx.get('authorization') || undefined, form);
  const client = id === undefined ? undefined : await rt.directory.getClient(id);
  ctx.state.namedClientKnown = !!client;
  return client?.enabled && corsAllowed(origin, client.redirectUris) ? undefined : origin;
}

const corsAllowed = (origin: string, redirectUris: string[]) => origin !== 'null' && redirectUris.some((u) => URL.parse(u)?.origin === origin);

/** After the library answered: refresh tokens leave wrapped; introspecting a JWT names the JWT, not its twin. */
async function reshapeTokens(rt: RealmRuntime, ctx: any, presented: { jti: string; aud: unknown } | undefined): Promise<void> {
  const body = ctx.body;
  if (ctx.status !== 200 || !body || typeof body !== 'object' || Buffer.isBuffer(body)) return;
  if (ctx.oidc?.route === 'token' && typeof body.refresh_token === 'string') {
    const rtok = await rt.provider.RefreshToken.find(body.refresh_token);
    if (rtok) {
      body.refresh_token = await rt.tokens.wrapRefresh(body.refresh_token, {
        exp: rtok.exp,
        iat: rtok.iat,
        sub: rtok.accountId,
        azp: rtok.clientId,
        scope: rtok.scope,
        sid: rtok.sid,
      });
    }
  }
  if (ctx.oidc?.route === 'introspection' && presented && body.active === true) {
    body.jti = presented.jti;
    body.aud = presented.aud;
  }
}

export function errorPageHtml(body: ReturnType<typeof profileErrorBody>, theme: RealmTheme): string {
  return errorPage(theme, body);
}

/** Every OAuth error oidc-provider returns as JSON gets the profile fields; telemetry sees every outcome. */
function installProfileErrors(rt: RealmRuntime): void {
  // Sealing Keyward takes the signing keys away: the library reports a server_error, which becomes a 503.
  rt.provider.on('server_error', (ctx: any, err: unknown) => {
    if (isSealedProblem(err)) ctx.state.sealed = true;
    if (isDirectoryUnavailable(err)) ctx.state.directoryUnavailable = err;
  });
  rt.provider.use(async (ctx: any, next: () => Promise<void>) => {
    // The id Keyward's server gave the request (a sane client x-request-id, else a new one): one id in every log.
    const correlationId = String(ctx.req.keywardRequestId ?? randomUUID());
    ctx.state.correlationId = correlationId;
    ctx.set('x-correlation-id', correlationId);
    ctx.set('x-request-id', correlationId);
    // Set before the library renders, so the hash of an inline script it needs (the form_post page that finishes a
    // logout) is added to script-src; no other script may run.
    ctx.set('content-security-policy', `${PAGE_HEADERS['content-security-policy']}; script-src 'none'`);
    const refusedOrigin = await originRefused(rt, ctx);
    const presented = refusedOrigin ? undefined : await presentedTokens(rt, ctx);
    if (refusedOrigin) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: `origin ${refusedOrigin} is not allowed for this client` };
    } else await next();
    await reshapeTokens(rt, ctx, presented);
    // keycloak-js calls the token endpoint with credentials: 'include', which the browser lets it read only with
    // Allow-Credentials. Granted where the library has already checked the origin against the client's redirect
    // URIs (it echoes an allowed Origin, removes it otherwise); these endpoints read no cookies.
    const origin = ctx.get('origin');
    if (origin && ctx.method !== 'OPTIONS' && CREDENTIALED_CORS_ROUTES.has(ctx.oidc?.route) && ctx.response.get('access-control-allow-origin') === origin) {
      ctx.set('access-control-allow-credentials', 'true');
    }
    // RFC 6749 §5.1: a response carrying tokens or other credentials has Pragma: no-cache beside Cache-Control:
    // no-store (HTTP/1.0 caches); the library sets only the latter.
    if (ctx.response.get('cache-control') === 'no-store') ctx.set('pragma', 'no-cache');
    // Pages the library renders (logout confirmation, errors) get the same strict headers as ours.
    if (ctx.response.is('html')) {
      const hashes = String(ctx.response.get('content-security-policy') ?? '').match(/'sha256-[A-Za-z0-9+/=]+'/g) ?? [];
      for (const [k, v] of Object.entries(PAGE_HEADERS)) if (k !== 'content-type') ctx.set(k, v);
      ctx.set('content-security-policy', `${PAGE_HEADERS['content-security-policy']}; script-src ${hashes.length > 0 ? hashes.join(' ') : "'none'"}`);
    }
    // Only the query response mode is served (the profile guard refuses the others); say so.
    if (ctx.oidc?.route === 'discovery' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') ctx.body.response_modes_supported = ['query'];
    if (ctx.state.sealed) {
      const body = sealedBody(correlationId);
      ctx.status = 503;
      ctx.set('retry-after', SEALED_RETRY_AFTER);
      if (ctx.response.is('html')) ctx.body = messagePage(rt.theme, 'Temporarily unavailable', body.error_description);
      else ctx.body = body;
      return;
    }
    const route: string | undefined = ctx.oidc?.route;
    const params = ctx.oidc?.params ?? {};
    // The client the request named, authenticated or not: demand is attributed to it (client_known tells which).
    const clientId: string | undefined = ctx.oidc?.client?.clientId ?? namedClientId(ctx.get('authorization') || undefined, params);
    const grantType: string | undefined = route === 'token' ? params.grant_type : AUTHORIZATION_ROUTES.has(route) ? 'authorization_code' : undefined;
    const base = {
      realm: rt.name,
      client_id: clientId,
      client_known: clientId === undefined ? undefined : ctx.oidc?.client?.clientId === clientId || ctx.state.namedClientKnown === true,
      endpoint: String(ctx.path),
      grant_type: grantType,
      requested_scopes: requestedScopes(ctx, route),
      correlation_id: correlationId,
      source_ip: ctx.ip,
    };
    if (ctx.state.directoryUnavailable) return directoryDown(rt, ctx, base);
    // A known endpoint asked with the wrong method: the library's bare "Not Found" becomes a profile error.
    if (ctx.status === 404 && (ctx.body == null || typeof ctx.body === 'string')) {
      const u = UNSUPPORTED.unknown_endpoint;
      ctx.status = u.status;
      ctx.body = profileErrorBody(u, rt.config.profile_version, correlationId, `no ${ctx.method} ${ctx.path} in the profile`);
      await rt.telemetry.emit({ ...base, event: 'invalid_request', result: 'rejected', error_class: u.errorClass, feature_category: u.feature });
      return;
    }
    const body = ctx.body;
    if (ctx.status >= 400 && body && typeof body === 'object' && !Buffer.isBuffer(body) && typeof body.error === 'string') {
      // The library answers invalid_request when an authenticated client uses a grant it may not; RFC 6749 §5.2
      // calls that unauthorized_client.
      const grantRefused = route === 'token' && body.error === 'invalid_request' && grantType !== undefined && ctx.oidc?.client && !ctx.oidc.client.grantTypeAllowed(grantType);
      const u = grantRefused ? UNSUPPORTED.grant_not_allowed : classifyProviderError(body.error, body.error_description);
      ctx.body = { ...body, ...profileErrorBody(u, rt.config.profile_version, correlationId, body.error_description) };
      await rt.telemetry.emit({
        ...base,
        event: body.error === 'invalid_client' ? 'invalid_redirect_or_client' : route === 'token' ? 'authentication_failed' : 'invalid_request',
        result: 'failure',
        error_class: u.errorClass,
        feature_category: u.feature,
      });
    } else if (route === 'token' && ctx.status === 200) {
      await rt.telemetry.emit({ ...base, event: 'token_issued', result: 'success', feature_category: String(grantType), principal: ctx.oidc?.account?.accountId ?? clientId });
    } else if (AUTHORIZATION_ROUTES.has(route) && ctx.status === 303) {
      const error = redirectError(ctx);
      if (error && AUTHENTICATION_OUTCOMES.has(error)) {
        // prompt=none without a session, a denied interaction: an unsuccessful authentication, reported to the client.
        await rt.telemetry.emit({ ...base, event: 'authentication_failed', result: 'failure', error_class: error, feature_category: 'authorization_code' });
      } else if (error) {
        // The library's own refusal of the request: classified like ours, for the client as for telemetry.
        const u = classifyProviderError(error, undefined);
        addProfileErrorParams(ctx, u);
        await rt.telemetry.emit({ ...base, event: 'invalid_request', result: 'rejected', error_class: u.errorClass, feature_category: u.feature });
      } else if (route === 'authorization') {
        await rt.telemetry.emit({ ...base, event: 'flow_start', result: 'success', feature_category: 'authorization_code' });
      }
    } else if (route === 'end_session_confirm' || route === 'end_session') {
      await rt.telemetry.emit({ ...base, event: 'logout', result: ctx.status < 400 ? 'success' : 'failure', feature_category: 'logout', ...(ctx.status < 400 ? {} : { error_class: 'invalid_request' }) });
    }
  });
}

/**
 * The realm's user directory did not answer while a token, userinfo or an authorization with a session needed the
 * user: 503 with an OAuth error (or the page saying so), never tokens from another source. An unsuccessful
 * authentication for telemetry and the audit trail, its reason directory_unavailable.
 */
async function directoryDown(rt: RealmRuntime, ctx: any, base: Omit<IdpEvent, 'event' | 'result' | 'feature_category'>): Promise<void> {
  ctx.status = 503;
  ctx.set('retry-after', DIRECTORY_RETRY_AFTER);
  ctx.set('cache-control', 'no-store');
  if (ctx.response.is('html')) ctx.body = messagePage(rt.theme, 'Sign-in unavailable', 'Signing in is not possible right now because the user directory cannot be reached. Try again in a few minutes.');
  else ctx.body = directoryUnavailableBody(base.correlation_id);
  await rt.telemetry
    .emit({ ...base, event: 'authentication_failed', result: 'failure', error_class: DIRECTORY_UNAVAILABLE_CLASS, feature_category: 'directory', reason: DIRECTORY_UNAVAILABLE_CLASS })
    .catch(() => {});
}
