// Key fingerprints: stable identifiers that never reveal material.
import { createHash, createHmac } from 'node:crypto';
import type { KeyType } from '../types.ts';
import { internalError, isSymmetric } from './params.ts';

const SYMMETRIC_FINGERPRINT_LABEL = 'keyward-fingerprint-v1';

/**
 * Asymmetric: SHA-256 over the DER SPKI (what `openssl pkey -pubin -outform der | sha256sum` gives).
 * Symmetric: HMAC keyed with the material over a fixed label, so equal keys match but the value reveals nothing.
 */
export function fingerprint(type: KeyType, publicKeySpki: Buffer | null, material: Buffer): string {
  if (isSymmetric(type)) {
    return 'sha256:' + createHmac('sha256', material).update(SYMMETRIC_FINGERPRINT_LABEL).digest('hex');
  }
  if (!publicKeySpki) throw internalError('crypto.key_material_invalid', `${type} fingerprint needs the public key`);
  return 'sha256:' + createHash('sha256').update(publicKeySpki).digest('hex');
}
