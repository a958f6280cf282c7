// EC: ECDSA over the NIST curves. One line in CURVES per key type (and its line in the registry, index.ts).
//
// Message signatures go through node:crypto. A caller-supplied digest (prehashed input) cannot: node's sign()
// always hashes its input, so ECDSA over a digest goes through @noble/curves (audited) with prehash disabled.
import { type KeyObject, generateKeyPair } from 'node:crypto';
import type { ECDSA } from '@noble/curves/abstract/weierstrass.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import type { EcdsaFormat, HashAlgorithm } from '../types.ts';
import { PKCS8_SPKI_DER, derPair, importPrivateKey, loadPrivateKey, spkiFingerprint } from './asymmetric.ts';
import { NODE_HASH, keyRackHash } from './hashes.ts';
import { planHash, signMessage, verifyMessage } from './signing.ts';
import type { SigningFamily } from './types.ts';

interface Curve {
  /** OpenSSL curve name, as node reports it in asymmetricKeyDetails.namedCurve. */
  namedCurve: string;
  jwsAlg: string;
  defaultHash: HashAlgorithm;
  /** Bytes per scalar; a raw r||s signature is twice this. */
  fieldBytes: number;
  /** The curve in KeyRack algorithm names: ECDSA_<this>_SHA256. */
  keyRackName: string;
  /** The same curve in @noble/curves, for digest signatures and DER <-> raw conversion. */
  ecdsa: ECDSA;
}

const CURVES = {
  'EC-P256': { namedCurve: 'prime256v1', jwsAlg: 'ES256', defaultHash: 'SHA-256', fieldBytes: 32, keyRackName: 'P256', ecdsa: p256 },
  'EC-P384': { namedCurve: 'secp384r1', jwsAlg: 'ES384', defaultHash: 'SHA-384', fieldBytes: 48, keyRackName: 'P384', ecdsa: p384 },
  'EC-P521': { namedCurve: 'secp521r1', jwsAlg: 'ES512', defaultHash: 'SHA-512', fieldBytes: 66, keyRackName: 'P521', ecdsa: p521 },
} as const satisfies Record<string, Curve>;

export type EcKeyType = keyof typeof CURVES;
const curve = (type: EcKeyType): Curve => CURVES[type];

// ---------------------------------------------------------------- algorithm knowledge

const nobleFormat = (f: EcdsaFormat) => (f === 'der' ? 'der' : 'compact');

/**
 * ECDSA DER → raw r||s. node signs fastest when handed the KeyObject alone (DER output); asking it for
 * ieee-p1363 through an options object costs about twice as much as this conversion.
 */
export function ecdsaDerToRaw(type: EcKeyType, der: Buffer): Buffer {
  return Buffer.from(curve(type).ecdsa.Signature.fromBytes(der, 'der').toBytes('compact'));
}

// ---------------------------------------------------------------- software: node:crypto and @noble/curves

function ecdsaSignDigest(type: EcKeyType, key: KeyObject, digest: Buffer, format: EcdsaFormat): Buffer {
  const { d } = key.export({ format: 'jwk' });
  const secret = Buffer.from(d ?? '', 'base64url');
  try {
    // Hedged RFC 6979 nonces (extra CSPRNG entropy); low-S output, which every verifier accepts.
    const sig = curve(type).ecdsa.sign(digest, secret, { prehash: false, format: nobleFormat(format), extraEntropy: true });
    return Buffer.from(sig);
  } finally {
    secret.fill(0);
  }
}

function ecdsaVerifyDigest(type: EcKeyType, pub: KeyObject, digest: Buffer, signature: Buffer, format: EcdsaFormat): boolean {
  if (format === 'raw' && signature.length !== 2 * curve(type).fieldBytes) return false;
  const { x, y } = pub.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(x ?? '', 'base64url'), Buffer.from(y ?? '', 'base64url')]);
  // lowS: false: OpenSSL (and so node's sign()) produces high-S signatures half the time; they are valid ECDSA.
  return curve(type).ecdsa.verify(signature, digest, point, { prehash: false, lowS: false, format: nobleFormat(format) });
}

export const ecFamily: SigningFamily<EcKeyType> = {
  name: 'EC',
  types: Object.keys(CURVES) as EcKeyType[],
  usage: 'sign_verify',

  options: ['ecdsaFormat'],
  defaultHash: (type) => curve(type).defaultHash,
  keyRackAlgorithm: (type, choice) => `ECDSA_${curve(type).keyRackName}_${keyRackHash(choice.hashAlgorithm ?? curve(type).defaultHash)}`,
  jwsAlgorithm: (type) => curve(type).jwsAlg,
  singleJwsAlgorithm: true,
  // JWS wants raw r||s over the curve's own hash.
  jwsSignOptions: (type, alg) => (alg === curve(type).jwsAlg ? { hashAlgorithm: curve(type).defaultHash, ecdsaFormat: 'raw' } : undefined),
  jwkAlgorithms: (type) => [curve(type).jwsAlg],
  matches: (type, key) => key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === curve(type).namedCurve,

  generate: (type) => derPair((cb) => generateKeyPair('ec', { namedCurve: curve(type).namedCurve, ...PKCS8_SPKI_DER }, cb)),
  import: (type, input) => importPrivateKey(ecFamily, type, input),
  load: (type, material) => loadPrivateKey(ecFamily, type, material),
  fingerprint: (type, spki) => spkiFingerprint(type, spki),

  async sign(type, key, plan) {
    if ('digest' in plan.input) return ecdsaSignDigest(type, key, plan.input.digest, plan.ecdsaFormat);
    // The KeyObject alone is node's fast path (DER); raw is converted after.
    const der = await signMessage(NODE_HASH[planHash(plan)], plan.input.message, key);
    return plan.ecdsaFormat === 'raw' ? ecdsaDerToRaw(type, der) : der;
  },

  async verify(type, publicKey, plan, signature) {
    if ('digest' in plan.input) {
      try {
        return ecdsaVerifyDigest(type, publicKey, plan.input.digest, signature, plan.ecdsaFormat);
      } catch {
        return false;
      }
    }
    const key = plan.ecdsaFormat === 'raw' ? { key: publicKey, dsaEncoding: 'ieee-p1363' as const } : publicKey;
    return verifyMessage(NODE_HASH[planHash(plan)], plan.input.message, key, signature);
  },
};
