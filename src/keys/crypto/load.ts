// Turning sealed material back into KeyObjects. Callers cache the result.
import { type KeyObject, createPrivateKey, createPublicKey, createSecretKey } from 'node:crypto';
import type { KeyType } from '../types.ts';
import { AES_KEY_BYTES, HMAC_MAX_BYTES, HMAC_MIN_BYTES, internalError, keyObjectMatches } from './params.ts';

export function loadPrivateKey(type: KeyType, material: Buffer): KeyObject {
  if (type === 'AES-256-GCM' || type === 'HMAC-SHA256') {
    const ok = type === 'AES-256-GCM'
      ? material.length === AES_KEY_BYTES
      : material.length >= HMAC_MIN_BYTES && material.length <= HMAC_MAX_BYTES;
    if (!ok) throw internalError('crypto.key_material_invalid', `stored ${type} material has the wrong length`);
    return createSecretKey(material);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: material, format: 'der', type: 'pkcs8' });
  } catch {
    throw internalError('crypto.key_material_invalid', `stored ${type} material is not a PKCS#8 private key`);
  }
  if (!keyObjectMatches(type, key)) throw internalError('crypto.key_material_invalid', `stored material is not a ${type} key`);
  return key;
}

/** SPKI DER → public KeyObject. */
export function loadPublicKey(spki: Buffer): KeyObject {
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}
