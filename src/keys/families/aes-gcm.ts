// AES-GCM: authenticated encryption and data keys, in the Keyward ciphertext format (ciphertext.ts).
import { type KeyObject, createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { badRequest } from '../../core/problem.ts';
import { IV_BYTES, TAG_BYTES, ciphertextHeader, headerAad, joinCiphertext, splitCiphertext } from './ciphertext.ts';
import { internalError } from './errors.ts';
import { generateSecret, importSecret, loadSecret, secretFingerprint, type SecretSize } from './symmetric.ts';
import type { EncryptionFamily } from './types.ts';

export type AesGcmKeyType = 'AES-256-GCM';

const AES_KEY_BYTES = 32;
const SIZE: SecretSize = { min: AES_KEY_BYTES, max: AES_KEY_BYTES, generated: AES_KEY_BYTES };

export const DATA_KEY_SIZES = [16, 32, 64] as const;
export type DataKeySize = (typeof DATA_KEY_SIZES)[number];

function assertAesKey(key: KeyObject | undefined): asserts key is KeyObject {
  if (key?.type !== 'secret' || key.symmetricKeySize !== AES_KEY_BYTES) {
    throw internalError('crypto.key_material_invalid', 'an AES-256-GCM key is required');
  }
}

export function encrypt(key: KeyObject, keyVersion: number, plaintext: Buffer, aad?: Buffer): Buffer {
  assertAesKey(key);
  const header = ciphertextHeader(keyVersion);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(headerAad(header, aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return joinCiphertext(header, iv, body, cipher.getAuthTag());
}

export function decrypt(
  key: (version: number) => KeyObject | undefined,
  ciphertext: Buffer,
  aad?: Buffer,
): { plaintext: Buffer; version: number } {
  const { version, header, iv, body, tag } = splitCiphertext(ciphertext);
  const k = key(version);
  if (k === undefined) throw badRequest('crypto.key_version_unavailable', `key version ${version} is not available`);
  assertAesKey(k);
  try {
    const decipher = createDecipheriv('aes-256-gcm', k, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(headerAad(header, aad));
    decipher.setAuthTag(tag);
    return { plaintext: Buffer.concat([decipher.update(body), decipher.final()]), version };
  } catch {
    // Neutral on purpose: do not say whether the key, the AAD or the bytes were wrong.
    throw badRequest('crypto.decrypt_failed', 'the ciphertext could not be decrypted');
  }
}

/** A fresh random data key, returned both in the clear and wrapped under `key`. */
export function generateDataKey(key: KeyObject, keyVersion: number, bytes: number, aad?: Buffer): { plaintext: Buffer; ciphertext: Buffer } {
  if (!(DATA_KEY_SIZES as readonly number[]).includes(bytes)) {
    throw badRequest('crypto.data_key_length', `data keys are ${DATA_KEY_SIZES.join(', ')} bytes`);
  }
  const plaintext = randomBytes(bytes);
  return { plaintext, ciphertext: encrypt(key, keyVersion, plaintext, aad) };
}

export const aesGcmFamily: EncryptionFamily<AesGcmKeyType> = {
  name: 'AES-GCM',
  types: ['AES-256-GCM'],
  usage: 'encrypt_decrypt',

  generate: async () => generateSecret(SIZE),
  import: (type, input) => importSecret(type, SIZE, ['A256GCM'], input),
  load: (type, material) => loadSecret(type, SIZE, material),
  fingerprint: (_type, _spki, material) => secretFingerprint(material),

  encrypt,
  decrypt,
  generateDataKey,
};
