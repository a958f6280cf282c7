// API keys: the environment (or a mounted file) holds sha256 fingerprints, never raw keys. The keyring is an immutable
// snapshot; reload() builds a new one and swaps it, so in-flight requests keep the one they started with.
import type { Logger } from 'pino';
import { z } from 'zod';
import { attempt } from '../core/preflight.ts';
import { ENV_NAME, permissionList } from './config-fields.ts';
import type { AuthenticatorDescriptor } from './descriptor.ts';
import type { Authenticator, AuthnRequest, Principal } from './types.ts';
import { apiKeyHeader, bearer, BOOTSTRAP_TOKEN_PREFIX, isJwtShaped } from './credentials.ts';
import { authError } from './errors.ts';
import { digest, fingerprintFromEnv, fingerprintFromFile, sameDigest } from './fingerprint.ts';

export const apiKeyConfigSchema = z
  .object({
    type: z.literal('api_key'),
    keys: z
      .array(
        z
          .object({
            id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/),
            /** Variable holding sha256:<64 hex> of the raw key. */
            hash_env: ENV_NAME.optional(),
            /** Or a file holding it (e.g. a mounted secret), re-read on SIGHUP and POST /v1/sys/reload. */
            hash_file: z.string().min(1).optional(),
            scopes: permissionList.default([]),
          })
          .strict()
          .refine((k) => (k.hash_env === undefined) !== (k.hash_file === undefined), { message: 'set exactly one of hash_env or hash_file', path: ['hash_env'] }),
      )
      .min(1)
      .refine((ks) => new Set(ks.map((k) => k.id)).size === ks.length, 'API key ids must be unique'),
  })
  .strict();
export type ApiKeyConfig = z.infer<typeof apiKeyConfigSchema>;
type KeyConfig = ApiKeyConfig['keys'][number];

/** Where key `i`'s fingerprint comes from, as a field path, and the loader that reads it. */
function keySource(k: KeyConfig, i: number, env: NodeJS.ProcessEnv, at: string): { field: string; load: () => Buffer } {
  if (k.hash_file !== undefined) {
    const field = `${at}.keys.${i}.hash_file`;
    return { field, load: () => fingerprintFromFile(k.hash_file!, field) };
  }
  const field = `${at}.keys.${i}.hash_env`;
  return { field, load: () => fingerprintFromEnv(env, k.hash_env!, field) };
}

interface Entry {
  readonly id: string;
  readonly hash: Buffer;
  readonly scopes: readonly string[];
}
type Keyring = readonly Entry[];

const MAX_KEY_LENGTH = 512;

export class ApiKeyAuthenticator implements Authenticator {
  readonly name = 'api_key';
  #keys: ApiKeyConfig['keys'];
  readonly #env: NodeJS.ProcessEnv;
  readonly #logger: Logger;
  /** Where the configuration sits (authn, or authn.authenticators.<i>), for the fields errors name. */
  readonly #at: string;
  #ring: Keyring;

  constructor(cfg: ApiKeyConfig, deps: { env: NodeJS.ProcessEnv; logger: Logger }, at = 'authn') {
    this.#keys = cfg.keys;
    this.#env = deps.env;
    this.#logger = deps.logger;
    this.#at = at;
    this.#ring = this.#build(cfg.keys);
  }

  #build(keys: ApiKeyConfig['keys']): Keyring {
    return Object.freeze(
      keys.map((k, i) => Object.freeze({ id: k.id, hash: keySource(k, i, this.#env, this.#at).load(), scopes: Object.freeze([...k.scopes]) })),
    );
  }

  /** Re-reads the fingerprints (and, when given, a new key list). On error the old keyring stays and the error is thrown. */
  async reload(keys?: ApiKeyConfig['keys']): Promise<void> {
    const next = keys ?? this.#keys;
    const ring = this.#build(next);
    this.#keys = next;
    this.#ring = ring;
    this.#logger.info({ keys: ring.map((e) => e.id) }, 'API keyring reloaded');
  }

  /** Authorization: Bearer wins over X-Api-Key; a JWT-shaped or bootstrap bearer token is someone else's. */
  #credential(req: AuthnRequest): string | undefined {
    const b = bearer(req.headers);
    if (b.kind === 'bearer') return isJwtShaped(b.token) || b.token.startsWith(BOOTSTRAP_TOKEN_PREFIX) ? undefined : b.token;
    if (b.kind === 'other_scheme') return undefined;
    return apiKeyHeader(req.headers);
  }

  async authenticate(req: AuthnRequest): Promise<Principal | undefined> {
    const raw = this.#credential(req);
    if (raw === undefined) return undefined;
    const ring = this.#ring;
    if (raw.length > MAX_KEY_LENGTH) throw authError('auth.invalid_credential', 'the API key is not valid');
    const presented = digest(raw);
    let found: Entry | undefined;
    // Compare against every entry so timing does not depend on which key (if any) matched.
    for (const e of ring) if (sameDigest(presented, e.hash) && found === undefined) found = e;
    if (found === undefined) throw authError('auth.invalid_credential', 'the API key is not valid');
    return { id: found.id, type: 'service', authMethod: 'api_key', permissions: [...found.scopes], attributes: { key_id: found.id, service_name: found.id } };
  }
}

export const apiKeyDescriptor: AuthenticatorDescriptor<ApiKeyConfig, z.input<typeof apiKeyConfigSchema>> = {
  type: 'api_key',
  title: 'API keys (held as fingerprints)',
  configSchema: apiKeyConfigSchema,
  devOnly: false,
  alone: true,
  strong: false,
  async create(cfg, deps, at) {
    return new ApiKeyAuthenticator(cfg, deps, at);
  },
  preflight: (cfg, ctx, at) =>
    cfg.keys.flatMap((k, i) => {
      const { field, load } = keySource(k, i, ctx.env, at);
      return attempt(field, load);
    }),
};
