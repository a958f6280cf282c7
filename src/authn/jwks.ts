// The IdP's signing keys: discovery at startup, periodic refresh, and at most one extra fetch per
// min-refresh interval when a token names an unknown kid.
import { importJWK, type JWK } from 'jose';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { authError, jwksUnavailable } from './errors.ts';

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

export interface JwksOptions {
  url: string;
  ttlMs: number;
  /** Past ttlMs, how long the last keys stay in use while fetches fail. */
  maxStaleMs: number;
  minRefreshMs: number;
  timeoutMs: number;
  logger: Logger;
  clock: Clock;
}

async function fetchJson(url: string, timeoutMs: number): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' }, redirect: 'error' });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.json();
}

/** Resolves jwks_uri from an OpenID discovery document; any failure is a startup error naming the URL. */
export async function discoverJwksUri(discoveryUrl: string, issuer: string, timeoutMs: number, field = 'authn.discovery_url'): Promise<string> {
  let doc: unknown;
  try {
    doc = await fetchJson(discoveryUrl, timeoutMs);
  } catch (err) {
    throw new Error(`${field}: discovery at ${discoveryUrl} failed: ${(err as Error).message}`);
  }
  const d = doc as { issuer?: unknown; jwks_uri?: unknown } | null;
  if (!d || typeof d.jwks_uri !== 'string') throw new Error(`${field}: ${discoveryUrl} has no jwks_uri`);
  if (d.issuer !== issuer) throw new Error(`${field}: ${discoveryUrl} names issuer ${String(d.issuer)}, expected ${issuer}`);
  return d.jwks_uri;
}

export class JwksSource {
  readonly #o: JwksOptions;
  /** Immutable snapshot, swapped whole on refresh. */
  #keys: ReadonlyMap<string, JWK> = new Map();
  #imported = new Map<string, VerifyKey>();
  #loadedAt = -Infinity;
  #attemptedAt = -Infinity;
  /** Whether the newest fetch failed: an unknown kid is then unverifiable (503), not unknown (401). */
  #lastFailed = false;
  /** Refreshes caused by unknown kids are rate-limited separately from the periodic ones. */
  #kidRefreshAt = -Infinity;
  #inflight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  fetches = 0;

  constructor(o: JwksOptions) {
    this.#o = o;
  }

  /**
   * First fetch (failure only logged: tokens then get 503 until the IdP answers) and the periodic refresh. Without
   * fetchNow the first token fetches the keys instead.
   */
  async start(opts: { fetchNow: boolean } = { fetchNow: true }): Promise<void> {
    if (opts.fetchNow) await this.refresh().catch(() => {});
    this.#timer = setInterval(() => void this.refresh().catch(() => {}), Math.max(this.#o.ttlMs, 1000));
    this.#timer.unref();
  }

  #now(): number {
    return this.#o.clock.now().getTime();
  }

  refresh(): Promise<void> {
    this.#inflight ??= this.#fetch().finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  async #fetch(): Promise<void> {
    this.#attemptedAt = this.#now();
    this.fetches++;
    try {
      const body = (await fetchJson(this.#o.url, this.#o.timeoutMs)) as { keys?: unknown };
      if (!body || !Array.isArray(body.keys)) throw new Error('not a JWK set');
      const keys = new Map<string, JWK>();
      for (const k of body.keys as JWK[]) {
        // Only asymmetric signing keys with a kid; a symmetric key in a JWKS is never usable.
        if (!k || typeof k.kid !== 'string' || k.kty === 'oct' || (k.use !== undefined && k.use !== 'sig')) continue;
        keys.set(k.kid, k);
      }
      this.#keys = keys;
      this.#imported = new Map();
      this.#loadedAt = this.#now();
      this.#lastFailed = false;
    } catch (err) {
      this.#lastFailed = true;
      this.#o.logger.warn({ url: this.#o.url, err: (err as Error).message }, 'JWKS fetch failed');
      throw err;
    }
  }

  #tooOld(): boolean {
    return this.#now() - this.#loadedAt > this.#o.ttlMs + this.#o.maxStaleMs;
  }

  /** 503 auth.jwks_unavailable once the last keys are older than ttl + max stale (or none were ever fetched). */
  async ensureFresh(): Promise<void> {
    if (!this.#tooOld()) return;
    if (this.#now() - this.#attemptedAt >= this.#o.minRefreshMs) await this.refresh().catch(() => {});
    if (this.#tooOld()) throw jwksUnavailable();
  }

  /** The verification key for kid and alg, or a ProblemError (kid_unknown, algorithm_not_allowed, jwks_unavailable). */
  async key(kid: string, alg: string): Promise<VerifyKey> {
    const now = this.#now();
    if (now - this.#loadedAt > this.#o.ttlMs && now - this.#attemptedAt >= this.#o.minRefreshMs) {
      // Stale: try to refresh; the keys we have stay in use for jwks_max_stale if the IdP does not answer.
      await this.refresh().catch(() => {});
    }
    if (this.#tooOld()) throw jwksUnavailable();
    let jwk = this.#keys.get(kid);
    if (jwk === undefined && this.#now() - this.#kidRefreshAt >= this.#o.minRefreshMs) {
      this.#kidRefreshAt = this.#now();
      await this.refresh().catch(() => {});
      jwk = this.#keys.get(kid);
    } else if (jwk === undefined && this.#inflight) {
      await this.#inflight.catch(() => {});
      jwk = this.#keys.get(kid);
    }
    if (jwk === undefined) {
      if (this.#loadedAt === -Infinity || this.#lastFailed) throw jwksUnavailable();
      throw authError('auth.kid_unknown', 'the token is signed with a key the identity provider does not publish');
    }
    if (jwk.alg !== undefined && jwk.alg !== alg) throw authError('auth.algorithm_not_allowed', 'the signing key does not allow this algorithm');
    const cacheKey = `${kid}\0${alg}`;
    let k = this.#imported.get(cacheKey);
    if (k === undefined) {
      try {
        k = await importJWK(jwk, alg);
      } catch {
        throw authError('auth.algorithm_not_allowed', 'the signing key does not fit this algorithm');
      }
      if (k instanceof Uint8Array) throw authError('auth.algorithm_not_allowed', 'symmetric keys are not accepted');
      this.#imported.set(cacheKey, k);
    }
    return k;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
