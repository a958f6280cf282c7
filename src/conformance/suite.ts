// What each catalogue test does. Every test talks to the issuer the way an application does (front channel through
// Chromium or a plain request, back channel with fetch) and fails with a sentence saying what the issuer did instead.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { TOTP, Secret } from 'otpauth';
import type { IdentityDocument } from '../identity/model.ts';
import { validateIdentityDocument } from '../identity/validate.ts';
import type { BrowserDriver, BrowserSession } from './browser.ts';
import { eventDelta, type EventCount } from './metrics.ts';
import {
  authorizationUrl,
  check,
  exchangeCode,
  fetchJson,
  frontChannel,
  jwks,
  pkce,
  randomToken,
  redirectResult,
  tokenRequest,
  type ClientTarget,
  type Discovery,
  type TokenSet,
} from './rp.ts';

export interface UserTarget {
  username: string;
  password: string;
}

export interface ConformanceTarget {
  issuer: string;
  client: ClientTarget;
  user: UserTarget;
  /** Scopes of the sign-in; default `openid profile email groups`. */
  scope?: string | undefined;
  /** A client whose sign-ins require a second factor, and who signs in there (default: `user`). */
  mfaClient?: ClientTarget | undefined;
  mfaUser?: UserTarget | undefined;
  /** The base32 seed of the MFA user's TOTP token, when the suite may use it (e.g. a test token in privacyIDEA). */
  mfaTotpSecret?: string | undefined;
  /** The canonical identity document the issuer was provisioned from. */
  document?: { data: unknown; source: string } | undefined;
}

/** Thrown by a test whose precondition the target does not meet. */
export class Skip extends Error {}

export interface SuiteContext {
  target: ConformanceTarget;
  keyward: boolean;
  discovery(): Promise<Discovery>;
  browser(): Promise<BrowserDriver>;
  /** One browser sign-in of `user` at `client`, shared by the tests that look at its tokens. */
  signIn(): Promise<{ tokens: TokenSet; session: BrowserSession }>;
  /** Ids of the tests that ran before this one (telemetry tests look at what those caused). */
  ran: Set<string>;
  /** Telemetry counters before the run and now (Keyward only). */
  events(): Promise<{ before: EventCount[]; now: EventCount[] } | undefined>;
  realm: string;
}

const req = createRequire(import.meta.url);
let claimsValidator: ((c: unknown) => boolean) & { errors?: unknown } | undefined;
function profileClaims() {
  if (!claimsValidator) {
    const Ajv = req('ajv');
    const addFormats = req('ajv-formats');
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    claimsValidator = ajv.compile(JSON.parse(readFileSync(new URL('../../schemas/iam-profile-v0.2.claims.schema.json', import.meta.url), 'utf8')));
  }
  return claimsValidator!;
}

const scopeOf = (ctx: SuiteContext) => ctx.target.scope ?? 'openid profile email groups';

/** Opens the authorization endpoint in a fresh browser session and signs in; returns the captured redirect. */
export async function browserSignIn(ctx: SuiteContext, client: ClientTarget, user: UserTarget, scope: string) {
  const d = await ctx.discovery();
  const session = await (await ctx.browser()).session([client.redirectUri, ...(client.postLogoutRedirectUri ? [client.postLogoutRedirectUri] : [])]);
  const { verifier, challenge } = pkce();
  const state = randomToken();
  const nonce = randomToken();
  await session.open(authorizationUrl(d, { client, scope, state, nonce, challenge }));
  const at = session.captured() ? session.captured()! : await session.signIn(user.username, user.password);
  return { d, session, verifier, state, nonce, at };
}

/** Checks a captured redirect for a code with the right state (and iss, when the issuer says it sends one). */
function codeFrom(d: Discovery, captured: string | undefined, state: string, at: string): string {
  check(captured, `the browser did not come back to the redirect URI; it is at ${new URL(at).origin}${new URL(at).pathname}`);
  const r = redirectResult(captured);
  check(!r.error, `the issuer redirected with error=${r.error}`);
  check(r.code, 'the redirect carries no code');
  check(r.state === state, 'the redirect carries the state of the request');
  if (d.authorization_response_iss_parameter_supported) check(r.iss === d.issuer, `iss in the redirect is ${r.iss}, not the issuer`);
  return r.code;
}

