// What a key provider is. A provider holds key material somewhere and does the private half of the key operations
// there: 'software' seals it in the database and works with node:crypto (the key families' software half), an HSM
// provider keeps it in a PKCS#11 token or a KMIP server, where it never leaves and is never seen by Keyward.
//
// The key service asks a provider what it can do before it asks it to do anything: an operation a provider cannot
// do is refused (422 key.provider_unsupported), never done in software instead. Public-key work (verification,
// JWKS, public-key export) needs no provider: Keyward keeps every version's public key.
//
// A provider is one file exporting a ProviderDescriptor (configuration schema, factory, start-up preflight,
// production rules) and one line in the registry (index.ts).
import type { z } from 'zod';
import type { KeyType } from '../families/index.ts';
import type { SignaturePlan } from '../families/index.ts';

/** The providers, as named in configuration, in key metadata and in `provider` filters. */
export const PROVIDER_NAMES = ['software', 'pkcs11', 'kmip'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];
export type HsmProviderName = Exclude<ProviderName, 'software'>;

/**
 * A key version held by an HSM provider: the provider's reference to its object(s) and what Keyward knows about it.
 * `ref` is the provider's own JSON text, stored per version; nothing else reads it.
 */
export interface HeldKey {
  keyId: string;
  version: number;
  type: KeyType;
  ref: string;
  /** DER SPKI for asymmetric keys, as read from the HSM when the version was created or adopted. */
  publicKeySpki: Buffer | null;
  /** Hold-your-own-key: the object belongs to the customer, who may revoke or delete it at any time. */
  external: boolean;
}

/** A new object inside the HSM, or an external one adopted by reference. */
export interface ProviderObject {
  ref: string;
  publicKeySpki: Buffer | null;
}

/** What the key service may ask a provider to do with a key type; `refusal` explains a no in words. */
export type ProviderOperation =
  | { op: 'generate' }
  | { op: 'adopt' }
  | { op: 'sign'; plan: SignaturePlan }
  | { op: 'encrypt' }
  | { op: 'decrypt' }
  | { op: 'mac' };

export interface GcmParts {
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/** What `status` says about a provider: shown in sys/status, never secret (no PINs, no key material). */
export type ProviderHealth = { ok: true; detail: Record<string, unknown> } | { ok: false; reason: string; detail?: string };

/**
 * Whether an external (hold-your-own-key) object may still be used: its owner may have revoked, deactivated,
 * deleted or replaced it, or withdrawn Keyward's access.
 */
export type ExternalStatus = { usable: true } | { usable: false; reason: 'revoked' | 'missing' | 'replaced' | 'access_denied'; detail: string };

export interface KeyProvider {
  readonly name: HsmProviderName;
  /** Why this provider cannot do `operation` with keys of `type`, or undefined when it can. */
  refusal(type: KeyType, operation: ProviderOperation): string | undefined;
  /** Generates a key inside the HSM: sensitive, not extractable. `label` names it for operators. */
  generate(type: KeyType, label: string): Promise<ProviderObject>;
  /** Hold-your-own-key: checks that the external object exists, is of `type` and usable, and reads its public key. */
  adopt(type: KeyType, external: { id: string; publicId?: string | undefined }): Promise<ProviderObject>;
  /** The signature of the plan's input, in the plan's format (DER or raw ECDSA; PKCS#1 v1.5 or PSS). */
  sign(key: HeldKey, plan: SignaturePlan): Promise<Buffer>;
  /** AES-GCM with a 96-bit IV the provider draws and a 128-bit tag, `aad` authenticated. */
  encrypt(key: HeldKey, plaintext: Buffer, aad: Buffer): Promise<GcmParts>;
  decrypt(key: HeldKey, parts: GcmParts, aad: Buffer): Promise<Buffer>;
  /** Removes the key's objects from the HSM; objects already gone are not an error. Never called for external keys. */
  destroy(key: HeldKey): Promise<void>;
  /** Hold-your-own-key: whether the owner still lets Keyward use the object. */
  externalStatus(key: HeldKey): Promise<ExternalStatus>;
  /** Auto-unseal: a wrapper of the root key under the AES key `label` in this HSM (created by ensureKey if absent). */
  sealWrapper(label: string): SealKeyWrapper;
  health(): Promise<ProviderHealth>;
  close(): Promise<void>;
}

/**
 * A root-key wrapper for auto-unseal: AES-GCM under one AES-256 key inside the HSM, found by its label. The
 * reference ensureKey returns (stored in the seal record) names that exact object, so a later key of the same
 * label is never mistaken for it.
 */
export interface SealKeyWrapper {
  readonly kind: HsmProviderName;
  /** The configured label. */
  readonly label: string;
  /** Finds the seal key, or creates it inside the HSM; returns its reference (JSON text). */
  ensureKey(): Promise<string>;
  /** Whether a stored reference is of the key this wrapper is configured with (same label). */
  matches(ref: string): boolean;
  /** iv(12) || tag(16) || ciphertext. */
  wrap(ref: string, aad: Buffer, plaintext: Buffer): Promise<Buffer>;
  unwrap(ref: string, aad: Buffer, blob: Buffer): Promise<Buffer>;
}

/** A configuration problem, with the dotted path of the field to fix. */
export interface ProviderConfigProblem {
  path: string;
  message: string;
}

export interface ProviderContext {
  env: NodeJS.ProcessEnv;
  production: boolean;
}

/** One HSM provider: its configuration fragment (`keys.providers.<name>`) and everything Keyward does with it. */
export interface ProviderDescriptor<C = unknown, N extends HsmProviderName = HsmProviderName> {
  readonly name: N;
  /** What the provider is, for documentation and status: 'PKCS#11 token', 'KMIP server'. */
  readonly title: string;
  readonly configSchema: z.ZodType<C>;
  /** Connects lazily: a provider whose HSM is down at start is created, and answers 503 until it is back. */
  create(config: C, ctx: ProviderContext): Promise<KeyProvider>;
  /** Start-up checks that need no HSM: secrets present, files readable (shared by `serve` and `config check`). */
  preflight(config: C, ctx: ProviderContext): ProviderConfigProblem[];
}
