// OIDC resource server: bearer JWTs verified against the IdP's JWKS. Asymmetric algorithms only.
import { hash } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, errors as joseErrors, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../core/clock.ts';
import { duration, isLocalUrl, permissionList } from './config-fields.ts';
import type { AuthenticatorDescriptor } from './descriptor.ts';
import type { Authenticator, AuthnRequest, Principal } from './types.ts';
import { authError, clientNotAllowed } from './errors.ts';
import { bearer, isJwtShaped } from './credentials.ts';
import { JwksSource, discoverJwksUri } from './jwks.ts';
import { Lru } from './lru.ts';
import { applyScopeMap, permissionsClaim, scopesFromClaim } from './scopes.ts';
import { ProblemError } from '../core/problem.ts';

/** Asymmetric JWS algorithms only; `none` and HS* cannot even be written here. */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const;

export const jwtConfigSchema = z
  .object({
    type: z.literal('jwt'),
    /** Compared exactly with the token's iss (and with the discovery document's issuer). */
    issuer: z.string().min(1),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    discovery_url: z.url({ protocol: /^https?$/ }).optional(),
    jwks_url: z.url({ protocol: /^https?$/ }).optional(),
    algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default(['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']),
    /** Keys are refetched this often (periodic refresh) and considered stale after it. */
    jwks_cache_ttl: duration.default(600),
    /**
     * How long past jwks_cache_ttl the last keys stay in use while the JWKS cannot be fetched; after that every
     * token is refused with 503 auth.jwks_unavailable (fail closed), cached verifications included.
     */
    jwks_max_stale: duration.default(300),
    /** An unknown kid triggers at most one JWKS fetch per this interval. */
    jwks_min_refresh_interval: duration.default(30),
    /** Fetch the JWKS at start; off when the issuer is this very server, which is not listening yet then. */
    jwks_fetch_at_start: z.boolean().default(true),
    http_timeout_ms: z.number().int().min(100).max(60_000).default(5000),
    leeway: duration.refine((s) => s <= 300, 'leeway is at most 5 minutes').default(60),
    required_claims: z.array(z.string().min(1)).default([]),
    /** Accepted `typ` header values; untyped tokens and id+jwt are refused. */
    token_types: z.array(z.enum(['JWT', 'at+jwt'])).min(1).default(['JWT', 'at+jwt']),
    /** When set, azp (else client_id) must be listed. */
    allowed_clients: z.array(z.string().min(1)).min(1).optional(),
    permissions_claim: z.string().min(1).default('permissions'),
    scope_claim: z.string().min(1).default('scope'),
    /** IdP scope/role name → permission(s); unmapped scopes pass through unchanged. */
    scope_map: z.record(z.string(), z.union([z.string().min(1), permissionList])).default({}),
    groups_claim: z.string().min(1).default('groups'),
    max_token_bytes: z.number().int().min(256).max(65_536).default(16_384),
    /** Verified tokens are cached (by SHA-256) until exp. */
    cache_size: z.number().int().min(0).max(1_000_000).default(10_000),
  })
  .strict()
  .refine((c) => (c.discovery_url === undefined) !== (c.jwks_url === undefined), {
    message: 'set exactly one of discovery_url or jwks_url',
    path: ['discovery_url'],
  });
export type JwtConfig = z.infer<typeof jwtConfigSchema>;

const MFA_AMR = new Set(['mfa', 'otp', 'hwk', 'swk', 'sms', 'fido', 'webauthn']);

export interface JwtDeps {
  logger: Logger;
  clock: Clock;
}

interface Cached {
  principal: Principal;
  expMs: number;
}

function freeze(p: Principal): Principal {
  Object.freeze(p.permissions);
  Object.freeze(p.attributes);
  return Object.freeze(p);
}

export class JwtAuthenticator implements Authenticator {
  readonly name = 'jwt';
  readonly issuer: string;
  readonly jwks: JwksSource;
  readonly #cfg: JwtConfig;
  readonly #deps: JwtDeps;
  readonly #cache: Lru<string, Cached>;

  constructor(cfg: JwtConfig, jwks: JwksSource, deps: JwtDeps) {
    this.issuer = cfg.issuer;
    this.#cfg = cfg;
    this.jwks = jwks;
    this.#deps = deps;
    this.#cache = new Lru(cfg.cache_size);
  }

  /** Resolves discovery (a failure aborts startup naming the URL) and starts the JWKS refresh. */
  static async create(cfg: JwtConfig, deps: JwtDeps, at = 'authn'): Promise<JwtAuthenticator> {
    if ((cfg.discovery_url === undefined) === (cfg.jwks_url === undefined)) {
      throw new Error(`${at}.discovery_url: set exactly one of discovery_url or jwks_url`);
    }
    for (const a of cfg.algorithms as string[]) {
      if (a === 'none' || a.startsWith('HS')) throw new Error(`${at}.algorithms: ${a} is never accepted`);
    }
    const url = cfg.jwks_url ?? (await discoverJwksUri(cfg.discovery_url!, cfg.issuer, cfg.http_timeout_ms, `${at}.discovery_url`));
    const jwks = new JwksSource({
      url,
      ttlMs: cfg.jwks_cache_ttl * 1000,
      maxStaleMs: cfg.jwks_max_stale * 1000,
      minRefreshMs: cfg.jwks_min_refresh_interval * 1000,
      timeoutMs: cfg.http_timeout_ms,
      logger: deps.logger,
      clock: deps.clock,
    });
    await jwks.start({ fetchNow: cfg.jwks_fetch_at_start });
    return new JwtAuthenticator(cfg, jwks, deps);
  }