export async function signInOnce(ctx: SuiteContext): Promise<{ tokens: TokenSet; session: BrowserSession }> {
  const { client, user } = ctx.target;
  const s = await browserSignIn(ctx, client, user, scopeOf(ctx));
  const code = codeFrom(s.d, s.session.captured(), s.state, s.at);
  const tokens = await exchangeCode(s.d, client, code, s.verifier, s.nonce);
  return { tokens, session: s.session };
}

/** No code for this request: the issuer answered with a page, or redirected to the client with an error. */
async function expectNoCode(url: string, redirectUri: string, what: string): Promise<{ status: number; error?: string | undefined }> {
  const r = await frontChannel(url);
  if (r.location?.startsWith(redirectUri)) {
    const res = redirectResult(r.location);
    check(!res.code && !res.fragment, `${what}: the issuer sent a code or token to the client`);
    check(res.error, `${what}: the issuer redirected to the client without an error`);
    return { status: r.status, error: res.error };
  }
  // Anything else (an error page, the issuer's own login page) sends nothing to the client yet; a login page would
  // issue a code later, so only an error status or an error redirect counts as refused.
  check(r.status >= 400, `${what}: the issuer answered ${r.status}${r.location ? ` → ${new URL(r.location).pathname}` : ''} instead of refusing`);
  return { status: r.status };
}

const authUrl = async (ctx: SuiteContext, client: ClientTarget, extra: Record<string, string> = {}, withPkce = true) =>
  authorizationUrl(await ctx.discovery(), { client, scope: 'openid', state: randomToken(), nonce: randomToken(), challenge: withPkce ? pkce().challenge : undefined, extra });

const bareOrigin = (uri: string) => `${new URL(uri).origin}/`;

