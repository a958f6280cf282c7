// Per-type parameters shared by the crypto functions: curves, modulus sizes, default hashes, JOSE algorithms.
import type { KeyObject } from 'node:crypto';
import { ProblemError, badRequest } from '../../server/problem.ts';
import { HASH_ALGORITHMS, type HashAlgorithm, type KeyType, type SigningKeyType, isSigningType } from '../types.ts';

export type EcKeyType = 'EC-P256' | 'EC-P384' | 'EC-P521';
export type RsaKeyType = 'RSA-2048' | 'RSA-3072' | 'RSA-4096';

export interface EcParams {
  /** OpenSSL curve name, as node reports it in asymmetricKeyDetails.namedCurve. */
  namedCurve: string;
  jwkCrv: string;
  jwsAlg: string;
  defaultHash: HashAlgorithm;
  /** Bytes per scalar; a raw r||s signature is twice this. */
  fieldBytes: number;
}

export const EC_PARAMS: Record<EcKeyType, EcParams> = {
  'EC-P256': { namedCurve: 'prime256v1', jwkCrv: 'P-256', jwsAlg: 'ES256', defaultHash: 'SHA-256', fieldBytes: 32 },
  'EC-P384': { namedCurve: 'secp384r1', jwkCrv: 'P-384', jwsAlg: 'ES384', defaultHash: 'SHA-384', fieldBytes: 48 },
  'EC-P521': { namedCurve: 'secp521r1', jwkCrv: 'P-521', jwsAlg: 'ES512', defaultHash: 'SHA-512', fieldBytes: 66 },
};

export const RSA_BITS: Record<RsaKeyType, number> = { 'RSA-2048': 2048, 'RSA-3072': 3072, 'RSA-4096': 4096 };

export const AES_KEY_BYTES = 32;
export const HMAC_GENERATED_BYTES = 32;
export const HMAC_MIN_BYTES = 16;
export const HMAC_MAX_BYTES = 64;

export const isEc = (t: KeyType): t is EcKeyType => t in EC_PARAMS;
export const isRsa = (t: KeyType): t is RsaKeyType => t in RSA_BITS;
export const isSymmetric = (t: KeyType) => t === 'AES-256-GCM' || t === 'HMAC-SHA256';

/** node:crypto digest names. */
export const NODE_HASH: Record<HashAlgorithm, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

export function defaultHash(t: SigningKeyType): HashAlgorithm {
  return isEc(t) ? EC_PARAMS[t].defaultHash : 'SHA-256';
}

export function assertHashAlgorithm(h: unknown): asserts h is HashAlgorithm {
  if (typeof h !== 'string' || !(HASH_ALGORITHMS as readonly string[]).includes(h)) {
    throw badRequest('crypto.hash_algorithm_unsupported', `hash algorithm must be one of ${HASH_ALGORITHMS.join(', ')}`);
  }
}

/** An option meant for another key type is a mistake to report, not to ignore: the caller expects what it asked for. */
export function assertOptionsFit(t: KeyType, opts: { rsaPadding?: unknown; ecdsaFormat?: unknown }): void {
  if (opts.rsaPadding !== undefined && !isRsa(t)) throw badRequest('crypto.rsa_padding_unsupported', `rsa padding applies to RSA keys, not ${t}`);
  if (opts.ecdsaFormat !== undefined && !isEc(t)) throw badRequest('crypto.ecdsa_format_unsupported', `signature format applies to ECDSA keys, not ${t}`);
}

export function assertSigningType(t: KeyType, operation: string): asserts t is SigningKeyType {
  if (!isSigningType(t)) throw badRequest('crypto.operation_unsupported', `${t} keys do not support ${operation}`);
}

/** Whether an asymmetric KeyObject (private or public) is exactly of `type`: algorithm, curve, modulus size. */
export function keyObjectMatches(type: SigningKeyType, key: KeyObject): boolean {
  const details = key.asymmetricKeyDetails;
  if (isEc(type)) return key.asymmetricKeyType === 'ec' && details?.namedCurve === EC_PARAMS[type].namedCurve;
  if (isRsa(type)) return key.asymmetricKeyType === 'rsa' && details?.modulusLength === RSA_BITS[type];
  return key.asymmetricKeyType === 'ed25519';
}

/** A programming or storage error, not the caller's fault: surfaces as a 500 with no key detail. */
export const internalError = (code: string, detail: string) =>
  new ProblemError({ status: 500, code, title: 'Internal server error', detail });
