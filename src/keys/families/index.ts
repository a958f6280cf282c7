// The key type registry: which family implements each key type, and the operations the rest of Keyward calls by
// key type. Pure: no I/O, no storage, no HTTP. Adding a key type: docs/development.md, "Adding a key type".
import type { JsonWebKey, KeyObject } from 'node:crypto';
import type { KeyUsage, RsaPadding } from '../types.ts';
import { aesGcmFamily } from './aes-gcm.ts';
import { type PublicJwk, publicJwk } from './asymmetric.ts';
import { ecFamily } from './ec.ts';
import { ed25519Family } from './ed25519.ts';
import { hmacFamily } from './hmac.ts';
import { importInvalid, operationUnsupported, unknownKeyType } from './errors.ts';
import { signJws, signJwsWith } from './jwt.ts';
import { rsaFamily } from './rsa.ts';
import { assertOptionsFit, planSignature } from './signing.ts';
import type { GeneratedKey, ImportInput, KeyFamily, SignatureChoice, SignaturePlan, SignatureRequest, SigningFamily } from './types.ts';

export { type PublicJwk, loadPublicKey, publicKeyPem } from './asymmetric.ts';
import { loadPublicKey as loadPublicKeyObject } from './asymmetric.ts';
export { ciphertextVersion, ciphertextHeader, headerAad, joinCiphertext, splitCiphertext } from './ciphertext.ts';
export { DATA_KEY_SIZES, type DataKeySize } from './aes-gcm.ts';
export { jwtKid, checkClaims as checkJwtClaims } from './jwt.ts';
export type { GeneratedKey, ImportInput, KeyFamily, SignatureChoice, SignaturePlan } from './types.ts';

/** Every family. A key type exists when its family declares it. */
const FAMILY_LIST = [ecFamily, ed25519Family, rsaFamily, aesGcmFamily, hmacFamily] as const;
type Family = (typeof FAMILY_LIST)[number];
type TypesOf<F> = F extends { readonly types: readonly (infer T)[] } ? T : never;

export type KeyType = TypesOf<Family>;
export type SigningKeyType = TypesOf<Extract<Family, { usage: 'sign_verify' }>>;

/**
 * The registry: one line per key type. A type a family declares but this table lacks does not compile, nor does a
 * line for a type no family declares; the order is the order clients see (OpenAPI enums, listings).
 */
const REGISTRY = {
  'EC-P256': ecFamily,
  'EC-P384': ecFamily,
  'EC-P521': ecFamily,
  Ed25519: ed25519Family,
  'RSA-2048': rsaFamily,
  'RSA-3072': rsaFamily,
  'RSA-4096': rsaFamily,
  'AES-256-GCM': aesGcmFamily,
  'HMAC-SHA256': hmacFamily,
} as const satisfies Record<KeyType, KeyFamily>;

/** A line that names the wrong family (one that does not declare the type) does not compile either. */
type Misfiled = { [T in KeyType]: T extends TypesOf<(typeof REGISTRY)[T]> ? never : T }[KeyType];
type NoneMisfiled<T extends never> = T;
type RegistryChecked = NoneMisfiled<Misfiled>;

export const KEY_TYPES: readonly KeyType[] = Object.keys(REGISTRY) as KeyType[];
export const FAMILIES: readonly KeyFamily[] = FAMILY_LIST;
export const SIGNING_KEY_TYPES: readonly SigningKeyType[] = KEY_TYPES.filter((t): t is SigningKeyType => REGISTRY[t].usage === 'sign_verify');

/** The family of a key type. A type no family implements (a record written by another Keyward) is an internal error. */
export function familyOf(type: KeyType): KeyFamily {
  if (!Object.hasOwn(REGISTRY, type)) throw unknownKeyType(type);
  return REGISTRY[type];
}

export type FamilyWith<U extends KeyUsage> = Extract<KeyFamily, { usage: U }>;

/** The family of a key type if the type is used for `usage`, else undefined. */
export function familyWith<U extends KeyUsage>(type: KeyType, usage: U): FamilyWith<U> | undefined {
  const family = familyOf(type);
  return family.usage === usage ? (family as FamilyWith<U>) : undefined;
}

function signingFamily(type: KeyType, operation: string): SigningFamily {
  const family = familyOf(type);
  if (family.usage !== 'sign_verify') throw operationUnsupported(type, operation);
  return family;
}

// ---------------------------------------------------------------- material

export async function generateKey(type: KeyType): Promise<GeneratedKey> {
  return familyOf(type).generate(type);
}

export function importKey(type: KeyType, input: ImportInput): GeneratedKey {
  const given = (['pem', 'jwk', 'raw_base64'] as const).filter((k) => input?.[k] !== undefined);
  if (given.length !== 1) throw importInvalid('give exactly one of private_key_pem, jwk, key_material');
  return familyOf(type).import(type, input);
}

/** Turns sealed material back into a KeyObject. Callers cache the result. */
export function loadPrivateKey(type: KeyType, material: Buffer): KeyObject {
  return familyOf(type).load(type, material);
}

/** Asymmetric: SHA-256 over the DER SPKI. Symmetric: a keyed hash that reveals nothing (see symmetric.ts). */
export function fingerprint(type: KeyType, publicKeySpki: Buffer | null, material: Buffer): string {
  return familyOf(type).fingerprint(type, publicKeySpki, material);
}

