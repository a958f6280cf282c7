// The relying party's side of the suite, with fetch and jose only: discovery, PKCE, authorization URLs, the token
// endpoint, userinfo. Written against the OAuth/OIDC specifications, not against Keyward, so the same calls work on
// any issuer.
import { createHash, randomBytes } from 'node:crypto';
import { problem } from '../core/problem.ts';
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';

export interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint?: string;
  jwks_uri: string;
  end_session_endpoint?: string;
  response_types_supported?: string[];
  code_challenge_methods_supported?: string[];
  id_token_signing_alg_values_supported?: string[];
  authorization_response_iss_parameter_supported?: boolean;
  [k: string]: unknown;
}

export interface ClientTarget {
  id: string;
  /** Absent: a public client (token_endpoint_auth_method none). */
  secret?: string | undefined;
  auth: 'client_secret_basic' | 'client_secret_post' | 'none';
  redirectUri: string;
  postLogoutRedirectUri?: string | undefined;
}

export class ConformanceFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConformanceFailure';
  }
}

/** An assertion of the suite: a failed one fails the test with the message. */
export function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new ConformanceFailure(message);
}

const b64u = (b: Buffer) => b.toString('base64url');

export function pkce(): { verifier: string; challenge: string } {
  const verifier = b64u(randomBytes(32));
  return { verifier, challenge: b64u(createHash('sha256').update(verifier).digest()) };
}

export const randomToken = () => b64u(randomBytes(16));

/** fetch, with a failure that names the server and the reason instead of "fetch failed". */
async function send(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = (e as Error).name === 'TimeoutError' ? 'no answer in time' : (cause?.code ?? cause?.message ?? (e as Error).message);
    throw new ConformanceFailure(`${new URL(url).origin} did not answer (${why})`);
  }
}

/**
 * Refuses a run against an issuer that does not answer at all (503 conformance.issuer_unavailable): every test would
 * fail with the same network error, which says nothing about conformance. Any HTTP answer counts as an answer.
 */
export async function assertIssuerAnswers(issuer: string, timeoutMs = 15_000): Promise<void> {
  try {
    await send(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(timeoutMs) }).then((r) => r.body?.cancel());
  } catch (e) {
    if (e instanceof ConformanceFailure) throw problem('conformance.issuer_unavailable', e.message);
    throw e;
  }
}

export async function fetchJson(url: string, init: RequestInit = {}, timeoutMs = 15_000): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await send(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown;
  try {
    body = text.length ? JSON.parse(text) : undefined;
  } catch {
    body = { _text: text.slice(0, 200) };
  }
  return { status: res.status, body, headers: res.headers };
}

export async function discover(issuer: string): Promise<Discovery> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const r = await fetchJson(url);
  check(r.status === 200 && r.body && typeof r.body === 'object', `GET ${url}: ${r.status}`);
  return r.body as Discovery;
}

export interface AuthRequest {
  client: ClientTarget;
  scope: string;
  state: string;
  nonce: string;
  challenge?: string | undefined;
  method?: string | undefined;
  extra?: Record<string, string> | undefined;
}

export function authorizationUrl(d: Discovery, r: AuthRequest): string {
  const u = new URL(d.authorization_endpoint);
  const p: Record<string, string> = { client_id: r.client.id, redirect_uri: r.client.redirectUri, response_type: 'code', scope: r.scope, state: r.state, nonce: r.nonce };
  if (r.challenge !== undefined) {
    p['code_challenge'] = r.challenge;
    p['code_challenge_method'] = r.method ?? 'S256';
  }
  for (const [k, v] of Object.entries({ ...p, ...r.extra })) u.searchParams.set(k, v);
  return u.href;
}

function clientAuth(c: ClientTarget, body: URLSearchParams, secret = c.secret): Record<string, string> {
  if (c.auth === 'client_secret_basic' && secret !== undefined) {
    // RFC 6749 §2.3.1: form-urlencode id and secret before base64.
    const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
    return { authorization: `Basic ${Buffer.from(`${enc(c.id)}:${enc(secret)}`).toString('base64')}` };
  }
  body.set('client_id', c.id);
  if (c.auth === 'client_secret_post' && secret !== undefined) body.set('client_secret', secret);
  return {};
}

/** POST to the token endpoint with the client's authentication (or another secret, to test refusals). */
export async function tokenRequest(d: Discovery, c: ClientTarget, params: Record<string, string>, opts: { secret?: string } = {}) {
  const body = new URLSearchParams(params);
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...clientAuth(c, body, opts.secret ?? c.secret) };
  return fetchJson(d.token_endpoint, { method: 'POST', headers, body });
}

export interface TokenSet {
  id_token: string;
  access_token: string;
  refresh_token?: string | undefined;
  idClaims: JWTPayload;
}

const jwksCache = new Map<string, JWTVerifyGetKey>();
export function jwks(d: Discovery): JWTVerifyGetKey {
  let k = jwksCache.get(d.jwks_uri);
  if (!k) jwksCache.set(d.jwks_uri, (k = createRemoteJWKSet(new URL(d.jwks_uri))));
  return k;
}

/** Exchanges a code; verifies the ID token (signature, issuer, audience, nonce). */
export async function exchangeCode(d: Discovery, c: ClientTarget, code: string, verifier: string, nonce: string): Promise<TokenSet> {
  const r = await tokenRequest(d, c, { grant_type: 'authorization_code', code, redirect_uri: c.redirectUri, code_verifier: verifier });
  check(r.status === 200, `code exchange: ${r.status} ${JSON.stringify(r.body)}`);
  const { id_token, access_token, refresh_token } = r.body as Record<string, string | undefined>;
  check(typeof id_token === 'string' && typeof access_token === 'string', 'the token response has an id_token and an access_token');
  const { payload } = await jwtVerify(id_token, jwks(d), { issuer: d.issuer, audience: c.id }).catch((e: Error) => {
    throw new ConformanceFailure(`the ID token does not verify: ${e.message}`);
  });
  check(payload['nonce'] === nonce, 'the ID token carries the nonce of the request');
  return { id_token, access_token, refresh_token, idClaims: payload };
}

/** The OAuth error a redirect carries, or the code. */
export function redirectResult(url: string): { code?: string; error?: string; state?: string; iss?: string; fragment: boolean } {
  const u = new URL(url);
  const frag = new URLSearchParams(u.hash.replace(/^#/, ''));
  const q = u.searchParams;
  const get = (k: string) => q.get(k) ?? frag.get(k) ?? undefined;
  return { code: get('code'), error: get('error'), state: get('state'), iss: get('iss'), fragment: frag.has('access_token') || frag.has('id_token') || frag.has('code') };
}

/**
 * A front-channel request sent without a browser: where the issuer sends the user agent. `redirect` is the
 * Location when it is a redirect (3xx), absent when the issuer answered with a page.
 */
export async function frontChannel(url: string): Promise<{ status: number; location?: string | undefined }> {
  const res = await send(url, { redirect: 'manual', signal: AbortSignal.timeout(15_000) });
  await res.body?.cancel();
  const loc = res.headers.get('location');
  return { status: res.status, location: loc === null ? undefined : new URL(loc, url).href };
}
