// The key service's vocabulary, shared by the key families, store, service and routes.

/** Key types are declared by their families and registered in src/keys/families/index.ts. */
export type { KeyType, SigningKeyType } from './families/index.ts';

/** What a key may be used for; fixed by its type's family. */
export type KeyUsage = 'sign_verify' | 'encrypt_decrypt' | 'mac';

/**
 * enabled ⇄ disabled; enabled|disabled → released (no new signatures; destroyed when the grace period ends,
 * cancel returns it to enabled) → destroyed (material wiped, metadata kept as a tombstone).
 */
export const KEY_STATES = ['enabled', 'disabled', 'released', 'destroyed'] as const;
export type KeyState = (typeof KEY_STATES)[number];

export const HASH_ALGORITHMS = ['SHA-256', 'SHA-384', 'SHA-512'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];
export const DIGEST_LENGTH: Record<HashAlgorithm, number> = { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 };

/** RSA signature padding; ignored for other key types. */
export type RsaPadding = 'pkcs1' | 'pss';
/** ECDSA signature encoding: ASN.1 DER (what Go's crypto.Signer returns) or raw r||s (JOSE). */
export type EcdsaFormat = 'der' | 'raw';

/**
 * Key ids: 1–128 characters of [A-Za-z0-9._-], starting with a letter or digit. No slashes, no
 * control characters, nothing that could be a path segment like `..`.
 */
export const KEY_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
export const KEY_ID_RE = new RegExp(KEY_ID_PATTERN);
export const isValidKeyId = (id: string) => KEY_ID_RE.test(id) && !id.includes('..');

/**
 * Ids under this prefix belong to Keyward itself (the identity provider's token signing keys and secrets key).
 * Reserving the whole prefix also keeps outside callers from creating such a key before Keyward does.
 */
export const SYSTEM_KEY_PREFIX = 'keyward-';
export const isSystemKeyId = (id: string) => id.startsWith(SYSTEM_KEY_PREFIX);

export const LABEL_KEY_RE = /^[a-z0-9][a-z0-9._/-]{0,62}$/;
export const LABEL_VALUE_MAX = 256;
/** C0 controls and DEL: refused in label values and descriptions, which end up in terminals and UIs. */
export const CONTROL_CHARS_RE = /[\u0000-\u001f\u007f]/;
export const isValidLabelValue = (v: unknown): v is string => typeof v === 'string' && v.length <= LABEL_VALUE_MAX && !CONTROL_CHARS_RE.test(v);
export type Labels = Record<string, string>;
