// RSA: PKCS#1 v1.5 and PSS signatures. One line in MODULI per key type (and its line in the registry, index.ts).
//
// Message signatures go through node:crypto. A caller-supplied digest (prehashed input) cannot: node's sign()
// always hashes its input. PKCS#1 v1.5 over a digest is OpenSSL's RSA private-key operation over
// DigestInfo || digest, as Go's rsa.SignPKCS1v15 does; PSS is node-forge's EMSA-PSS encoding (RFC 8017 §9.1, salt
// from node's CSPRNG) and then OpenSSL's raw RSA private-key operation (blinded), so no RSA arithmetic runs in
// JavaScript. OpenSSL's own prehashed PSS (EVP_PKEY_sign with a signature digest) is not reachable from node:crypto.
import { type KeyObject, constants, generateKeyPair, privateEncrypt, publicDecrypt, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import type forge from 'node-forge';
import { badRequest } from '../../core/problem.ts';
import { DIGEST_LENGTH, type HashAlgorithm, type RsaPadding } from '../types.ts';
import { PKCS8_SPKI_DER, derPair, importPrivateKey, loadPrivateKey, spkiFingerprint } from './asymmetric.ts';
import { NODE_HASH, keyRackHash } from './hashes.ts';
import { planHash, signMessage, verifyMessage } from './signing.ts';
import type { SigningFamily } from './types.ts';

/** Modulus sizes in bits. */
const MODULI = {
  'RSA-2048': 2048,
  'RSA-3072': 3072,
  'RSA-4096': 4096,
} as const satisfies Record<string, number>;

export type RsaKeyType = keyof typeof MODULI;

const DEFAULT_HASH: HashAlgorithm = 'SHA-256';
/** An RSA key signs under every RS and PS algorithm. */
const JWS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

// ---------------------------------------------------------------- algorithm knowledge

/** DER DigestInfo prefixes from RFC 8017 §9.2, note 1. */
const DIGEST_INFO_PREFIX: Record<HashAlgorithm, Buffer> = {
  'SHA-256': Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  'SHA-384': Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  'SHA-512': Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

/** What PKCS#1 v1.5 pads and signs for a digest: DER DigestInfo || digest. */
export const digestInfo = (hash: HashAlgorithm, digest: Buffer) => Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]);

let forgeLib: typeof forge | undefined;
/**
 * node-forge (a large library) is loaded by the first PSS signature over a digest: most processes never make one.
 * Synchronously (it is CommonJS), so signing stays synchronous.
 */
const loadForge = (): typeof forge => (forgeLib ??= createRequire(import.meta.url)('node-forge') as typeof forge);

const FORGE_MD: Record<HashAlgorithm, () => forge.md.MessageDigest> = {
  'SHA-256': () => loadForge().md.sha256.create(),
  'SHA-384': () => loadForge().md.sha384.create(),
  'SHA-512': () => loadForge().md.sha512.create(),
};

/** EMSA-PSS with MGF1 over the same hash and a salt as long as the hash, like the message path (SALTLEN_DIGEST). */
function emsaPss(hash: HashAlgorithm) {
  const lib = loadForge();
  return lib.pss.create({
    md: FORGE_MD[hash](),
    mgf: lib.mgf.mgf1.create(FORGE_MD[hash]()),
    saltLength: DIGEST_LENGTH[hash],
    prng: { getBytesSync: (n: number) => randomBytes(n).toString('binary') },
  } as unknown as Parameters<typeof forge.pss.create>[0]);
}

/** The EMSA-PSS encoded message for a digest, for a modulus of `bits`. */
export function emsaPssEncode(hash: HashAlgorithm, digest: Buffer, bits: number): Buffer {
  // The encoder takes a digest object; this one holds the caller's digest, already computed.
  const prehashed = { digest: () => loadForge().util.createBuffer(digest.toString('binary')) } as unknown as forge.md.MessageDigest;
  return Buffer.from(emsaPss(hash).encode(prehashed, bits), 'binary');
}

export function emsaPssVerify(hash: HashAlgorithm, digest: Buffer, em: Buffer, bits: number): boolean {
  return emsaPss(hash).verify(digest.toString('binary'), em.toString('binary'), bits);
}

function jwsAlgorithm(rsaPadding: RsaPadding | undefined): string {
  if (rsaPadding === undefined || rsaPadding === 'pkcs1') return 'RS256';
  if (rsaPadding === 'pss') return 'PS256';
  throw badRequest('crypto.rsa_padding_unsupported', 'rsa padding must be pkcs1 or pss');
}

