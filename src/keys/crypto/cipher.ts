// AES-256-GCM envelope with a versioned header:
//   0x01 | key version (uint32 BE) | IV (12) | ciphertext | tag (16)
// The 5-byte header is prepended to the caller's AAD, so changing the key version (or format) fails authentication.
// The header has a fixed length, so header || aad is unambiguous. No AAD and empty AAD are the same.
import { type KeyObject, createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { badRequest } from '../../server/problem.ts';
import { AES_KEY_BYTES, internalError } from './params.ts';

const FORMAT_V1 = 0x01;
const HEADER_BYTES = 5;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MIN_CIPHERTEXT_BYTES = HEADER_BYTES + IV_BYTES + TAG_BYTES;
const MAX_KEY_VERSION = 0xffffffff;

export const DATA_KEY_SIZES = [16, 32, 64] as const;
export type DataKeySize = (typeof DATA_KEY_SIZES)[number];

function assertAesKey(key: KeyObject | undefined): asserts key is KeyObject {
  if (key?.type !== 'secret' || key.symmetricKeySize !== AES_KEY_BYTES) {
    throw internalError('crypto.key_material_invalid', 'an AES-256-GCM key is required');
  }
}

function header(keyVersion: number): Buffer {
  if (!Number.isInteger(keyVersion) || keyVersion < 0 || keyVersion > MAX_KEY_VERSION) {
    throw internalError('crypto.key_version_invalid', 'key version must be a uint32');
  }
  const h = Buffer.alloc(HEADER_BYTES);
  h[0] = FORMAT_V1;
  h.writeUInt32BE(keyVersion, 1);
  return h;
}

const gcmAad = (hdr: Buffer, aad: Buffer | undefined) => (aad && aad.length > 0 ? Buffer.concat([hdr, aad]) : hdr);

export function encrypt(key: KeyObject, keyVersion: number, plaintext: Buffer, aad?: Buffer): Buffer {
  assertAesKey(key);
  const hdr = header(keyVersion);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(gcmAad(hdr, aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([hdr, iv, body, cipher.getAuthTag()]);
}

/** Reads the key version from the header without decrypting. */
export function ciphertextVersion(ciphertext: Buffer): number {
  if (!Buffer.isBuffer(ciphertext) || ciphertext.length < MIN_CIPHERTEXT_BYTES || ciphertext[0] !== FORMAT_V1) {
    throw badRequest('crypto.ciphertext_malformed', 'the ciphertext is not a Keyward ciphertext');
  }
  return ciphertext.readUInt32BE(1);
}

export function decrypt(
  key: (version: number) => KeyObject | undefined,
  ciphertext: Buffer,
  aad?: Buffer,
): { plaintext: Buffer; version: number } {
  const version = ciphertextVersion(ciphertext);
  const k = key(version);
  if (k === undefined) throw badRequest('crypto.key_version_unavailable', `key version ${version} is not available`);
  assertAesKey(k);
  const hdr = ciphertext.subarray(0, HEADER_BYTES);
  const iv = ciphertext.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
  const body = ciphertext.subarray(HEADER_BYTES + IV_BYTES, ciphertext.length - TAG_BYTES);
  const tag = ciphertext.subarray(ciphertext.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', k, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(gcmAad(hdr, aad));
    decipher.setAuthTag(tag);
    return { plaintext: Buffer.concat([decipher.update(body), decipher.final()]), version };
  } catch {
    // Neutral on purpose: do not say whether the key, the AAD or the bytes were wrong.
    throw badRequest('crypto.decrypt_failed', 'the ciphertext could not be decrypted');
  }
}

/** A fresh random data key, returned both in the clear and wrapped under `key`. */
export function generateDataKey(key: KeyObject, keyVersion: number, bytes: DataKeySize, aad?: Buffer): { plaintext: Buffer; ciphertext: Buffer } {
  if (!(DATA_KEY_SIZES as readonly number[]).includes(bytes)) {
    throw badRequest('crypto.data_key_length', `data keys are ${DATA_KEY_SIZES.join(', ')} bytes`);
  }
  const plaintext = randomBytes(bytes);
  return { plaintext, ciphertext: encrypt(key, keyVersion, plaintext, aad) };
}
