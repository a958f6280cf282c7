// What a key family is. A family owns a group of key types that share their mathematics (EC, RSA, Ed25519,
// AES-GCM, HMAC): how their material is made, imported, stored and loaded, what they are for, and the names the
// outside world gives their algorithms. The service asks the family; it never tests a key type string.
//
// Two kinds of knowledge live in a family, kept apart so that a key provider other than node:crypto (a PKCS#11 or
// KMIP HSM) can reuse the first: algorithm knowledge (names, hashes, option rules, digest lengths, signature and
// DigestInfo encodings, JWKs from an SPKI), and the software provider, which does the work with node:crypto
// KeyObjects (generate, import, load, sign, verify, encrypt, MAC).
import type { JsonWebKey, KeyObject } from 'node:crypto';
import type { EcdsaFormat, HashAlgorithm, RsaPadding } from '../types.ts';

/** Material is what gets sealed at rest: PKCS#8 DER for asymmetric keys, raw bytes for AES/HMAC. */
export interface GeneratedKey {
  material: Buffer;
  publicKeySpki: Buffer | null;
}

/** BYOK import: exactly one of a private key PEM, a private (or oct) JWK, or raw symmetric bytes. */
export interface ImportInput {
  pem?: string | undefined;
  jwk?: JsonWebKey | undefined;
  raw_base64?: string | undefined;
}

/** The parts every family has, whatever its use. */
export interface KeyFamilyBase<T extends string> {
  /** For documentation and messages: 'EC', 'RSA', ... */
  readonly name: string;
  /** The key types this family implements. Each one also has its line in the registry (index.ts). */
  readonly types: readonly T[];

  // Software provider (node:crypto).
  /** Fresh material; asymmetric generation runs off the main thread. */
  generate(type: T): Promise<GeneratedKey>;
  /** BYOK import with the family's validation (the registry has already checked that exactly one input is given). */
  import(type: T, input: ImportInput): GeneratedKey;
  /** Unsealed material back into a KeyObject; material that is not of `type` is an internal error. */
  load(type: T, material: Buffer): KeyObject;
  /** A stable identifier that never reveals material (see asymmetric.ts and symmetric.ts). */
  fingerprint(type: T, publicKeySpki: Buffer | null, material: Buffer): string;
}

/** Signature options that apply to some families only; asking for one elsewhere is refused (assertOptionsFit). */
export type SignatureOption = 'rsaPadding' | 'ecdsaFormat';

/** The hash and options that name a signature algorithm. */
export interface SignatureChoice {
  hashAlgorithm?: HashAlgorithm | undefined;
  rsaPadding?: RsaPadding | undefined;
  ecdsaFormat?: EcdsaFormat | undefined;
}

/** A signature request as a caller states it: a message, or a digest with its hash algorithm. */
export interface SignatureRequest extends SignatureChoice {
  input: { message: Buffer } | { digest: Buffer; hashAlgorithm?: HashAlgorithm | undefined };
}

/** A request once validated against the key type, defaults resolved: what to compute, whoever computes it. */
export interface SignaturePlan {
  /** null: the message itself is signed (pure EdDSA). */
  hash: HashAlgorithm | null;
  input: { message: Buffer } | { digest: Buffer };
  /** Meaningful for RSA only; 'pkcs1' otherwise. */
  rsaPadding: RsaPadding;
  /** Meaningful for ECDSA only; 'der' otherwise. */
  ecdsaFormat: EcdsaFormat;
}

export interface SigningCapability<T extends string> {
  readonly usage: 'sign_verify';

  // Algorithm knowledge.
  /** The options (beyond the hash) that apply to this family's signatures. */
  readonly options: readonly SignatureOption[];
  /**
   * The hash for a message signature when the caller names none. null: the type signs the message itself (pure
   * EdDSA), so it takes neither a hash algorithm nor a caller-computed digest.
   */
  defaultHash(type: T): HashAlgorithm | null;
  /** The KeyRack algorithm name of a signature: ECDSA_P256_SHA256, RSA_PSS_SHA384, ED25519_PURE. */
  keyRackAlgorithm(type: T, choice: SignatureChoice): string;
  /** The JOSE `alg` of a JWT signed with this key; the default is what the key is published with. */
  jwsAlgorithm(type: T, rsaPadding?: RsaPadding): string;
  /** Whether the key signs under exactly one JOSE `alg`, so its published JWK can carry it (RSA signs RS256 and PS256). */
  readonly singleJwsAlgorithm: boolean;
  /** The signature request that yields a JWS signature for `alg` (raw r||s for ES*), or undefined if the key cannot. */
  jwsSignOptions(type: T, alg: string): SignatureChoice | undefined;
  /** JWK `alg` values an imported private JWK of this type may carry. */
  jwkAlgorithms(type: T): readonly string[];
  /** Whether a node key (private or public) is exactly of `type`: algorithm, curve, modulus size. */
  matches(type: T, key: KeyObject): boolean;

  // Software provider (node:crypto).
  sign(type: T, key: KeyObject, plan: SignaturePlan): Promise<Buffer>;
  /** A bad or garbled signature resolves false, never a throw. */
  verify(type: T, publicKey: KeyObject, plan: SignaturePlan, signature: Buffer): Promise<boolean>;
}

export interface EncryptionCapability {
  readonly usage: 'encrypt_decrypt';
  /** The Keyward ciphertext (ciphertext.ts) of `plaintext` under `key`, which is version `keyVersion` of its key. */
  encrypt(key: KeyObject, keyVersion: number, plaintext: Buffer, aad?: Buffer): Buffer;
  /** `key` resolves the version named in the ciphertext's header. */
  decrypt(key: (version: number) => KeyObject | undefined, ciphertext: Buffer, aad?: Buffer): { plaintext: Buffer; version: number };
  /** A fresh random data key, returned in the clear and encrypted under `key`. */
  generateDataKey(key: KeyObject, keyVersion: number, bytes: number, aad?: Buffer): { plaintext: Buffer; ciphertext: Buffer };
}

export interface MacCapability {
  readonly usage: 'mac';
  mac(key: KeyObject, message: Buffer): Buffer;
  /** Constant time; a MAC of the wrong length is false. */
  verifyMac(key: KeyObject, message: Buffer, mac: Buffer): boolean;
}

export type SigningFamily<T extends string = string> = KeyFamilyBase<T> & SigningCapability<T>;
export type EncryptionFamily<T extends string = string> = KeyFamilyBase<T> & EncryptionCapability;
export type MacFamily<T extends string = string> = KeyFamilyBase<T> & MacCapability;

/** One family; `usage` says which capability it has. */
export type KeyFamily<T extends string = string> = SigningFamily<T> | EncryptionFamily<T> | MacFamily<T>;
