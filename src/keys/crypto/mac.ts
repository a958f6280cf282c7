// HMAC-SHA256 and bounded random bytes.
import { type KeyObject, createHmac, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';
import { badRequest } from '../../server/problem.ts';
import { internalError } from './params.ts';

const HMAC_BYTES = 32;
export const RANDOM_MAX_BYTES = 1024;

function assertSecret(key: KeyObject) {
  if (key?.type !== 'secret') throw internalError('crypto.key_material_invalid', 'an HMAC key is required');
}

export function hmac(key: KeyObject, message: Buffer): Buffer {
  assertSecret(key);
  return createHmac('sha256', key).update(message).digest();
}

/** Constant time over the MAC; a MAC of the wrong length is simply false. */
export function verifyHmac(key: KeyObject, message: Buffer, mac: Buffer): boolean {
  const expected = hmac(key, message);
  return Buffer.isBuffer(mac) && mac.length === HMAC_BYTES && timingSafeEqual(expected, mac);
}

export function randomBytes(n: number): Buffer {
  if (!Number.isInteger(n) || n < 1 || n > RANDOM_MAX_BYTES) {
    throw badRequest('crypto.random_length', `random byte count must be 1 to ${RANDOM_MAX_BYTES}`);
  }
  return nodeRandomBytes(n);
}
