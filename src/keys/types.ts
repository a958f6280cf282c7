// The key service's vocabulary, shared by the key families, service and routes. States, ids and labels are in
// src/core/keys.ts, since storage, audit and authorization use them too.
export * from '../core/keys.ts';

/** Key types are declared by their families and registered in src/keys/families/index.ts. */
export type { KeyType, SigningKeyType } from './families/index.ts';

/** What a key may be used for; fixed by its type's family. */
export type KeyUsage = 'sign_verify' | 'encrypt_decrypt' | 'mac';

export const HASH_ALGORITHMS = ['SHA-256', 'SHA-384', 'SHA-512'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];
export const DIGEST_LENGTH: Record<HashAlgorithm, number> = { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 };

/** RSA signature padding; ignored for other key types. */
export type RsaPadding = 'pkcs1' | 'pss';
/** ECDSA signature encoding: ASN.1 DER (what Go's crypto.Signer returns) or raw r||s (JOSE). */
export type EcdsaFormat = 'der' | 'raw';


