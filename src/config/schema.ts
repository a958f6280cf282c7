// The one configuration schema. Each module owns its fragment; this file composes them. Objects are strict:
// an unknown key is an error with its path, never silently ignored.
import { z } from 'zod';
import { duration } from '../core/duration.ts';
import { PROVIDER_NAMES, providersConfigSchema } from '../keys/providers/index.ts';

export const serverConfigSchema = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8200),
  /** Largest request body accepted, in bytes. */
  body_limit: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  /** Public base URL (used in links and by the identity provider); defaults to http://host:port. */
  base_url: z.url().optional(),
  tls: z
    .strictObject({
      cert_file: z.string(),
      key_file: z.string(),
      /** CA bundle for client certificates (mTLS); when set, clients may present a certificate. */
      client_ca_file: z.string().optional(),
    })
    .optional(),
  /**
   * The key API over gRPC (proto/keyward/v1/keys.proto) on its own port, beside REST: the same authentication,
   * authorization and audit, and the same server.tls (certificate, key, client CAs for mTLS). Off when absent.
   */
  grpc: z
    .strictObject({
      /** Defaults to server.host. */
      host: z.string().optional(),
      port: z.number().int().min(0).max(65535).default(8201),
    })
    .optional(),
  /** Log one line per request (off by default: it costs throughput on the signing path). */
  access_log: z.boolean().default(false),
  /**
   * Names this instance among several sharing one database: each keeps its own audit chain. Defaults to the host
   * name, which is distinct per container or machine.
   */
  instance_id: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/).optional(),
});

export const keysConfigSchema = z.strictObject({
  /** How long a released key stays usable for verification before it is destroyed. */
  release_grace_period: duration().prefault('24h'),
  /** How often released keys past their grace period are destroyed. */
  sweep_interval: duration().prefault('60s'),
  /**
   * How long key metadata is cached per instance. Local writes invalidate at once, and instances sharing a
   * PostgreSQL database announce theirs to each other (LISTEN/NOTIFY, docs/deploy.md); while that listener is down
   * this is the upper bound on how long another instance may keep using a key after it was disabled. For external
   * (hold-your-own-key) keys it is also how long a check that the owner still allows their use is trusted: the
   * upper bound on the lockout after the owner revokes, deletes or replaces the key.
   */
  cache_ttl: duration().prefault('5s'),
  /** Where keys are created when the request names no provider. */
  default_provider: z.enum(PROVIDER_NAMES).default('software'),
  /** HSM providers: `pkcs11: {module, token_label, pin_file | pin_env, …}`, `kmip: {host, port, ca_file, cert_file, key_file, …}`. */
  providers: providersConfigSchema.prefault({}),
  /** Whether callers may overwrite an existing key id on create (they still need the overwrite permission). */
  allow_overwrite: z.boolean().default(true),
  /** Largest plaintext/message accepted by crypto operations, in bytes. */
  max_payload_bytes: z.number().int().min(1).max(32 * 1024 * 1024).default(64 * 1024),
});

export const spirlConfigSchema = z.strictObject({
  enabled: z.boolean().default(true),
  base_path: z
    .string()
    .regex(/^\/[A-Za-z0-9/_-]*[A-Za-z0-9_-]$/, 'must start with / and not end with /')
    .default('/spirl'),
});

export const sealConfigSchema = z.strictObject({
  /**
   * shamir: the root key is wrapped by a key split into unseal shares; every start needs a threshold of them.
   * pkcs11 | kmip (auto-unseal): the root key is wrapped by an AES key inside that HSM (keys.providers.<type>), so
   * instances start unsealed; init returns recovery shares instead, which re-wrap the root key if the HSM key is lost.
   */
  type: z.enum(['shamir', 'pkcs11', 'kmip']).default('shamir'),
  /** HSM seals: the label (PKCS#11 CKA_LABEL, KMIP Name) of the AES-256 key that wraps the root key; made at init if absent. */
  key_label: z.string().min(1).max(128).default('keyward-seal'),
  /** HSM seals: how often an instance that could not reach the HSM at start tries again to unseal itself. */
  retry_interval: duration().prefault('5s'),
  /** Dev mode only: where the single unseal share is kept so the server can unseal itself. */
  dev_unseal_file: z.string().default('./data/dev-unseal.json'),
});

export const loggingConfigSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