  async authenticate(req: AuthnRequest): Promise<Principal | undefined> {
    const b = bearer(req.headers);
    if (b.kind !== 'bearer' || !isJwtShaped(b.token)) return undefined;
    const token = b.token;
    if (token.length > this.#cfg.max_token_bytes) throw authError('auth.malformed_credential', 'the bearer token is too large');

    const cacheKey = hash('sha256', token, 'base64url');
    const hit = this.#cache.get(cacheKey);
    const now = this.#deps.clock.now().getTime();
    if (hit) {
      // Fail closed once the keys are too old to trust, even for tokens verified while they were fresh.
      await this.jwks.ensureFresh();
      if (now <= hit.expMs + this.#cfg.leeway * 1000) return hit.principal;
      this.#cache.delete(cacheKey);
    }

    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw authError('auth.malformed_credential', 'the bearer token is not a well-formed JWT');
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || !(this.#cfg.algorithms as string[]).includes(alg) || alg === 'none' || alg.toUpperCase().startsWith('HS')) {
      throw authError('auth.algorithm_not_allowed', `algorithm ${typeof alg === 'string' ? alg.slice(0, 16) : '(none)'} is not accepted`);
    }
    const typ = typeof header.typ === 'string' ? header.typ.replace(/^application\//i, '') : undefined;
    if (typ === undefined || !this.#cfg.token_types.some((t) => t.toLowerCase() === typ.toLowerCase())) {
      throw authError('auth.invalid_credential', 'the token type is not accepted (JWT or at+jwt expected)');
    }
    if (typeof header.kid !== 'string' || header.kid === '') throw authError('auth.kid_unknown', 'the token names no signing key (kid)');
    const key = await this.jwks.key(header.kid, alg);

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        issuer: this.#cfg.issuer,
        audience: this.#cfg.audience,
        algorithms: [alg],
        clockTolerance: this.#cfg.leeway,
        currentDate: new Date(now),
        requiredClaims: ['exp', ...this.#cfg.required_claims],
      }));
    } catch (err) {
      throw mapJoseError(err);
    }

    const principal = freeze(this.#principal(payload));
    this.#cache.set(cacheKey, { principal, expMs: (payload.exp as number) * 1000 });
    return principal;
  }

  #principal(p: JWTPayload): Principal {
    const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    const sub = str(p.sub);
    const clientId = str(p['client_id']);
    const azp = str(p['azp']);
    const client = azp ?? clientId;
    if (this.#cfg.allowed_clients && (client === undefined || !this.#cfg.allowed_clients.includes(client))) {
      throw clientNotAllowed('the client is not allowed to call this service');
    }
    const id = sub ?? clientId ?? azp;
    if (id === undefined) throw authError('auth.invalid_credential', 'the token names no subject (sub, client_id or azp)');
    const scopes = applyScopeMap(scopesFromClaim(p[this.#cfg.scope_claim]), this.#cfg.scope_map);
    const permissions = [...new Set([...permissionsClaim(p[this.#cfg.permissions_claim]), ...scopes])];
    const groups = scopesFromClaim(p[this.#cfg.groups_claim]);
    const amr = Array.isArray(p['amr']) ? (p['amr'] as unknown[]) : [];
    // A token whose subject is the client itself (or that has no sub) is a machine's.
    const type = sub === undefined || sub === clientId || sub === azp ? 'service' : 'user';
    return {
      id,
      type,
      authMethod: 'jwt',
      permissions,
      attributes: {
        issuer: p.iss,
        ...(client !== undefined ? { client_id: client } : {}),
        ...(azp !== undefined ? { azp } : {}),
        groups,
        // Cedar policies name services by service_name (see policies/keys.cedar).
        ...(type === 'service' ? { service_name: client ?? id } : {}),
        mfa: amr.some((m) => typeof m === 'string' && MFA_AMR.has(m)),
      },
    };
  }

  async reload(): Promise<void> {
    await this.jwks.refresh();
  }

  async close(): Promise<void> {
    this.jwks.close();
  }
}

function mapJoseError(err: unknown): ProblemError {
  if (err instanceof ProblemError) return err;
  if (err instanceof joseErrors.JWTExpired) return authError('auth.token_expired', 'the token has expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'iss' && err.reason === 'check_failed') return authError('auth.issuer_mismatch', 'the token issuer is not accepted');
    if (err.claim === 'aud' && err.reason === 'check_failed') return authError('auth.audience_mismatch', 'the token audience does not include this service');
    if (err.claim === 'nbf' && err.reason === 'check_failed') return authError('auth.token_not_yet_valid', 'the token is not yet valid');
    return authError('auth.invalid_credential', `the token claim ${err.claim} is missing or invalid`);
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return authError('auth.token_signature_invalid', 'the token signature is invalid');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return authError('auth.algorithm_not_allowed', 'the token algorithm is not accepted');
  return authError('auth.malformed_credential', 'the bearer token is not a well-formed JWT');
}

export const jwtDescriptor: AuthenticatorDescriptor<JwtConfig, z.input<typeof jwtConfigSchema>> = {
  type: 'jwt',
  title: 'JWT bearer tokens of an OpenID provider',
  configSchema: jwtConfigSchema,
  devOnly: false,
  alone: true,
  strong: true,
  create: (cfg, deps, at) => JwtAuthenticator.create(cfg, deps, at),
  production(cfg, at) {
    const problems: string[] = [];
    for (const [field, u] of [['discovery_url', cfg.discovery_url], ['jwks_url', cfg.jwks_url]] as const) {
      if (u !== undefined && u.startsWith('http:') && !isLocalUrl(u)) problems.push(`${at}.${field}: ${u} must use https`);
    }
    return problems;
  },
};
