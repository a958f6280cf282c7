// The Keyward ciphertext, format v1, as encrypt returns it and decrypt takes it:
//   0x01 | key version (uint32 BE) | IV (12) | ciphertext | tag (16)
// The 5-byte header is prepended to the caller's AAD, so changing the key version (or format) fails authentication.
// The header has a fixed length, so header || aad is unambiguous. No AAD and empty AAD are the same.
import { badRequest } from '../../core/problem.ts';
import { internalError } from './errors.ts';

const FORMAT_V1 = 0x01;
const HEADER_BYTES = 5;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
const MIN_CIPHERTEXT_BYTES = HEADER_BYTES + IV_BYTES + TAG_BYTES;
const MAX_KEY_VERSION = 0xffffffff;

export interface CiphertextParts {
  version: number;
  header: Buffer;
  iv: Buffer;
  body: Buffer;
  tag: Buffer;
}

export function ciphertextHeader(keyVersion: number): Buffer {
  if (!Number.isInteger(keyVersion) || keyVersion < 0 || keyVersion > MAX_KEY_VERSION) {
    throw internalError('crypto.key_version_invalid', 'key version must be a uint32');
  }
  const h = Buffer.alloc(HEADER_BYTES);
  h[0] = FORMAT_V1;
  h.writeUInt32BE(keyVersion, 1);
  return h;
}

/** What the cipher authenticates besides the body: the header, then the caller's AAD. */
export const headerAad = (header: Buffer, aad: Buffer | undefined) => (aad && aad.length > 0 ? Buffer.concat([header, aad]) : header);

/** Reads the key version from the header without decrypting. */
export function ciphertextVersion(ciphertext: Buffer): number {
  if (!Buffer.isBuffer(ciphertext) || ciphertext.length < MIN_CIPHERTEXT_BYTES || ciphertext[0] !== FORMAT_V1) {
    throw badRequest('crypto.ciphertext_malformed', 'the ciphertext is not a Keyward ciphertext');
  }
  return ciphertext.readUInt32BE(1);
}

export function splitCiphertext(ciphertext: Buffer): CiphertextParts {
  const version = ciphertextVersion(ciphertext);
  return {
    version,
    header: ciphertext.subarray(0, HEADER_BYTES),
    iv: ciphertext.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES),
    body: ciphertext.subarray(HEADER_BYTES + IV_BYTES, ciphertext.length - TAG_BYTES),
    tag: ciphertext.subarray(ciphertext.length - TAG_BYTES),
  };
}

export const joinCiphertext = (header: Buffer, iv: Buffer, body: Buffer, tag: Buffer) => Buffer.concat([header, iv, body, tag]);