// ---------------------------------------------------------------- software: node:crypto

const modulusBits = (key: KeyObject) => key.asymmetricKeyDetails?.modulusLength ?? 0;

function pkcs1SignDigest(key: KeyObject, hash: HashAlgorithm, digest: Buffer): Buffer {
  return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, digestInfo(hash, digest));
}

function pkcs1VerifyDigest(pub: KeyObject, hash: HashAlgorithm, digest: Buffer, signature: Buffer): boolean {
  // Like RSA_verify and Go: the signature is exactly the modulus length.
  if (signature.length * 8 !== modulusBits(pub)) return false;
  const recovered = publicDecrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, signature);
  const expected = digestInfo(hash, digest);
  return recovered.length === expected.length && timingSafeEqual(recovered, expected);
}

function pssSignDigest(key: KeyObject, hash: HashAlgorithm, digest: Buffer): Buffer {
  // EM is ceil((bits - 1) / 8) bytes: the modulus length for Keyward's RSA sizes, and below the modulus.
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, emsaPssEncode(hash, digest, modulusBits(key)));
}

function pssVerifyDigest(pub: KeyObject, hash: HashAlgorithm, digest: Buffer, signature: Buffer): boolean {
  const bits = modulusBits(pub);
  // As for PKCS#1 v1.5: exactly the modulus length.
  if (signature.length * 8 !== bits) return false;
  return emsaPssVerify(hash, digest, publicDecrypt({ key: pub, padding: constants.RSA_NO_PADDING }, signature), bits);
}

/**
 * node:crypto key options for the padding; PSS salt length equals the hash length. PKCS#1 v1.5 (the default) passes
 * the KeyObject itself: an options object costs node a third of its signing rate, and this is the hot path.
 */
function nodeKey(key: KeyObject, padding: RsaPadding) {
  return padding === 'pss' ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : key;
}

export const rsaFamily: SigningFamily<RsaKeyType> = {
  name: 'RSA',
  types: Object.keys(MODULI) as RsaKeyType[],
  usage: 'sign_verify',

  options: ['rsaPadding'],
  defaultHash: () => DEFAULT_HASH,
  keyRackAlgorithm: (_type, choice) => `RSA_${choice.rsaPadding === 'pss' ? 'PSS' : 'PKCS1_V15'}_${keyRackHash(choice.hashAlgorithm ?? DEFAULT_HASH)}`,
  jwsAlgorithm: (_type, rsaPadding) => jwsAlgorithm(rsaPadding),
  // RS256 and PS256 both: a JWK with alg RS256 would not verify a PS256 token.
  singleJwsAlgorithm: false,
  jwsSignOptions: (_type, alg) => (alg === 'RS256' ? { hashAlgorithm: DEFAULT_HASH, rsaPadding: 'pkcs1' } : alg === 'PS256' ? { hashAlgorithm: DEFAULT_HASH, rsaPadding: 'pss' } : undefined),
  jwkAlgorithms: () => JWS_ALGORITHMS,
  matches: (type, key) => key.asymmetricKeyType === 'rsa' && key.asymmetricKeyDetails?.modulusLength === MODULI[type],

  generate: (type) => derPair((cb) => generateKeyPair('rsa', { modulusLength: MODULI[type], publicExponent: 0x10001, ...PKCS8_SPKI_DER }, cb)),
  import: (type, input) => importPrivateKey(rsaFamily, type, input),
  load: (type, material) => loadPrivateKey(rsaFamily, type, material),
  fingerprint: (type, spki) => spkiFingerprint(type, spki),

  async sign(_type, key, plan) {
    const hash = planHash(plan);
    if ('digest' in plan.input) {
      return plan.rsaPadding === 'pss' ? pssSignDigest(key, hash, plan.input.digest) : pkcs1SignDigest(key, hash, plan.input.digest);
    }
    return signMessage(NODE_HASH[hash], plan.input.message, nodeKey(key, plan.rsaPadding));
  },

  async verify(_type, publicKey, plan, signature) {
    const hash = planHash(plan);
    if ('digest' in plan.input) {
      try {
        return plan.rsaPadding === 'pss' ? pssVerifyDigest(publicKey, hash, plan.input.digest, signature) : pkcs1VerifyDigest(publicKey, hash, plan.input.digest, signature);
      } catch {
        return false;
      }
    }
    return verifyMessage(NODE_HASH[hash], plan.input.message, nodeKey(publicKey, plan.rsaPadding), signature);
  },
};
