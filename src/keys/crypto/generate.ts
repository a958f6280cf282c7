// Key generation. Asymmetric keygen runs off the main thread (RSA-4096 takes a while).
import { generateKeyPair, randomBytes } from 'node:crypto';
import type { KeyType } from '../types.ts';
import { AES_KEY_BYTES, EC_PARAMS, HMAC_GENERATED_BYTES, RSA_BITS, isEc, isRsa } from './params.ts';

/** Material is what gets sealed at rest: PKCS#8 DER for asymmetric keys, raw bytes for AES/HMAC. */
export interface GeneratedKey {
  material: Buffer;
  publicKeySpki: Buffer | null;
}

const DER = { publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } } as const;

function derPair(run: (cb: (err: Error | null, publicKey: Buffer, privateKey: Buffer) => void) => void): Promise<GeneratedKey> {
  return new Promise((resolve, reject) => {
    run((err, publicKey, privateKey) => (err ? reject(err) : resolve({ material: privateKey, publicKeySpki: publicKey })));
  });
}

export async function generateKey(type: KeyType): Promise<GeneratedKey> {
  if (type === 'AES-256-GCM') return { material: randomBytes(AES_KEY_BYTES), publicKeySpki: null };
  if (type === 'HMAC-SHA256') return { material: randomBytes(HMAC_GENERATED_BYTES), publicKeySpki: null };
  if (isEc(type)) return derPair((cb) => generateKeyPair('ec', { namedCurve: EC_PARAMS[type].namedCurve, ...DER }, cb));
  if (isRsa(type)) {
    return derPair((cb) => generateKeyPair('rsa', { modulusLength: RSA_BITS[type], publicExponent: 0x10001, ...DER }, cb));
  }
  return derPair((cb) => generateKeyPair('ed25519', DER, cb));
}
