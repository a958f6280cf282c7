// Bootstrap token for first provisioning: held only as a hash, limited lifetime, full permissions, every use
// logged as a warning. Every operation's own event names the principal's auth method (bootstrap_token); the first
// use in a process (and, in dev mode, the first use after expiry) is also an event of its own, recorded before
// the request goes on (an audit failure fails it). Refused in production once expired.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AuditRecorder } from '../audit/types.ts';
import type { Clock } from '../core/clock.ts';
import { attempt } from '../core/preflight.ts';
import { duration, ENV_NAME } from './config-fields.ts';
import type { AuthenticatorDescriptor } from './descriptor.ts';
import type { Authenticator, AuthnRequest, Principal } from './types.ts';
import { bearer, BOOTSTRAP_TOKEN_PREFIX, isJwtShaped } from './credentials.ts';
import { authError } from './errors.ts';
import { digest, fingerprint, fingerprintFromEnv, parseFingerprint, sameDigest } from './fingerprint.ts';

export const bootstrapTokenConfigSchema = z
  .object({
    type: z.literal('bootstrap_token'),
    /** Variable holding sha256:<64 hex> of the token. */
    token_hash_env: ENV_NAME,
    max_age: duration.default(900),
    /** Variable holding when the token was issued (ISO 8601 or Unix seconds); else process start. */
    issued_at_env: ENV_NAME.optional(),
  })
  .strict();
export type BootstrapTokenConfig = z.infer<typeof bootstrapTokenConfigSchema>;

export interface BootstrapTokenOptions {
  /** sha256:<hex> of the token. */
  tokenHash: string;
  issuedAt: Date;
  /** Seconds. */
  maxAge: number;
  mode: 'dev' | 'production';
  logger: Logger;
  clock: Clock;
  audit?: AuditRecorder | undefined;
  permissionPrefix?: string | undefined;
}

/** A fresh token for the dev server to print; only `tokenHash` goes to the authenticator. */
export function generateBootstrapToken(): { token: string; tokenHash: string } {
  const token = BOOTSTRAP_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, tokenHash: fingerprint(token) };
}

export class BootstrapTokenAuthenticator implements Authenticator {
  readonly name = 'bootstrap_token';
  readonly #hash: Buffer;
  readonly #o: BootstrapTokenOptions;
  readonly #expiresAt: number;
  /** Whether this process has recorded the token's first use (and first expired use). */
  #announced = false;
  #announcedExpired = false;

  constructor(o: BootstrapTokenOptions) {
    this.#hash = parseFingerprint(o.tokenHash);
    this.#o = o;
    this.#expiresAt = o.issuedAt.getTime() + o.maxAge * 1000;
  }

  async authenticate(req: AuthnRequest): Promise<Principal | undefined> {
    const b = bearer(req.headers);
    if (b.kind !== 'bearer' || isJwtShaped(b.token)) return undefined;
    const matches = sameDigest(digest(b.token), this.#hash);
    if (!matches) {
      // Our prefix means it is meant as a bootstrap token: fail instead of trying it as an API key.
      if (b.token.startsWith(BOOTSTRAP_TOKEN_PREFIX)) throw authError('auth.invalid_credential', 'the bootstrap token is not valid');
      return undefined;
    }
    const { logger, clock, mode } = this.#o;
    const expired = clock.now().getTime() > this.#expiresAt;
    if (expired && mode === 'production') {
      logger.warn({ source_ip: req.sourceIp }, 'expired bootstrap token refused');
      throw authError('auth.token_expired', 'the bootstrap token has expired');
    }
    const prefix = this.#o.permissionPrefix ?? 'keyward';
    const principal: Principal = { id: 'bootstrap', type: 'service', authMethod: 'bootstrap_token', permissions: [`${prefix}.*`, `${prefix}.system.rotate_system_keys`], attributes: {} };
    logger.warn(
      { source_ip: req.sourceIp, expired, expires_at: new Date(this.#expiresAt).toISOString() },
      expired ? 'EXPIRED bootstrap token used (accepted in dev mode only)' : 'bootstrap token used',
    );
    if (!this.#announced || (expired && !this.#announcedExpired)) {
      // Claimed before the await so concurrent first uses record one event; given back if it cannot be recorded.
      const before = { announced: this.#announced, announcedExpired: this.#announcedExpired };
      this.#announced = true;
      if (expired) this.#announcedExpired = true;
      try {
        await this.#o.audit?.record({
          event_type: 'auth.bootstrap_token_used',
          action: 'auth:BootstrapToken',
          principal: { id: principal.id, type: principal.type, auth_method: principal.authMethod },
          resource: null,
          outcome: 'success',
          request_id: req.requestId,
          source_ip: req.sourceIp,
          user_agent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'].slice(0, 256) : undefined,
          metadata: { first_use_in_process: true, expired, expires_at: new Date(this.#expiresAt).toISOString() },
        });
      } catch (e) {
        this.#announced = before.announced;
        this.#announcedExpired = before.announcedExpired;
        throw e;
      }
    }
    return principal;
  }
}

/** The bootstrap token's issue time from the environment (ISO 8601 or Unix seconds). */
export function issuedAtFromEnv(env: NodeJS.ProcessEnv, name: string, field: string): Date {
  const v = env[name];
  if (v === undefined || v === '') throw new Error(`${field}: environment variable ${name} is not set`);
  const d = /^\d+$/.test(v) ? new Date(Number(v) * 1000) : new Date(v);
  if (Number.isNaN(d.getTime())) throw new Error(`${field}: environment variable ${name} is not a time (ISO 8601 or Unix seconds)`);
  return d;
}

export function bootstrapFromConfig(
  cfg: BootstrapTokenConfig,
  deps: Omit<BootstrapTokenOptions, 'tokenHash' | 'issuedAt' | 'maxAge'> & { env: NodeJS.ProcessEnv },
  at = 'authn',
): BootstrapTokenAuthenticator {
  const hash = fingerprintFromEnv(deps.env, cfg.token_hash_env, `${at}.token_hash_env`);
  const issuedAt = cfg.issued_at_env ? issuedAtFromEnv(deps.env, cfg.issued_at_env, `${at}.issued_at_env`) : deps.clock.now();
  return new BootstrapTokenAuthenticator({ ...deps, tokenHash: 'sha256:' + hash.toString('hex'), issuedAt, maxAge: cfg.max_age });
}

export const bootstrapTokenDescriptor: AuthenticatorDescriptor<BootstrapTokenConfig, z.input<typeof bootstrapTokenConfigSchema>> = {
  type: 'bootstrap_token',
  title: 'a bootstrap token for first provisioning',
  configSchema: bootstrapTokenConfigSchema,
  devOnly: false,
  alone: false,
  strong: false,
  async create(cfg, deps, at) {
    return bootstrapFromConfig(cfg, deps, at);
  },
  preflight: (cfg, ctx, at) => [
    ...attempt(`${at}.token_hash_env`, () => fingerprintFromEnv(ctx.env, cfg.token_hash_env, `${at}.token_hash_env`)),
    ...(cfg.issued_at_env === undefined ? [] : attempt(`${at}.issued_at_env`, () => issuedAtFromEnv(ctx.env, cfg.issued_at_env!, `${at}.issued_at_env`))),
  ],
  production(cfg, at) {
    const problems: string[] = [];
    if (cfg.max_age > 3600) problems.push(`${at}.max_age: long-lived bootstrap tokens (over 1h) are refused in production`);
    if (cfg.issued_at_env === undefined) problems.push(`${at}.issued_at_env: without it the token lifetime restarts with every process start`);
    return problems;
  },
};
