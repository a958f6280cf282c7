// HMAC: message authentication codes (RFC 2104) over SHA-256.
import { type KeyObject, createHmac, timingSafeEqual } from 'node:crypto';
import { internalError } from './errors.ts';
import { generateSecret, importSecret, loadSecret, secretFingerprint, type SecretSize } from './symmetric.ts';
import type { MacFamily } from './types.ts';

export type HmacKeyType = 'HMAC-SHA256';

const SIZE: SecretSize = { min: 16, max: 64, generated: 32 };
const MAC_BYTES = 32;

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
  return Buffer.isBuffer(mac) && mac.length === MAC_BYTES && timingSafeEqual(expected, mac);
}

export const hmacFamily: MacFamily<HmacKeyType> = {
  name: 'HMAC',
  types: ['HMAC-SHA256'],
  usage: 'mac',

  generate: async () => generateSecret(SIZE),
  import: (type, input) => importSecret(type, SIZE, ['HS256'], input),
  load: (type, material) => loadSecret(type, SIZE, material),
  fingerprint: (_type, _spki, material) => secretFingerprint(material),

  mac: hmac,
  verifyMac: verifyHmac,
};
