// Asymmetric signing and verification over a message or a caller-supplied digest.
// Message signatures run on libuv's threadpool through node:crypto's callback form, so they never hold the event
// loop that serves every other request: RSA and P-384/P-521 take 0.3 to several ms each. P-256 and Ed25519 take
// 25-35 µs; measured here, the threadpool still raised served ES256 signing by about a third and IdP token
// issuance by more, because the loop parses the next request while a signature is computed.
import { type KeyObject, constants, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { badRequest } from '../../server/problem.ts';
import { DIGEST_LENGTH, type EcdsaFormat, type HashAlgorithm, type KeyType, type RsaPadding, type SigningKeyType } from '../types.ts';
import { ecdsaDerToRaw, ecdsaSignDigest, ecdsaVerifyDigest, rsaPkcs1SignDigest, rsaPkcs1VerifyDigest, rsaPssSignDigest, rsaPssVerifyDigest } from './digest.ts';
import { NODE_HASH, assertHashAlgorithm, assertOptionsFit, assertSigningType, defaultHash, isEc } from './params.ts';

export interface SignInput {
  keyObject: KeyObject;
  type: KeyType;
  input: { message: Buffer } | { digest: Buffer; hashAlgorithm?: HashAlgorithm | undefined };
  /** For message signing with EC/RSA; default SHA-256 (EC-P384: SHA-384, EC-P521: SHA-512). */
  hashAlgorithm?: HashAlgorithm;
  /** RSA only; default 'pkcs1'. */
  rsaPadding?: RsaPadding;
  /** ECDSA only; default 'der'. */
  ecdsaFormat?: EcdsaFormat;
}

export interface VerifyInput extends SignInput {
  publicKey: KeyObject;
  signature: Buffer;
}

/** What a request resolves to once validated. */
type Plan =
  | { kind: 'ed25519'; message: Buffer }
  | { kind: 'message'; type: SigningKeyType; hash: HashAlgorithm; message: Buffer; padding: RsaPadding; format: EcdsaFormat }
  | { kind: 'digest'; type: SigningKeyType; hash: HashAlgorithm; digest: Buffer; padding: RsaPadding; format: EcdsaFormat };

function plan(i: SignInput, operation: string): Plan {
  assertSigningType(i.type, operation);
  const type = i.type;
  assertOptionsFit(type, i);
  const padding = i.rsaPadding ?? 'pkcs1';
  if (padding !== 'pkcs1' && padding !== 'pss') throw badRequest('crypto.rsa_padding_unsupported', 'rsa padding must be pkcs1 or pss');
  const format = i.ecdsaFormat ?? 'der';
  if (format !== 'der' && format !== 'raw') throw badRequest('crypto.ecdsa_format_unsupported', 'ecdsa format must be der or raw');

  if ('digest' in i.input) {
    const { digest, hashAlgorithm } = i.input;
    if (type === 'Ed25519') throw badRequest('crypto.digest_not_supported', 'Ed25519 signs messages only (pure EdDSA); send the message');
    if (hashAlgorithm === undefined) throw badRequest('crypto.hash_algorithm_required', 'a digest needs its hash_algorithm');
    assertHashAlgorithm(hashAlgorithm);
    if (i.hashAlgorithm !== undefined && i.hashAlgorithm !== hashAlgorithm) {
      throw badRequest('crypto.hash_algorithm_mismatch', 'hashAlgorithm differs from the digest\'s hash algorithm');
    }
    if (!Buffer.isBuffer(digest) || digest.length !== DIGEST_LENGTH[hashAlgorithm]) {
      throw badRequest('crypto.digest_length', `a ${hashAlgorithm} digest is ${DIGEST_LENGTH[hashAlgorithm]} bytes`);
    }
    return { kind: 'digest', type, hash: hashAlgorithm, digest, padding, format };
  }

  const { message } = i.input;
  if (!Buffer.isBuffer(message)) throw badRequest('crypto.message_invalid', 'message must be bytes');
  // Pure EdDSA: no prehash, so a hash algorithm does not apply.
  if (type === 'Ed25519') {
    if (i.hashAlgorithm !== undefined) throw badRequest('crypto.hash_algorithm_unsupported', 'Ed25519 signs the message itself (pure EdDSA); hash_algorithm does not apply');
    return { kind: 'ed25519', message };
  }
  const hash = i.hashAlgorithm ?? defaultHash(type);
  assertHashAlgorithm(hash);
  return { kind: 'message', type, hash, message, padding, format };
}

/**
 * node:crypto key options for RSA padding / ECDSA encoding; PSS salt length equals the hash length. The defaults
 * (DER for ECDSA, PKCS#1 v1.5 for RSA) pass the KeyObject itself: an options object costs node a third of its
 * signing rate, and this is the hot path.
 */
function nodeKeyOptions(key: KeyObject, type: SigningKeyType, padding: RsaPadding, format: EcdsaFormat) {
  if (isEc(type)) return format === 'raw' ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
  if (padding === 'pss') return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  return key;
}

type NodeKey = Parameters<typeof nodeSign>[2];

type VerifyKey = Parameters<typeof nodeVerify>[2];

function signMessage(algorithm: string | null, data: Buffer, key: NodeKey): Promise<Buffer> {
  return new Promise((resolve, reject) => nodeSign(algorithm, data, key, (err, sig) => (err ? reject(err) : resolve(sig))));
}

function verifyMessage(algorithm: string | null, data: Buffer, key: VerifyKey, signature: Buffer): Promise<boolean> {
  return new Promise((resolve) => nodeVerify(algorithm, data, key, signature, (err, ok) => resolve(!err && ok)));
}

export async function sign(i: SignInput): Promise<Buffer> {
  const p = plan(i, 'signing');
  if (p.kind === 'ed25519') return signMessage(null, p.message, i.keyObject);
  if (p.kind === 'message') {
    if (isEc(p.type) && p.format === 'raw') return ecdsaDerToRaw(p.type, await signMessage(NODE_HASH[p.hash], p.message, i.keyObject));
    return signMessage(NODE_HASH[p.hash], p.message, nodeKeyOptions(i.keyObject, p.type, p.padding, p.format));
  }
  // Caller-supplied digests (see digest.ts), synchronous.
  if (isEc(p.type)) return ecdsaSignDigest(p.type, i.keyObject, p.digest, p.format);
  if (p.padding === 'pss') return rsaPssSignDigest(i.keyObject, p.hash, p.digest);
  return rsaPkcs1SignDigest(i.keyObject, p.hash, p.digest);
}

/** Request errors (bad digest length, unsupported combination) throw; a bad or garbled signature resolves false. */
export async function verify(i: VerifyInput): Promise<boolean> {
  const p = plan(i, 'verification');
  if (!Buffer.isBuffer(i.signature)) return false;
  if (p.kind === 'ed25519') return verifyMessage(null, p.message, i.publicKey, i.signature);
  if (p.kind === 'message') return verifyMessage(NODE_HASH[p.hash], p.message, nodeKeyOptions(i.publicKey, p.type, p.padding, p.format), i.signature);
  try {
    if (isEc(p.type)) return ecdsaVerifyDigest(p.type, i.publicKey, p.digest, i.signature, p.format);
    if (p.padding === 'pss') return rsaPssVerifyDigest(i.publicKey, p.hash, p.digest, i.signature);
    return rsaPkcs1VerifyDigest(i.publicKey, p.hash, p.digest, i.signature);
  } catch {
    return false;
  }
}
