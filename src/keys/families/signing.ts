// What the signing families share. Algorithm knowledge: which options fit a type (assertOptionsFit) and turning a
// request into a plan (planSignature): message or digest, hash algorithm, digest length. Software: node:crypto
// message signatures on libuv's threadpool.
//
// Message signatures run on the threadpool through node:crypto's callback form, so they never hold the event loop
// that serves every other request: RSA and P-384/P-521 take 0.3 to several ms each. P-256 and Ed25519 take
// 25-35 µs; measured here, the threadpool still raised served ES256 signing by about a third and IdP token
// issuance by more, because the loop parses the next request while a signature is computed.
import { sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { badRequest, type ProblemCodeWithStatus } from '../../core/problem.ts';
import { DIGEST_LENGTH, type HashAlgorithm } from '../types.ts';
import { assertHashAlgorithm } from './hashes.ts';
import type { SignatureOption, SignaturePlan, SignatureRequest, SigningCapability } from './types.ts';

const OPTION_REFUSALS: Record<SignatureOption, { code: ProblemCodeWithStatus<400>; appliesTo: string }> = {
  rsaPadding: { code: 'crypto.rsa_padding_unsupported', appliesTo: 'rsa padding applies to RSA keys' },
  ecdsaFormat: { code: 'crypto.ecdsa_format_unsupported', appliesTo: 'signature format applies to ECDSA keys' },
};

/** An option meant for another key type is a mistake to report, not to ignore: the caller expects what it asked for. */
export function assertOptionsFit<T extends string>(family: Pick<SigningCapability<T>, 'options'>, type: T, opts: { rsaPadding?: unknown; ecdsaFormat?: unknown }): void {
  for (const option of ['rsaPadding', 'ecdsaFormat'] as const) {
    if (opts[option] !== undefined && !family.options.includes(option)) {
      throw badRequest(OPTION_REFUSALS[option].code, `${OPTION_REFUSALS[option].appliesTo}, not ${type}`);
    }
  }
}

/** Validates a request against the key type and resolves its defaults. Every check here is a 400. */
export function planSignature<T extends string>(family: Pick<SigningCapability<T>, 'options' | 'defaultHash'>, type: T, r: SignatureRequest): SignaturePlan {
  assertOptionsFit(family, type, r);
  const rsaPadding = r.rsaPadding ?? 'pkcs1';
  if (rsaPadding !== 'pkcs1' && rsaPadding !== 'pss') throw badRequest('crypto.rsa_padding_unsupported', 'rsa padding must be pkcs1 or pss');
  const ecdsaFormat = r.ecdsaFormat ?? 'der';
  if (ecdsaFormat !== 'der' && ecdsaFormat !== 'raw') throw badRequest('crypto.ecdsa_format_unsupported', 'ecdsa format must be der or raw');
  const defaultHash = family.defaultHash(type);

  if ('digest' in r.input) {
    const { digest, hashAlgorithm } = r.input;
    if (defaultHash === null) throw badRequest('crypto.digest_not_supported', `${type} signs messages only (pure EdDSA); send the message`);
    if (hashAlgorithm === undefined) throw badRequest('crypto.hash_algorithm_required', 'a digest needs its hash_algorithm');
    assertHashAlgorithm(hashAlgorithm);
    if (r.hashAlgorithm !== undefined && r.hashAlgorithm !== hashAlgorithm) {
      throw badRequest('crypto.hash_algorithm_mismatch', 'hashAlgorithm differs from the digest\'s hash algorithm');
    }
    if (!Buffer.isBuffer(digest) || digest.length !== DIGEST_LENGTH[hashAlgorithm]) {
      throw badRequest('crypto.digest_length', `a ${hashAlgorithm} digest is ${DIGEST_LENGTH[hashAlgorithm]} bytes`);
    }
    return { hash: hashAlgorithm, input: { digest }, rsaPadding, ecdsaFormat };
  }

  const { message } = r.input;
  if (!Buffer.isBuffer(message)) throw badRequest('crypto.message_invalid', 'message must be bytes');
  // Pure EdDSA: no prehash, so a hash algorithm does not apply.
  if (defaultHash === null) {
    if (r.hashAlgorithm !== undefined) throw badRequest('crypto.hash_algorithm_unsupported', `${type} signs the message itself (pure EdDSA); hash_algorithm does not apply`);
    return { hash: null, input: { message }, rsaPadding, ecdsaFormat };
  }
  const hash = r.hashAlgorithm ?? defaultHash;
  assertHashAlgorithm(hash);
  return { hash, input: { message }, rsaPadding, ecdsaFormat };
}

/** The plan's hash, for families that always hash: planSignature gives them one, so null is a programming error. */
export function planHash(plan: SignaturePlan): HashAlgorithm {
  if (plan.hash === null) throw new Error('signature plan without a hash for a hashing key type');
  return plan.hash;
}

type NodeKey = Parameters<typeof nodeSign>[2];
type VerifyKey = Parameters<typeof nodeVerify>[2];

/** node:crypto's one-shot signature on the threadpool; algorithm null for pure EdDSA. */
export function signMessage(algorithm: string | null, data: Buffer, key: NodeKey): Promise<Buffer> {
  return new Promise((resolve, reject) => nodeSign(algorithm, data, key, (err, sig) => (err ? reject(err) : resolve(sig))));
}

/** Resolves false on any error: a garbled signature is simply not valid. */
export function verifyMessage(algorithm: string | null, data: Buffer, key: VerifyKey, signature: Buffer): Promise<boolean> {
  return new Promise((resolve) => nodeVerify(algorithm, data, key, signature, (err, ok) => resolve(!err && ok)));
}
