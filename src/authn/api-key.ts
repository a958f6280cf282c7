// API keys: the environment (or a mounted file) holds sha256 fingerprints, never raw keys. The keyring is an immutable
// snapshot; reload() builds a new one and swaps it, so in-flight requests keep the one they started with.
import type { Logger } from 'pino';
import type { Authenticator, AuthnRequest, Principal } from './types.ts';
import type { ApiKeyConfig } from './config.ts';
import { apiKeyHeader, bearer, BOOTSTRAP_TOKEN_PREFIX, isJwtShaped } from './credentials.ts';
import { authError } from './errors.ts';
import { digest, fingerprintFromEnv, fingerprintFromFile, sameDigest } from './fingerprint.ts';

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
  #ring: Keyring;

  constructor(cfg: ApiKeyConfig, deps: { env: NodeJS.ProcessEnv; logger: Logger }) {
    this.#keys = cfg.keys;
    this.#env = deps.env;
    this.#logger = deps.logger;
    this.#ring = this.#build(cfg.keys);
  }

  #build(keys: ApiKeyConfig['keys']): Keyring {
    return Object.freeze(
      keys.map((k) =>
        Object.freeze({
          id: k.id,
          hash: k.hash_file !== undefined
            ? fingerprintFromFile(k.hash_file, `authn.api_key.keys[${k.id}].hash_file`)
            : fingerprintFromEnv(this.#env, k.hash_env!, `authn.api_key.keys[${k.id}].hash_env`),
          scopes: Object.freeze([...k.scopes]),
        }),
      ),
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
