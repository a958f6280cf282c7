// Signing and verifying a caller-supplied digest (prehashed input). node:crypto's sign() always hashes its input,
// so ECDSA goes through @noble/curves (audited) with prehash disabled, and RSA PKCS#1 v1.5 through OpenSSL's raw
// RSA private-key operation over DigestInfo || digest, as Go's rsa.SignPKCS1v15 does. RSA-PSS over a digest has no
// library-backed path here (OpenSSL's EVP_PKEY_sign is not reachable from node:crypto) and is refused upstream.
import { type KeyObject, constants, privateEncrypt, publicDecrypt, timingSafeEqual } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import type { EcdsaFormat, HashAlgorithm } from '../types.ts';
import { EC_PARAMS, type EcKeyType } from './params.ts';

const CURVES = { 'EC-P256': p256, 'EC-P384': p384, 'EC-P521': p521 } as const;

/** DER DigestInfo prefixes from RFC 8017 §9.2, note 1. */
const DIGEST_INFO_PREFIX: Record<HashAlgorithm, Buffer> = {
  'SHA-256': Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  'SHA-384': Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  'SHA-512': Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

const nobleFormat = (f: EcdsaFormat) => (f === 'der' ? 'der' : 'compact');

/**
 * ECDSA DER → raw r||s. node signs fastest when handed the KeyObject alone (DER output); asking it for
 * ieee-p1363 through an options object costs about twice as much as this conversion.
 */
export function ecdsaDerToRaw(type: EcKeyType, der: Buffer): Buffer {
  return Buffer.from(CURVES[type].Signature.fromBytes(der, 'der').toBytes('compact'));
}

export function ecdsaSignDigest(type: EcKeyType, key: KeyObject, digest: Buffer, format: EcdsaFormat): Buffer {
  const { d } = key.export({ format: 'jwk' });
  const secret = Buffer.from(d ?? '', 'base64url');
  try {
    // Hedged RFC 6979 nonces (extra CSPRNG entropy); low-S output, which every verifier accepts.
    const sig = CURVES[type].sign(digest, secret, { prehash: false, format: nobleFormat(format), extraEntropy: true });
    return Buffer.from(sig);
  } finally {
    secret.fill(0);
  }
}

export function ecdsaVerifyDigest(type: EcKeyType, pub: KeyObject, digest: Buffer, signature: Buffer, format: EcdsaFormat): boolean {
  if (format === 'raw' && signature.length !== 2 * EC_PARAMS[type].fieldBytes) return false;
  const { x, y } = pub.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(x ?? '', 'base64url'), Buffer.from(y ?? '', 'base64url')]);
  // lowS: false: OpenSSL (and so node's sign()) produces high-S signatures half the time; they are valid ECDSA.
  return CURVES[type].verify(signature, digest, point, { prehash: false, lowS: false, format: nobleFormat(format) });
}

export function rsaPkcs1SignDigest(key: KeyObject, hash: HashAlgorithm, digest: Buffer): Buffer {
  return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]));
}

export function rsaPkcs1VerifyDigest(pub: KeyObject, hash: HashAlgorithm, digest: Buffer, signature: Buffer): boolean {
  // Like RSA_verify and Go: the signature is exactly the modulus length.
  if (signature.length * 8 !== pub.asymmetricKeyDetails?.modulusLength) return false;
  const recovered = publicDecrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, signature);
  const expected = Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]);
  return recovered.length === expected.length && timingSafeEqual(recovered, expected);
}
