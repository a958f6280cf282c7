// AES-256-GCM envelope under a caller-held 32-byte key: iv(12) || tag(16) || ciphertext, with the AAD bound.
// Plain functions over node:crypto; callers map failures to their own ProblemError codes (a failed open
// throws a plain Error whose message never contains key material or plaintext).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const GCM_KEY_BYTES = 32;
export const GCM_IV_BYTES = 12;
export const GCM_TAG_BYTES = 16;

function checkKey(key: Uint8Array): void {
  if (key.byteLength !== GCM_KEY_BYTES) throw new Error('envelope: key must be 32 bytes');
}

/** Encrypts `plaintext` under `key` with `aad` bound; returns iv || tag || ciphertext. */
export function gcmSeal(key: Uint8Array, aad: string, plaintext: Uint8Array): Buffer {
  checkKey(key);
  const iv = randomBytes(GCM_IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
}

/** Reverses gcmSeal; throws if the blob is truncated, was altered, or the key or aad differ. */
export function gcmOpen(key: Uint8Array, aad: string, blob: Uint8Array): Buffer {
  checkKey(key);
  if (blob.byteLength < GCM_IV_BYTES + GCM_TAG_BYTES) throw new Error('envelope: blob too short');
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const iv = buf.subarray(0, GCM_IV_BYTES);
  const tag = buf.subarray(GCM_IV_BYTES, GCM_IV_BYTES + GCM_TAG_BYTES);
  const ct = buf.subarray(GCM_IV_BYTES + GCM_TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  const head = decipher.update(ct);
  try {
    return Buffer.concat([head, decipher.final()]);
  } catch {
    // Authentication failed: the unauthenticated output must not survive.
    head.fill(0);
    throw new Error('envelope: authentication failed');
  } finally {
    // Buffer.concat copied it (or we threw); either way the intermediate is no longer needed.
    if (head.byteLength > 0) head.fill(0);
  }
}