// ---------------------------------------------------------------- signatures

export interface SignInput extends SignatureRequest {
  keyObject: KeyObject;
  type: KeyType;
}

export interface VerifyInput extends SignInput {
  publicKey: KeyObject;
  signature: Buffer;
}

export async function sign(i: SignInput): Promise<Buffer> {
  const family = signingFamily(i.type, 'signing');
  return family.sign(i.type, i.keyObject, planSignature(family, i.type, i));
}

/**
 * A signature request validated against the key type with its defaults resolved, for a key that signs elsewhere (an
 * HSM): the same checks and codes as a software signature.
 */
export function signaturePlan(type: KeyType, request: SignatureRequest): SignaturePlan {
  const family = signingFamily(type, 'signing');
  return planSignature(family, type, request);
}

/** Whether an SPKI is a public key of exactly `type` (curve, modulus size): a key found in an HSM is what it claims. */
export function spkiMatches(type: KeyType, spki: Buffer): boolean {
  const family = familyOf(type);
  if (family.usage !== 'sign_verify') return false;
  try {
    return family.matches(type, loadPublicKeyObject(spki));
  } catch {
    return false;
  }
}

/** Request errors (bad digest length, unsupported combination) throw; a bad or garbled signature resolves false. */
export async function verify(i: VerifyInput): Promise<boolean> {
  const family = signingFamily(i.type, 'verification');
  const plan = planSignature(family, i.type, i);
  if (!Buffer.isBuffer(i.signature)) return false;
  return family.verify(i.type, i.publicKey, plan, i.signature);
}

/** The KeyRack algorithm name of a signature (ECDSA_P256_SHA256, RSA_PSS_SHA256, ED25519_PURE). */
export function signatureAlgorithm(type: KeyType, choice: SignatureChoice): string {
  return signingFamily(type, 'signing').keyRackAlgorithm(type, choice);
}

/** Whether keys of this type sign caller-computed digests (pure EdDSA does not). */
export function signsDigests(type: KeyType): boolean {
  const family = familyOf(type);
  return family.usage === 'sign_verify' && family.defaultHash(type) !== null;
}

// ---------------------------------------------------------------- JOSE

/** The JOSE algorithm of a JWT signed with the key; without a padding, the one its key is published with. */
export function jwsAlgorithm(type: KeyType, rsaPadding?: RsaPadding): string {
  const family = signingFamily(type, 'JWT signing');
  assertOptionsFit(family, type, { rsaPadding });
  return family.jwsAlgorithm(type, rsaPadding);
}

/** The signature request (hash, format, padding) that yields a JWS signature for `alg`; undefined if the type cannot. */
export function jwsSignOptions(type: KeyType, alg: string): SignatureChoice | undefined {
  return signingFamily(type, 'JWT signing').jwsSignOptions(type, alg);
}

/** The public JWK of a key version, with the algorithm it is published for (`alg: false` leaves it out). */
export function publicKeyJwk(type: KeyType, spki: Buffer, kid: string, opts: { alg?: boolean } = {}): PublicJwk {
  const family = signingFamily(type, 'public key export');
  return publicJwk(family, type, spki, kid, opts.alg === false ? undefined : family.jwsAlgorithm(type));
}

/**
 * A key version's JWK as the key service publishes it (JWKS and public-key endpoints): with `alg` only when the key
 * signs under one algorithm (an RSA key signs RS256 and PS256 JWTs, and a JWK with alg RS256 would not verify PS256).
 */
export function keyServiceJwk(type: KeyType, spki: Buffer, kid: string): PublicJwk {
  return publicKeyJwk(type, spki, kid, { alg: signingFamily(type, 'public key export').singleJwsAlgorithm });
}

/** Public JWKS of the key service (see keyServiceJwk). */
export function jwks(entries: Array<{ type: KeyType; spki: Buffer; kid: string }>): { keys: JsonWebKey[] } {
  return { keys: entries.map((e) => keyServiceJwk(e.type, e.spki, e.kid)) };
}

/** A JWT whose signature comes from `sign` (an HSM), over the signature request the JOSE `alg` names. */
export async function signJwtWith(
  sign: (signingInput: Buffer, choice: SignatureChoice) => Promise<Buffer>,
  type: KeyType,
  kid: string,
  payload: Record<string, unknown>,
  opts?: { rsaPadding?: RsaPadding | undefined; typ?: string | undefined },
): Promise<string> {
  const alg = jwsAlgorithm(type, opts?.rsaPadding);
  const choice = jwsSignOptions(type, alg);
  if (!choice) throw operationUnsupported(type, `JWT signing with ${alg}`);
  return signJwsWith((input) => sign(input, choice), alg, kid, payload, opts?.typ);
}

export async function signJwt(
  keyObject: KeyObject,
  type: KeyType,
  kid: string,
  payload: Record<string, unknown>,
  opts?: { rsaPadding?: RsaPadding | undefined; typ?: string | undefined },
): Promise<string> {
  return signJws(keyObject, jwsAlgorithm(type, opts?.rsaPadding), kid, payload, opts?.typ);
}
