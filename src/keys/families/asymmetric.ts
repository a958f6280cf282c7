// What the asymmetric families share. Software (node:crypto): PKCS#8 private keys sealed at rest, generation off
// the main thread, BYOK import from PEM or JWK, loading. Algorithm knowledge any provider reuses: the SPKI
// fingerprint, and the PEM and JWK of a public key, which need no private material.
import { type JsonWebKey, type KeyObject, createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { badRequest } from '../../core/problem.ts';
import { importInvalid, importMismatch, internalError } from './errors.ts';
import type { GeneratedKey, ImportInput, SigningCapability } from './types.ts';

export type PublicJwk = JsonWebKey & { kid: string; alg?: string; use: 'sig' };

/** What the shared code needs to know about a family's types. */
type Asymmetric<T extends string> = Pick<SigningCapability<T>, 'matches' | 'jwkAlgorithms' | 'defaultHash'>;

// ---------------------------------------------------------------- algorithm knowledge

/** SHA-256 over the DER SPKI (what `openssl pkey -pubin -outform der | sha256sum` gives). */
export function spkiFingerprint(type: string, publicKeySpki: Buffer | null): string {
  if (!publicKeySpki) throw internalError('crypto.key_material_invalid', `${type} fingerprint needs the public key`);
  return 'sha256:' + createHash('sha256').update(publicKeySpki).digest('hex');
}

/** SPKI DER → public KeyObject. */
export function loadPublicKey(spki: Buffer): KeyObject {
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}

export function publicKeyPem(spki: Buffer): string {
  return loadPublicKey(spki).export({ type: 'spki', format: 'pem' }) as string;
}

/** The public JWK of an SPKI that must be of `type`, with `alg` when given. */
export function publicJwk<T extends string>(family: Pick<Asymmetric<T>, 'matches'>, type: T, spki: Buffer, kid: string, alg: string | undefined): PublicJwk {
  const key = loadPublicKey(spki);
  if (!family.matches(type, key)) throw internalError('crypto.key_material_invalid', `public key is not a ${type} key`);
  return { ...key.export({ format: 'jwk' }), kid, ...(alg === undefined ? {} : { alg }), use: 'sig' };
}

// ---------------------------------------------------------------- software: node:crypto

/** Generation options that make node hand back what is sealed (PKCS#8) and published (SPKI). */
export const PKCS8_SPKI_DER = { publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'der' } } as const;

/** Wraps node's callback keygen (which runs on the threadpool: RSA-4096 takes a while). */
export function derPair(run: (cb: (err: Error | null, publicKey: Buffer, privateKey: Buffer) => void) => void): Promise<GeneratedKey> {
  return new Promise((resolve, reject) => {
    run((err, publicKey, privateKey) => (err ? reject(err) : resolve({ material: privateKey, publicKeySpki: publicKey })));
  });
}

/** Stored PKCS#8 DER → private KeyObject, which must be exactly of `type`. */
export function loadPrivateKey<T extends string>(family: Pick<Asymmetric<T>, 'matches'>, type: T, material: Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: material, format: 'der', type: 'pkcs8' });
  } catch {
    throw internalError('crypto.key_material_invalid', `stored ${type} material is not a PKCS#8 private key`);
  }
  if (!family.matches(type, key)) throw internalError('crypto.key_material_invalid', `stored material is not a ${type} key`);
  return key;
}

/** BYOK import: PKCS#8 (or any node-parseable) private key PEM, or a private JWK. */
export function importPrivateKey<T extends string>(family: Asymmetric<T>, type: T, input: ImportInput): GeneratedKey {
  if (input.raw_base64 !== undefined) throw importInvalid(`${type} keys are imported as private_key_pem or a JWK private key`);
  let source: Parameters<typeof createPrivateKey>[0];
  if (input.pem !== undefined) {
    if (typeof input.pem !== 'string') throw importInvalid('pem must be a string');
    if (/ENCRYPTED/.test(input.pem)) throw importInvalid('encrypted private keys are not supported; decrypt before import');
    // OpenSSL reads the first private key block and ignores the rest: with two, the caller could not tell which
    // key was imported. Other blocks (EC PARAMETERS, a certificate) are harmless and stay accepted.
    if ((input.pem.match(/-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----/g) ?? []).length > 1) {
      throw importInvalid('the PEM holds more than one private key; give exactly one');
    }
    source = { key: input.pem, format: 'pem' };
  } else {
    if (typeof input.jwk !== 'object' || input.jwk === null) throw importInvalid('jwk must be a JSON object');
    if (input.jwk.kty === 'oct') throw importMismatch(type, 'it is a symmetric (oct) JWK');
    if (input.jwk.use !== undefined && input.jwk.use !== 'sig') throw importMismatch(type, `JWK use is ${String(input.jwk.use)}, a signing key needs sig`);
    if (input.jwk.alg !== undefined && !family.jwkAlgorithms(type).includes(String(input.jwk.alg))) throw importMismatch(type, `JWK alg is ${String(input.jwk.alg)}`);
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
    throw importInvalid('the key could not be parsed as a private key');
  }

  if (!family.matches(type, priv)) throw importMismatch(type, describe(priv));
  const material = priv.export({ type: 'pkcs8', format: 'der' });
  const publicKeySpki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  // Pairwise consistency: a JWK (or SEC1 PEM) can carry a public point that does not belong to the private scalar.
  if (!pairwiseConsistent(family.defaultHash(type) === null ? null : 'sha256', priv, loadPublicKey(publicKeySpki))) {
    throw importInvalid('the private and public parts of the key do not match');
  }
  // Node derives an Ed25519 public key from d alone and ignores the JWK's x: compare every public member given.
  if (input.jwk !== undefined) {
    const derived = createPublicKey(priv).export({ format: 'jwk' }) as Record<string, unknown>;
    for (const m of ['x', 'y', 'n', 'e'] as const) {
      if (input.jwk[m] !== undefined && input.jwk[m] !== derived[m]) throw importInvalid('the private and public parts of the key do not match');
    }
  }
  return { material, publicKeySpki };
}

/** A signature by the private key verifies under the public key. `hash` null: pure EdDSA. */
function pairwiseConsistent(hash: string | null, priv: KeyObject, pub: KeyObject): boolean {
  const probe = Buffer.from('keyward-import-consistency-check');
  try {
    return verify(hash, probe, pub, sign(hash, probe, priv));
  } catch {
    return false;
  }
}

/** What a key of the wrong type is, for the mismatch message. */
function describe(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') return `it is an EC ${jwkCurve(key) ?? d?.namedCurve ?? 'unknown-curve'} key`;
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    return `it is an ${key.asymmetricKeyType === 'rsa-pss' ? 'RSA-PSS-restricted' : 'RSA'} key of ${d?.modulusLength ?? '?'} bits`;
  }
  return `it is an ${key.asymmetricKeyType ?? 'unknown'} key`;
}

/** The JOSE name of an EC key's curve (P-256, secp256k1, ...); undefined for curves JOSE does not name. */
function jwkCurve(key: KeyObject): string | undefined {
  try {
    return createPublicKey(key).export({ format: 'jwk' }).crv;
  } catch {
    return undefined;
  }
}
