// What the symmetric families (AES-GCM, HMAC) share: raw secret bytes sealed at rest, imported as raw bytes or an
// oct JWK, and a fingerprint that identifies a key without revealing it.
import { type KeyObject, createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { importInvalid, importMismatch, internalError } from './errors.ts';
import type { GeneratedKey, ImportInput } from './types.ts';

/** Secret lengths in bytes: what import and loading accept, and what generation makes. */
export interface SecretSize {
  min: number;
  max: number;
  generated: number;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL_RE = /^[A-Za-z0-9_-]*$/;
const FINGERPRINT_LABEL = 'keyward-fingerprint-v1';

const fits = (size: SecretSize, n: number) => n >= size.min && n <= size.max;
const sizeText = (size: SecretSize) => (size.min === size.max ? `exactly ${size.min}` : `${size.min} to ${size.max}`);

// ---------------------------------------------------------------- algorithm knowledge

/** HMAC keyed with the material over a fixed label, so equal keys match but the value reveals nothing. */
export function secretFingerprint(material: Buffer): string {
  return 'sha256:' + createHmac('sha256', material).update(FINGERPRINT_LABEL).digest('hex');
}

// ---------------------------------------------------------------- software: node:crypto

export function generateSecret(size: SecretSize): GeneratedKey {
  return { material: randomBytes(size.generated), publicKeySpki: null };
}

/** `jwkAlgorithms`: the JWK `alg` values that fit the type; any other `alg` on an oct JWK is a mismatch. */
export function importSecret(type: string, size: SecretSize, jwkAlgorithms: readonly string[], input: ImportInput): GeneratedKey {
  let material: Buffer;
  if (input.raw_base64 !== undefined) {
    if (typeof input.raw_base64 !== 'string' || !BASE64_RE.test(input.raw_base64)) throw importInvalid('key_material is not valid base64');
    material = Buffer.from(input.raw_base64, 'base64');
  } else if (input.jwk !== undefined) {
    const jwk = input.jwk;
    if (typeof jwk !== 'object' || jwk === null) throw importInvalid('jwk must be a JSON object');
    if (jwk.kty !== 'oct') throw importMismatch(type, `JWK kty is ${String(jwk.kty)}, expected oct`);
    if (jwk.alg !== undefined && !jwkAlgorithms.includes(String(jwk.alg))) throw importMismatch(type, `JWK alg is ${String(jwk.alg)}`);
    if (typeof jwk.k !== 'string' || !BASE64URL_RE.test(jwk.k)) throw importInvalid('JWK k is not valid base64url');
    material = Buffer.from(jwk.k, 'base64url');
  } else {
    throw importInvalid(`${type} keys are imported as key_material or an oct JWK`);
  }
  if (!fits(size, material.length)) throw importInvalid(`${type} keys are ${sizeText(size)} bytes, got ${material.length}`);
  return { material, publicKeySpki: null };
}

export function loadSecret(type: string, size: SecretSize, material: Buffer): KeyObject {
  if (!fits(size, material.length)) throw internalError('crypto.key_material_invalid', `stored ${type} material has the wrong length`);
  return createSecretKey(material);
}
