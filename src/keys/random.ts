// Random bytes for callers (kms:GenerateRandom): node's CSPRNG, bounded per request.
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { badRequest } from '../core/problem.ts';

export const RANDOM_MAX_BYTES = 1024;

export function randomBytes(n: number): Buffer {
  if (!Number.isInteger(n) || n < 1 || n > RANDOM_MAX_BYTES) {
    throw badRequest('crypto.random_length', `random byte count must be 1 to ${RANDOM_MAX_BYTES}`);
  }
  return nodeRandomBytes(n);
}
