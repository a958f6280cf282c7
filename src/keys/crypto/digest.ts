// Signing and verifying a caller-supplied digest (prehashed input). node:crypto's sign() always hashes its input,
// so ECDSA goes through @noble/curves (audited) with prehash disabled; RSA PKCS#1 v1.5 through OpenSSL's RSA
// private-key operation over DigestInfo || digest, as Go's rsa.SignPKCS1v15 does; RSA-PSS through node-forge's
// EMSA-PSS encoding (RFC 8017 §9.1, salt from node's CSPRNG) and then OpenSSL's raw RSA private-key operation
// (blinded), so no RSA arithmetic runs in JavaScript. OpenSSL's own prehashed PSS (EVP_PKEY_sign with a signature
// digest) is not reachable from node:crypto.
import { type KeyObject, constants, privateEncrypt, publicDecrypt, randomBytes, timingSafeEqual } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import forge from 'node-forge';
import { DIGEST_LENGTH, type EcdsaFormat, type HashAlgorithm } from '../types.ts';
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

const modulusBits = (key: KeyObject) => key.asymmetricKeyDetails?.modulusLength ?? 0;

export function rsaPkcs1SignDigest(key: KeyObject, hash: HashAlgorithm, digest: Buffer): Buffer {
  return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]));
}

export function rsaPkcs1VerifyDigest(pub: KeyObject, hash: HashAlgorithm, digest: Buffer, signature: Buffer): boolean {
  // Like RSA_verify and Go: the signature is exactly the modulus length.
  if (signature.length * 8 !== modulusBits(pub)) return false;
  const recovered = publicDecrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, signature);
  const expected = Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]);
  return recovered.length === expected.length && timingSafeEqual(recovered, expected);
}

const FORGE_MD: Record<HashAlgorithm, () => forge.md.MessageDigest> = {
  'SHA-256': () => forge.md.sha256.create(),
  'SHA-384': () => forge.md.sha384.create(),
  'SHA-512': () => forge.md.sha512.create(),
};

/** EMSA-PSS with MGF1 over the same hash and a salt as long as the hash, like the message path (SALTLEN_DIGEST). */
function emsaPss(hash: HashAlgorithm) {
  return forge.pss.create({
    md: FORGE_MD[hash](),
    mgf: forge.mgf.mgf1.create(FORGE_MD[hash]()),
    saltLength: DIGEST_LENGTH[hash],
    prng: { getBytesSync: (n: number) => randomBytes(n).toString('binary') },
  } as unknown as Parameters<typeof forge.pss.create>[0]);
}


export function rsaPssSignDigest(key: KeyObject, hash: HashAlgorithm, digest: Buffer): Buffer {
  const bits = modulusBits(key);
  // The encoder takes a digest object; this one holds the caller's digest, already computed.
  const prehashed = { digest: () => forge.util.createBuffer(digest.toString('binary')) } as unknown as forge.md.MessageDigest;
  const em = Buffer.from(emsaPss(hash).encode(prehashed, bits), 'binary');
  // EM is ceil((bits - 1) / 8) bytes: the modulus length for Keyward's RSA sizes, and below the modulus.
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, em);
}

export function rsaPssVerifyDigest(pub: KeyObject, hash: HashAlgorithm, digest: Buffer, signature: Buffer): boolean {
  const bits = modulusBits(pub);
  // As for PKCS#1 v1.5: exactly the modulus length.
  if (signature.length * 8 !== bits) return false;
  const em = publicDecrypt({ key: pub, padding: constants.RSA_NO_PADDING }, signature);
  return emsaPss(hash).verify(digest.toString('binary'), em.toString('binary'), bits);
}