const isPublicJwk = (k: Record<string, unknown>) => !['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((m) => m in k);

/** Expected claims of a user of the canonical document (effective roles: direct ones and those of the groups). */
export function canonicalClaims(doc: IdentityDocument, username: string): Record<string, unknown> | undefined {
  const u = doc.users.find((x) => x.username === username);
  if (!u) return undefined;
  const groups = doc.memberships.filter((m) => m.user_id === u.id).map((m) => m.group);
  const roles = new Set(u.roles ?? []);
  for (const g of doc.groups) if (groups.includes(g.name)) for (const r of g.roles ?? []) roles.add(r);
  return {
    sub: u.id,
    preferred_username: u.username,
    ...(u.email ? { email: u.email } : {}),
    tenant: doc.tenant,
    principal_type: u.principal_type,
    groups: groups.sort(),
    roles: [...roles].sort(),
  };
}

const sorted = (v: unknown) => (Array.isArray(v) ? [...v].sort() : v);

type Impl = (ctx: SuiteContext) => Promise<void>;

export const IMPLEMENTATIONS: Record<string, Impl> = {
  async 'DISC-1'(ctx) {
    const d = await ctx.discovery();
    check(d.issuer === ctx.target.issuer, `issuer is ${JSON.stringify(d.issuer)}, fetched for ${ctx.target.issuer}`);
    for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri'] as const) check(typeof d[k] === 'string', `${k} is missing`);
    check(d.response_types_supported?.includes('code'), 'response_types_supported lacks code');
    check(d.code_challenge_methods_supported?.includes('S256'), 'code_challenge_methods_supported lacks S256');
  },
  async 'DISC-2'(ctx) {
    const d = await ctx.discovery();
    const r = await fetchJson(d.jwks_uri);
    check(r.status === 200 && Array.isArray(r.body?.keys) && r.body.keys.length > 0, `GET jwks_uri: ${r.status}, no keys`);
    for (const k of r.body.keys as Record<string, unknown>[]) {
      check(typeof k['kid'] === 'string' && typeof k['kty'] === 'string', 'every key has kid and kty');
      check(isPublicJwk(k), `key ${String(k['kid'])} has private members`);
    }
    const algs = d.id_token_signing_alg_values_supported ?? [];
    check(algs.some((a) => ['ES256', 'RS256', 'PS256', 'EdDSA', 'ES384', 'RS384'].includes(a)), `no asymmetric ID token algorithm in ${JSON.stringify(algs)}`);
  },
  async 'DISC-3'(ctx) {
    const r = await fetchJson(`${ctx.target.issuer}/profile`);
    check(r.status === 200, `GET {issuer}/profile: ${r.status}`);
    check(r.body?.profile === 'netkingdom-iam' && r.body?.version === '0.2', `profile ${r.body?.profile} ${r.body?.version}`);
    check(r.body?.issuer === ctx.target.issuer, 'the profile document names the issuer');
  },
  async 'LOGIN-1'(ctx) {
    const { tokens } = await ctx.signIn();
    check(typeof tokens.idClaims.sub === 'string', 'the ID token has a subject');
    const alg = decodeProtectedHeader(tokens.id_token).alg;
    const d = await ctx.discovery();
    check(alg && (d.id_token_signing_alg_values_supported ?? [alg]).includes(alg), `ID token alg ${alg} is not in the discovery document`);
  },
  async 'LOGIN-2'(ctx) {
    const { client, user } = ctx.target;
    const s = await browserSignIn(ctx, client, { username: user.username, password: `not-the-password-${randomToken()}` }, 'openid');
    try {
      check(!s.session.captured(), 'a wrong password produced a redirect to the client');
      check(new URL(s.at).origin === new URL(ctx.target.issuer).origin, 'after a wrong password the browser is still at the issuer');
    } finally {
      await s.session.close();
    }
  },
  async 'LOGIN-3'(ctx) {
    // Its own sign-in: presenting a used refresh token revokes the grant, and the other tests still use theirs.
    const { tokens, session } = await signInOnce(ctx);
    await session.close();
    if (!tokens.refresh_token) throw new Skip('the issuer returned no refresh token to this client');
    const d = await ctx.discovery();
    const first = await tokenRequest(d, ctx.target.client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    check(first.status === 200 && typeof first.body?.access_token === 'string', `refresh: ${first.status} ${JSON.stringify(first.body)}`);
    check(typeof first.body.refresh_token === 'string' && first.body.refresh_token !== tokens.refresh_token, 'the refresh returns a new refresh token (rotation)');
    const again = await tokenRequest(d, ctx.target.client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    check(again.status === 400 && again.body?.error === 'invalid_grant', `the used refresh token: ${again.status} ${again.body?.error}, expected 400 invalid_grant`);
  },
  async 'CLAIMS-1'(ctx) {
    const { tokens } = await ctx.signIn();
    const validate = profileClaims();
    check(validate(tokens.idClaims), `the ID token does not match the profile claims schema: ${JSON.stringify(validate.errors)}`);
  },
  async 'CLAIMS-2'(ctx) {
    const { tokens } = await ctx.signIn();
    const d = await ctx.discovery();
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks(d), { issuer: d.issuer }).catch((e: Error) => {
      throw new Error(`the access token is not a JWT the issuer's keys verify: ${e.message}`);
    });
    check(payload.sub === tokens.idClaims.sub, 'the access token has the ID token\'s subject');
    if (ctx.keyward) {
      check(protectedHeader.typ === 'at+jwt', `typ is ${protectedHeader.typ}, the profile says at+jwt`);
      const profile = await fetchJson(`${ctx.target.issuer}/profile`);
      const aud = profile.body?.access_token?.audience;
      check(aud === undefined || [payload.aud].flat().includes(aud), `audience ${JSON.stringify(payload.aud)} lacks ${aud}`);
    }
  },
  async 'CLAIMS-3'(ctx) {
    const { tokens } = await ctx.signIn();
    const d = await ctx.discovery();
    const r = await fetchJson(d.userinfo_endpoint!, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
    check(r.status === 200, `userinfo: ${r.status}`);
    for (const k of ['sub', 'preferred_username', 'groups', 'roles'])
      check(JSON.stringify(sorted(r.body?.[k])) === JSON.stringify(sorted(tokens.idClaims[k])), `userinfo ${k} ${JSON.stringify(r.body?.[k])} differs from the ID token's ${JSON.stringify(tokens.idClaims[k])}`);
  },
  async 'DATA-1'(ctx) {
    const doc = ctx.target.document!;
    const findings = validateIdentityDocument(doc.data, doc.source).filter((f) => f.severity === 'error');
    check(findings.length === 0, `${findings.length} finding(s): ${findings.slice(0, 3).map((f) => `${f.code} ${f.path ?? ''}`).join('; ')}`);
  },
  async 'DATA-2'(ctx) {
    const expected = canonicalClaims(ctx.target.document!.data as IdentityDocument, ctx.target.user.username);
    check(expected, `user ${ctx.target.user.username} is not in the canonical document`);
    const { tokens } = await ctx.signIn();
    const got: JWTPayload = tokens.idClaims;
    for (const [k, v] of Object.entries(expected))
      check(JSON.stringify(sorted(got[k])) === JSON.stringify(v), `${k}: ${JSON.stringify(got[k])}, the canonical data says ${JSON.stringify(v)}`);
  },
  async 'REDIR-1'(ctx) {
    const c = ctx.target.client;
    const evil = 'https://attacker.invalid/cb';
    const r = await frontChannel(await authUrl(ctx, { ...c, redirectUri: evil }));
    check(!r.location?.startsWith(evil), 'the issuer redirected to an unregistered URI');
    check(r.status >= 400, `an unregistered redirect URI: ${r.status}, expected an error page`);
  },
  async 'REDIR-2'(ctx) {
    const c = ctx.target.client;
    const longer = `${c.redirectUri.replace(/\/$/, '')}/extra`;
    const r = await frontChannel(await authUrl(ctx, { ...c, redirectUri: longer }));
    check(!r.location?.startsWith(longer), 'the issuer accepted a redirect URI by prefix');
    check(r.status >= 400, `a longer redirect URI: ${r.status}, expected an error page`);
  },
  async 'REDIR-3'(ctx) {
    await expectNoCode(await authUrl(ctx, ctx.target.client, {}, false), ctx.target.client.redirectUri, 'without PKCE');
  },
  async 'CLIENT-1'(ctx) {
    const r = await tokenRequest(await ctx.discovery(), ctx.target.client, { grant_type: 'authorization_code', code: 'x', redirect_uri: ctx.target.client.redirectUri, code_verifier: pkce().verifier }, { secret: `wrong-${randomToken()}` });
    check(r.status === 401 && r.body?.error === 'invalid_client', `a wrong secret: ${r.status} ${r.body?.error}, expected 401 invalid_client`);
  },
  async 'CLIENT-2'(ctx) {
    const r = await tokenRequest(await ctx.discovery(), ctx.target.client, { grant_type: 'client_credentials' });
    check(r.status === 400 && ['unauthorized_client', 'unsupported_grant_type'].includes(r.body?.error), `client_credentials: ${r.status} ${r.body?.error}`);
  },
  async 'CLIENT-3'(ctx) {
    const c = ctx.target.client;
    const r = await frontChannel(await authUrl(ctx, { ...c, id: `unknown-${randomToken()}` }));
    check(!r.location?.startsWith(c.redirectUri), 'the issuer redirected for an unknown client');
    check(r.status >= 400, `an unknown client: ${r.status}, expected an error page`);
  },
  async 'CLIENT-4'(ctx) {
    const c = ctx.target.client;
    const r = await expectNoCode(await authUrl(ctx, c, { scope: 'openid not-a-scope-of-this-client' }), c.redirectUri, 'an unknown scope');
    check(r.error === undefined || r.error === 'invalid_scope', `an unknown scope: error=${r.error}, expected invalid_scope`);
  },
  async 'LOGOUT-1'(ctx) {
    const { tokens, session } = await ctx.signIn();
    const d = await ctx.discovery();
    const c = ctx.target.client;
    check(d.end_session_endpoint, 'the discovery document has no end_session_endpoint');
    const before = session.captured();
    const u = new URL(d.end_session_endpoint);
    const state = randomToken();
    u.search = new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: c.postLogoutRedirectUri!, client_id: c.id, state }).toString();
    await session.open(u.href);
    await session.confirmLogout();
    const back = session.captured();
    check(back !== before && back?.startsWith(c.postLogoutRedirectUri!), 'the browser did not return to the post-logout redirect URI');
    check(new URL(back!).searchParams.get('state') === state, 'the post-logout redirect carries the state');
    // The session is gone: a silent authorization request cannot sign in.
    await session.open(authorizationUrl(d, { client: c, scope: 'openid', state: randomToken(), nonce: randomToken(), challenge: pkce().challenge, extra: { prompt: 'none' } }));
    const silent = session.captured();
    check(silent && silent !== back, 'prompt=none after logout did not come back to the client');
    const r = redirectResult(silent);
    check(!r.code && r.error === 'login_required', `prompt=none after logout: ${r.code ? 'a code' : `error=${r.error}`}, expected login_required`);
  },
  async 'MFA-1'(ctx) {
    const client = ctx.target.mfaClient!;
    const user = ctx.target.mfaUser ?? ctx.target.user;
    const s = await browserSignIn(ctx, client, user, 'openid');
    try {
      check(!s.session.captured(), 'the password alone produced a redirect to the client');
      const shown = await s.session.totpSecret();
      check(shown || (await s.session.asksForCode()), 'after the password the issuer asks for no second factor');
      // An enrolment page shows a seed; an enrolled user's seed is the suite's only when it was given one.
      const secret = shown ?? ctx.target.mfaTotpSecret;
      if (!secret) return;
      const code = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate();
      const at = await s.session.submitCode(code);
      const c = codeFrom(s.d, s.session.captured(), s.state, at);
      const tokens = await exchangeCode(s.d, client, c, s.verifier, s.nonce);
      const amr = tokens.idClaims['amr'];
      check(tokens.idClaims['acr'] === 'aal2' || (Array.isArray(amr) && amr.includes('otp')), `after TOTP acr is ${String(tokens.idClaims['acr'])}, amr ${JSON.stringify(amr)}`);
    } finally {
      await s.session.close();
    }
  },
  async 'NEG-1'(ctx) {
    const c = ctx.target.client;
    const r = await expectNoCode(await authUrl(ctx, c, { response_type: 'token' }), c.redirectUri, 'response_type=token');
    check(r.error === undefined || ['unsupported_response_type', 'invalid_request', 'unauthorized_client'].includes(r.error), `response_type=token: error=${r.error}`);
  },
  async 'NEG-2'(ctx) {
    const c = ctx.target.client;
    await expectNoCode(await authUrl(ctx, c, { code_challenge_method: 'plain', code_challenge: randomToken() + randomToken() + 'abcdefghijk' }, false), c.redirectUri, 'PKCE plain');
  },
  async 'NEG-3'(ctx) {
    const r = await tokenRequest(await ctx.discovery(), ctx.target.client, { grant_type: 'password', username: ctx.target.user.username, password: ctx.target.user.password, scope: 'openid' });
    check(r.status === 400 && ['unsupported_grant_type', 'unauthorized_client', 'invalid_grant'].includes(r.body?.error), `password grant: ${r.status} ${r.body?.error}`);
    check(!r.body?.access_token, 'the password grant issued a token');
  },
  async 'NEG-4'(ctx) {
    const c = ctx.target.client;
    const wild = `${bareOrigin(c.redirectUri)}*`;
    const r = await frontChannel(await authUrl(ctx, { ...c, redirectUri: wild }));
    check(!r.location || new URL(r.location).origin === new URL(ctx.target.issuer).origin, 'the issuer redirected to a wildcard redirect URI');
    check(r.status >= 400, `a wildcard redirect URI: ${r.status}`);
  },
  async 'NEG-5'(ctx) {
    const issuer = ctx.target.issuer;
    const d = await ctx.discovery();
    const origin = new URL(issuer).origin;
    const json = { accept: 'application/json' };
    const cases: Array<[string, Promise<{ status: number; body: any }>, number, string]> = [
      ['device authorization', fetchJson(`${issuer}/protocol/openid-connect/auth/device`, { method: 'POST', headers: json }), 400, 'feature_not_supported_by_profile'],
      ['dynamic registration', fetchJson(`${issuer}/clients-registrations/openid-connect`, { method: 'POST', headers: { ...json, 'content-type': 'application/json' }, body: '{}' }), 400, 'feature_not_supported_by_profile'],
      ['token exchange', tokenRequest(d, ctx.target.client, { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: 'x' }), 400, 'available_in_keycloak_mode_only'],
      ['SAML', fetchJson(`${issuer}/protocol/saml/descriptor`, { headers: json }), 404, 'available_in_keycloak_mode_only'],
      ['admin REST API', fetchJson(`${origin}/admin/realms/${ctx.realm}/users`, { headers: json }), 404, 'available_in_keycloak_mode_only'],
    ];
    for (const [what, p, status, cls] of cases) {
      const r = await p;
      check(r.status === status && r.body?.profile_error_class === cls, `${what}: ${r.status} ${r.body?.profile_error_class}, expected ${status} ${cls}`);
    }
    const claims = await frontChannel(await authUrl(ctx, ctx.target.client, { claims: '{"id_token":{"email":null}}' }));
    const q = claims.location ? new URL(claims.location).searchParams : undefined;
    check(q?.get('profile_error_class') === 'feature_not_supported_by_profile', `the claims parameter: ${claims.status} ${q?.get('error')}, expected feature_not_supported_by_profile`);
  },
  async 'TEL-1'(ctx) {
    if (!ctx.ran.has('LOGIN-1')) throw new Skip('no sign-in ran');
    const delta = await telemetryDelta(ctx);
    const c = ctx.target.client.id;
    const count = (event: string, result?: string) => delta.filter((e) => e.event === event && (result === undefined || e.result === result) && e.client_id === c).reduce((n, e) => n + e.value, 0);
    check(count('flow_start') > 0, 'no flow_start counted for the client');
    check(count('token_issued', 'success') > 0, 'no token_issued counted for the client');
    if (ctx.ran.has('LOGIN-2')) check(count('authentication_failed') > 0, 'the wrong password was not counted as authentication_failed');
  },
  async 'TEL-2'(ctx) {
    const delta = await telemetryDelta(ctx);
    let checked = 0;
    for (const [id, expected] of Object.entries(REFUSAL_EVENTS)) {
      if (!ctx.ran.has(id)) continue;
      for (const [event, errorClass, feature] of expected) {
        checked++;
        check(
          delta.some((e) => e.event === event && e.error_class === errorClass && e.feature === feature),
          `${id} was not counted as ${event} ${errorClass} (${feature}); counted: ${summarise(delta)}`,
        );
      }
    }
    if (checked === 0) throw new Skip('no refusal test ran');
  },
};

/** What Keyward counts for each refusal the suite provokes: event, profile error class, feature (KeyCape §9.2, §13.2). */
const REFUSAL_EVENTS: Record<string, Array<[string, string, string]>> = {
  'REDIR-1': [['invalid_redirect_or_client', 'invalid_profile_usage', 'redirect_uri']],
  'REDIR-2': [['invalid_redirect_or_client', 'invalid_profile_usage', 'redirect_uri']],
  'REDIR-3': [['invalid_request', 'invalid_profile_usage', 'pkce_required']],
  'CLIENT-1': [['invalid_redirect_or_client', 'invalid_profile_usage', 'client']],
  'CLIENT-3': [['invalid_redirect_or_client', 'invalid_profile_usage', 'client']],
  'CLIENT-4': [['invalid_request', 'invalid_profile_usage', 'scope']],
  'NEG-1': [['unsupported_request', 'rejected_for_profile_safety', 'implicit_or_hybrid_response_type']],
  'NEG-2': [['unsupported_request', 'rejected_for_profile_safety', 'pkce_plain']],
  'NEG-3': [['unsupported_request', 'rejected_for_profile_safety', 'resource_owner_password_grant']],
  'NEG-4': [['unsupported_request', 'rejected_for_profile_safety', 'wildcard_redirect_uri']],
  'NEG-5': [
    ['unsupported_request', 'feature_not_supported_by_profile', 'device_authorization_grant'],
    ['unsupported_request', 'feature_not_supported_by_profile', 'dynamic_client_registration'],
    ['unsupported_request', 'feature_not_supported_by_profile', 'claims_parameter'],
    ['unsupported_request', 'available_in_keycloak_mode_only', 'token_exchange'],
    ['unsupported_request', 'available_in_keycloak_mode_only', 'saml'],
    ['admin_unsupported', 'available_in_keycloak_mode_only', 'admin_rest_api'],
  ],
};

async function telemetryDelta(ctx: SuiteContext): Promise<EventCount[]> {
  const e = await ctx.events();
  check(e, 'keyward_idp_events_total is not readable at the metrics URL');
  return eventDelta(e.before, e.now).filter((x) => x.realm === ctx.realm || x.realm === '-');
}

const summarise = (d: EventCount[]) => d.map((e) => `${e.event}/${e.result}/${e.error_class || '-'}×${e.value}`).join(', ') || 'nothing';
