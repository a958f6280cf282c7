// Where an export finds what the canonical identity document deliberately does not hold: password hashes, TOTP
// seeds and client secrets. The document names references ({env} or {argon2id_hash}); a CredentialSource resolves
// them per principal. Sources: the document itself plus the environment (here), the identity provider's own store
// (idp-store.ts), or anything else the lead plugs in later (the same three calls).
import { hash } from '@node-rs/argon2';
import type { IdentityDocument, SecretReference } from '../identity/model.ts';

/** An enrolled time-based one-time password factor, as RFC 6238 needs it. */
export interface TotpSeed {
  /** The shared secret, RFC 4648 base32 (upper case, no padding): what authenticator apps and otpauth use. */
  secretBase32: string;
  digits: number;
  period: number;
  algorithm: 'SHA1' | 'SHA256' | 'SHA512';
}

/**
 * What is known about a confidential client's secret. Keyward keeps only an argon2id hash of it (it never needs the
 * plaintext back); a target that must hold the secret itself (Keycloak stores client secrets to compare them) cannot
 * be given it from a hash. `env` names a variable the operator controls that holds the plaintext.
 */
export type ClientSecretSource = { kind: 'argon2id_hash'; hash: string } | { kind: 'env'; name: string };

export interface CredentialSource {
  /** How reports name the source. */
  readonly name: string;
  /** The user's password as an argon2 PHC string (`$argon2id$v=19$m=…`), or undefined when there is none. */
  passwordHash(userId: string): Promise<string | undefined>;
  /**
   * The user's confirmed TOTP enrolment, or undefined. `unavailable` means an enrolment exists but its seed cannot be
   * read here (sealed by a key service this process has no access to).
   */
  totp(userId: string): Promise<TotpSeed | 'unavailable' | undefined>;
  /** Where a confidential client's secret comes from, or undefined when the source knows of none. */
  clientSecret(clientId: string): Promise<ClientSecretSource | undefined>;
}

/** Argon2id parameters used when a source has a plaintext and must hash it (Keyward's own defaults). */
export interface Argon2Params {
  memoryKib: number;
  iterations: number;
  parallelism: number;
}
export const KEYWARD_ARGON2_DEFAULTS: Argon2Params = { memoryKib: 19456, iterations: 2, parallelism: 1 };

/**
 * The document's own references: `{argon2id_hash}` as given; `{env: NAME}` hashed now from the variable (the
 * plaintext lives only in this process, as when Keyward applies the document). A variable that is not set means
 * no password. TOTP seeds are never in a document (MFA references point at factors held elsewhere).
 */
export function documentCredentialSource(doc: IdentityDocument, env: NodeJS.ProcessEnv, argon2: Argon2Params = KEYWARD_ARGON2_DEFAULTS): CredentialSource {
  const users = new Map(doc.users.map((u) => [u.id, u]));
  const clients = new Map(doc.clients.map((c) => [c.client_id, c]));
  const fromRef = async (ref: SecretReference | undefined): Promise<string | undefined> => {
    if (!ref) return undefined;
    if ('argon2id_hash' in ref) return ref.argon2id_hash;
    const plain = env[ref.env];
    if (!plain) return undefined;
    return hash(plain, { memoryCost: argon2.memoryKib, timeCost: argon2.iterations, parallelism: argon2.parallelism });
  };
  return {
    name: 'canonical document and environment',
    passwordHash: async (id) => fromRef(users.get(id)?.password),
    totp: async () => undefined,
    clientSecret: async (clientId) => {
      const s = clients.get(clientId)?.secret;
      if (!s) return undefined;
      return 'env' in s ? { kind: 'env', name: s.env } : { kind: 'argon2id_hash', hash: s.argon2id_hash };
    },
  };
}

/** A source that knows nothing: exports without credentials (every user will need a new password). */
export const NO_CREDENTIALS: CredentialSource = {
  name: 'none',
  passwordHash: async () => undefined,
  totp: async () => undefined,
  clientSecret: async () => undefined,
};
