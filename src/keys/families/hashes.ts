// Hash algorithms as the signing families name them.
import { badRequest } from '../../core/problem.ts';
import { HASH_ALGORITHMS, type HashAlgorithm } from '../types.ts';

/** node:crypto digest names. */
export const NODE_HASH: Record<HashAlgorithm, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/** The KeyRack spelling: SHA256, SHA384, SHA512. */
export const keyRackHash = (h: HashAlgorithm) => h.replace('-', '');

export function assertHashAlgorithm(h: unknown): asserts h is HashAlgorithm {
  if (typeof h !== 'string' || !(HASH_ALGORITHMS as readonly string[]).includes(h)) {
    throw badRequest('crypto.hash_algorithm_unsupported', `hash algorithm must be one of ${HASH_ALGORITHMS.join(', ')}`);
  }
}
