// Public keys read from a token, turned into SPKI DER by node:crypto (via JWK), and the curve table the token
// wrapper uses. The only ASN.1 handled by hand is what PKCS#11 itself hands over: CKA_EC_PARAMS is the DER of a
// named-curve OID (compared as fixed bytes) and CKA_EC_POINT is a DER OCTET STRING around the uncompressed point.
import { createPublicKey } from 'node:crypto';
import type { KeyType } from '../../types.ts';

export type Pkcs11EcType = Extract<KeyType, 'EC-P256' | 'EC-P384'>;
export type Pkcs11RsaType = Extract<KeyType, 'RSA-2048' | 'RSA-3072' | 'RSA-4096'>;
/** Key types the PKCS#11 layer generates, named as the key service names them. */
export type Pkcs11KeyType = Pkcs11EcType | Pkcs11RsaType | Extract<KeyType, 'AES-256-GCM'>;

export interface EcCurve {
  /** DER of the named-curve OID, the value of CKA_EC_PARAMS. */
  ecParams: Buffer;
  jwkCrv: 'P-256' | 'P-384';
  fieldBytes: number;
}

export const EC_CURVES: Record<Pkcs11EcType, EcCurve> = {
  // 1.2.840.10045.3.1.7 (prime256v1)
  'EC-P256': { ecParams: Buffer.from('06082a8648ce3d030107', 'hex'), jwkCrv: 'P-256', fieldBytes: 32 },
  // 1.3.132.0.34 (secp384r1)
  'EC-P384': { ecParams: Buffer.from('06052b81040022', 'hex'), jwkCrv: 'P-384', fieldBytes: 48 },
};

export const RSA_MODULUS_BITS: Record<Pkcs11RsaType, number> = { 'RSA-2048': 2048, 'RSA-3072': 3072, 'RSA-4096': 4096 };

export const isPkcs11EcType = (t: string): t is Pkcs11EcType => t in EC_CURVES;
export const isPkcs11RsaType = (t: string): t is Pkcs11RsaType => t in RSA_MODULUS_BITS;

/** The key type of an EC key from its CKA_EC_PARAMS, or undefined for a curve Keyward does not use. */
export function ecTypeOf(ecParams: Buffer): Pkcs11EcType | undefined {
  for (const [type, c] of Object.entries(EC_CURVES) as [Pkcs11EcType, EcCurve][]) {
    if (c.ecParams.equals(ecParams)) return type;
  }
  return undefined;
}

/** The key type of an RSA key from its modulus, or undefined for a size Keyward does not use. */
export function rsaTypeOf(modulus: Buffer): Pkcs11RsaType | undefined {
  const bits = stripLeadingZeros(modulus).length * 8;
  return (Object.keys(RSA_MODULUS_BITS) as Pkcs11RsaType[]).find((t) => RSA_MODULUS_BITS[t] === bits);
}

/**
 * The uncompressed point (04 || X || Y) inside CKA_EC_POINT. PKCS#11 2.40 says DER OCTET STRING; some tokens hand
 * over the bare point, which is accepted too.
 */
export function uncompressedPoint(type: Pkcs11EcType, ecPoint: Buffer): Buffer {
  const n = 1 + 2 * EC_CURVES[type].fieldBytes; // < 128, so the OCTET STRING length is one byte
  if (ecPoint.length === n + 2 && ecPoint[0] === 0x04 && ecPoint[1] === n && ecPoint[2] === 0x04) return ecPoint.subarray(2);
  if (ecPoint.length === n && ecPoint[0] === 0x04) return ecPoint;
  throw new TypeError(`CKA_EC_POINT is not an uncompressed ${type} point`);
}

export function ecPublicKeySpki(type: Pkcs11EcType, ecPoint: Buffer): Buffer {
  const { jwkCrv, fieldBytes } = EC_CURVES[type];
  const point = uncompressedPoint(type, ecPoint);
  const x = point.subarray(1, 1 + fieldBytes).toString('base64url');
  const y = point.subarray(1 + fieldBytes).toString('base64url');
  // createPublicKey checks that the point is on the curve.
  return createPublicKey({ key: { kty: 'EC', crv: jwkCrv, x, y }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}

export function rsaPublicKeySpki(modulus: Buffer, publicExponent: Buffer): Buffer {
  const n = stripLeadingZeros(modulus).toString('base64url');
  const e = stripLeadingZeros(publicExponent).toString('base64url');
  return createPublicKey({ key: { kty: 'RSA', n, e }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}

/** Big integers in PKCS#11 are big-endian and may carry leading zero bytes; JWK (RFC 7518) must not. */
function stripLeadingZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}
