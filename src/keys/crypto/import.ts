// BYOK import: PKCS#8 (or any node-parseable) private key PEM, private JWK, or raw symmetric bytes.
import { type JsonWebKey, type KeyObject, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { badRequest } from '../../server/problem.ts';
import type { KeyType, SigningKeyType } from '../types.ts';
import type { GeneratedKey } from './generate.ts';
import { AES_KEY_BYTES, EC_PARAMS, HMAC_MAX_BYTES, HMAC_MIN_BYTES, isSymmetric, keyObjectMatches } from './params.ts';

export interface ImportInput {
  pem?: string;
  jwk?: JsonWebKey;
  raw_base64?: string;
}

const invalid = (detail: string) => badRequest('key.import_invalid', detail);
const mismatch = (type: KeyType, detail: string) => badRequest('key.import_type_mismatch', `not a ${type} key: ${detail}`);

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL_RE = /^[A-Za-z0-9_-]*$/;
/** JWK `alg` values that fit each symmetric type; any other `alg` on an oct JWK is a mismatch. */
const OCT_ALGS: Record<'AES-256-GCM' | 'HMAC-SHA256', string[]> = { 'AES-256-GCM': ['A256GCM'], 'HMAC-SHA256': ['HS256'] };
/** JWK `alg` values that fit each signing type. */
const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const JWS_ALGS: Record<SigningKeyType, string[]> = {
  'EC-P256': ['ES256'], 'EC-P384': ['ES384'], 'EC-P521': ['ES512'], Ed25519: ['EdDSA', 'Ed25519'],
  'RSA-2048': RSA_ALGS, 'RSA-3072': RSA_ALGS, 'RSA-4096': RSA_ALGS,
};

export function importKey(type: KeyType, input: ImportInput): GeneratedKey {
  const given = (['pem', 'jwk', 'raw_base64'] as const).filter((k) => input?.[k] !== undefined);
  if (given.length !== 1) throw invalid('give exactly one of private_key_pem, jwk, key_material');
  return isSymmetric(type) ? importSymmetric(type as 'AES-256-GCM' | 'HMAC-SHA256', input) : importAsymmetric(type as SigningKeyType, input);
}

function importSymmetric(type: 'AES-256-GCM' | 'HMAC-SHA256', input: ImportInput): GeneratedKey {
  let material: Buffer;
  if (input.raw_base64 !== undefined) {
    if (typeof input.raw_base64 !== 'string' || !BASE64_RE.test(input.raw_base64)) throw invalid('key_material is not valid base64');
    material = Buffer.from(input.raw_base64, 'base64');
  } else if (input.jwk !== undefined) {
    const jwk = input.jwk;
    if (typeof jwk !== 'object' || jwk === null) throw invalid('jwk must be a JSON object');
    if (jwk.kty !== 'oct') throw mismatch(type, `JWK kty is ${String(jwk.kty)}, expected oct`);
    if (jwk.alg !== undefined && !OCT_ALGS[type].includes(String(jwk.alg))) throw mismatch(type, `JWK alg is ${String(jwk.alg)}`);
    if (typeof jwk.k !== 'string' || !BASE64URL_RE.test(jwk.k)) throw invalid('JWK k is not valid base64url');
    material = Buffer.from(jwk.k, 'base64url');
  } else {
    throw invalid(`${type} keys are imported as key_material or an oct JWK`);
  }
  if (type === 'AES-256-GCM' && material.length !== AES_KEY_BYTES) {
    throw invalid(`AES-256-GCM keys are exactly ${AES_KEY_BYTES} bytes, got ${material.length}`);
  }
  if (type === 'HMAC-SHA256' && (material.length < HMAC_MIN_BYTES || material.length > HMAC_MAX_BYTES)) {
    throw invalid(`HMAC-SHA256 keys are ${HMAC_MIN_BYTES} to ${HMAC_MAX_BYTES} bytes, got ${material.length}`);
  }
  return { material, publicKeySpki: null };
}

function importAsymmetric(type: SigningKeyType, input: ImportInput): GeneratedKey {
  if (input.raw_base64 !== undefined) throw invalid(`${type} keys are imported as private_key_pem or a JWK private key`);
  let source: Parameters<typeof createPrivateKey>[0];
  if (input.pem !== undefined) {
    if (typeof input.pem !== 'string') throw invalid('pem must be a string');
    if (/ENCRYPTED/.test(input.pem)) throw invalid('encrypted private keys are not supported; decrypt before import');
    source = { key: input.pem, format: 'pem' };
  } else {
    if (typeof input.jwk !== 'object' || input.jwk === null) throw invalid('jwk must be a JSON object');
    if (input.jwk.kty === 'oct') throw mismatch(type, 'it is a symmetric (oct) JWK');
    if (input.jwk.use !== undefined && input.jwk.use !== 'sig') throw mismatch(type, `JWK use is ${String(input.jwk.use)}, a signing key needs sig`);
    if (input.jwk.alg !== undefined && !JWS_ALGS[type].includes(String(input.jwk.alg))) throw mismatch(type, `JWK alg is ${String(input.jwk.alg)}`);
    source = { key: input.jwk, format: 'jwk' };
  }

  let priv: KeyObject;
  try {
    priv = createPrivateKey(source);
  } catch {
    // A public key (or certificate) parses as public: say so instead of "invalid".
    let isPublic = false;
    try {
      isPublic = createPublicKey(source as Parameters<typeof createPublicKey>[0]).type === 'public';
    } catch { /* neither */ }
    if (isPublic) throw badRequest('key.import_not_private', 'the key is a public key; import needs the private key');
    throw invalid('the key could not be parsed as a private key');
  }

  if (!keyObjectMatches(type, priv)) throw mismatch(type, describe(priv));
  const material = priv.export({ type: 'pkcs8', format: 'der' });
  const publicKeySpki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  // Pairwise consistency: a JWK (or SEC1 PEM) can carry a public point that does not belong to the private scalar.
  if (!pairwiseConsistent(type, priv, createPublicKey({ key: publicKeySpki, format: 'der', type: 'spki' }))) {
    throw invalid('the private and public parts of the key do not match');
  }
  // Node derives an Ed25519 public key from d alone and ignores the JWK's x: compare every public member given.
  if (input.jwk !== undefined) {
    const derived = createPublicKey(priv).export({ format: 'jwk' }) as Record<string, unknown>;
    for (const m of ['x', 'y', 'n', 'e'] as const) {
      if (input.jwk[m] !== undefined && input.jwk[m] !== derived[m]) throw invalid('the private and public parts of the key do not match');
    }
  }
  return { material, publicKeySpki };
}

function pairwiseConsistent(type: SigningKeyType, priv: KeyObject, pub: KeyObject): boolean {
  const hash = type === 'Ed25519' ? null : 'sha256';
  const probe = Buffer.from('keyward-import-consistency-check');
  try {
    return verify(hash, probe, pub, sign(hash, probe, priv));
  } catch {
    return false;
  }
}

function describe(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    const known = Object.values(EC_PARAMS).find((p) => p.namedCurve === d?.namedCurve);
    return `it is an EC ${known?.jwkCrv ?? d?.namedCurve ?? 'unknown-curve'} key`;
  }
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    return `it is an ${key.asymmetricKeyType === 'rsa-pss' ? 'RSA-PSS-restricted' : 'RSA'} key of ${d?.modulusLength ?? '?'} bits`;
  }
  return `it is an ${key.asymmetricKeyType ?? 'unknown'} key`;
}
