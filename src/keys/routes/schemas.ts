// TypeBox schemas for the key routes: validation at the edge, the handlers' types (src/http/typebox.ts) and the
// source of the OpenAPI document.
import { Type } from '@sinclair/typebox';
import type { ProblemCode } from '../../core/problem-codes.ts';
import type { FieldCodes } from '../../http/errors.ts';
import { AnyObject, Nullable, Strict, StringEnum } from '../../http/typebox.ts';
import { KEY_TYPES } from '../families/index.ts';
import { PROVIDER_NAMES } from '../providers/types.ts';
import { HASH_ALGORITHMS, KEY_ID_PATTERN, KEY_STATES } from '../types.ts';

export const keyIdParams = Type.Object({
  id: Type.String({ pattern: KEY_ID_PATTERN, maxLength: 128, description: 'Key id: [A-Za-z0-9._-], 1-128, starting with a letter or digit' }),
});

export const keyType = StringEnum(KEY_TYPES);
export const provider = StringEnum(PROVIDER_NAMES, { description: 'Where the key material lives: software (sealed in the database), pkcs11 or kmip (inside an HSM)' });
export const hashAlgorithm = StringEnum(HASH_ALGORITHMS);
/** Base64 fields with a fixed bound; messages and ciphertexts are bounded by keys.max_payload_bytes instead. */
const b64 = (description: string, maxLength: number) => Type.String({ maxLength, description });
/**
 * Payloads (messages, plaintexts, ciphertexts, digests): no schema bound, so that too much is refused with one code
 * whatever its size (crypto.payload_too_large against keys.max_payload_bytes, crypto.digest_length for a digest);
 * the body limit bounds what is read.
 */
const payload = (description: string) => Type.String({ description });
const labels = Type.Record(Type.String(), Type.String({ maxLength: 256 }), { maxProperties: 64 });
const description = Type.String({ maxLength: 1024 });
const rsaPadding = StringEnum(['pkcs1', 'pss'] as const, { description: 'RSA only; default pkcs1' });

export const createKeyBody = Strict({
  // No schema length: the id grammar (key.invalid_id) judges every id, however long; the body limit bounds it.
  key_id: Type.Optional(Type.String({ description: 'Caller-chosen id; generated when absent' })),
  key_type: keyType,
  labels: Type.Optional(labels),
  description: Type.Optional(description),
  overwrite: Type.Optional(Type.Boolean({ default: false, description: 'Replace an existing key with this id (needs the overwrite permission)' })),
  provider: Type.Optional(StringEnum(PROVIDER_NAMES, { description: 'Where the key is generated (default: keys.default_provider)' })),
});

export const importKeyBody = Strict({
  key_id: Type.String(),
  key_type: keyType,
  private_key_pem: Type.Optional(Type.String({ maxLength: 16384, description: 'PKCS#8 PEM private key' })),
  jwk: Type.Optional(AnyObject({ description: 'Private JWK' })),
  key_material: Type.Optional(b64('Raw secret for AES-256-GCM (32 bytes) or HMAC-SHA256 (16-64 bytes), base64', 1024)),
  provider: Type.Optional(StringEnum(PROVIDER_NAMES, { description: 'software for key material; pkcs11 or kmip with external_id to reference a key its owner holds (HYOK)' })),
  external_id: Type.Optional(Type.String({ maxLength: 255, description: 'HYOK: the external key (PKCS#11: its CKA_LABEL, or id:<hex> for its CKA_ID; KMIP: its unique identifier)' })),
  external_public_id: Type.Optional(Type.String({ maxLength: 255, description: 'HYOK, KMIP RSA keys: the unique identifier of the public key' })),
  labels: Type.Optional(labels),
  description: Type.Optional(description),
  overwrite: Type.Optional(Type.Boolean({ default: false })),
});

export const listKeysQuery = Strict({
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1-1000, default 100' })),
  state: Type.Optional(StringEnum(KEY_STATES)),
  provider: Type.Optional(provider),
  label: Type.Optional(Type.String({ maxLength: 512, description: 'name=value; repeat with commas: a=1,b=2' })),
});

const keyVersion = Type.Integer({ minimum: 1, maximum: 999_999_999 });
const signFields = {
  message: Type.Optional(payload('Message to sign, base64 (exactly one of message and digest)')),
  digest: Type.Optional(payload('Precomputed digest, base64 (not for Ed25519; exactly one of message and digest)')),
  hash_algorithm: Type.Optional(hashAlgorithm),
  rsa_padding: Type.Optional(rsaPadding),
  signature_format: Type.Optional(StringEnum(['der', 'raw'] as const, { description: 'ECDSA only: ASN.1 DER (default) or raw r||s' })),
};
/** Exactly one of message and digest, judged with the body, before any key is looked up or unwrapped. */
const oneInput = { oneOf: [{ required: ['message'] }, { required: ['digest'] }] };
export const ONE_INPUT_CODE = { '#/oneOf': { code: 'crypto.input_invalid', detail: 'send exactly one of message or digest' } } as const satisfies FieldCodes;

export const signBody = Strict(signFields, oneInput);
export const verifyBody = Strict({ ...signFields, signature: b64('Signature, base64', 2048), version: Type.Optional(keyVersion) }, oneInput);

export const encryptBody = Strict({
  plaintext: payload('Plaintext, base64'),
  associated_data: Type.Optional(b64('Associated data bound to the ciphertext, base64', 8192)),
});
export const decryptBody = Strict({
  ciphertext: payload('Ciphertext as returned by encrypt, base64'),
  associated_data: Type.Optional(b64('The same associated data, base64', 8192)),
});
export const dataKeyBody = Strict({
  bytes: Type.Optional(Type.Unsafe<16 | 32 | 64>({ type: 'integer', enum: [16, 32, 64], default: 32 })),
  associated_data: Type.Optional(b64('Associated data, base64', 8192)),
});
export const macBody = Strict({ message: payload('Message, base64') });
export const macVerifyBody = Strict({ message: payload('Message, base64'), mac: b64('MAC, base64', 200), version: Type.Optional(keyVersion) });
export const jwtBody = Strict({
  payload: AnyObject({ description: 'JWT claims' }),
  typ: Type.Optional(Type.String({ maxLength: 64 })),
  rsa_padding: Type.Optional(rsaPadding),
});
export const randomBody = Strict({ bytes: Type.Integer({ minimum: 1, maximum: 1024 }) });
/** The query of a route that takes none. */
export const noQuery = Strict({});

export const publicKeyQuery = Strict({
  // 1-999999999, like the version in verify bodies: 0 or a sign is malformed, an absent version is not found.
  version: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,8}$' })),
});

// ---------------------------------------------------------------- responses

const timestamp = Type.String({ format: 'date-time' });
/** A public JWK; its members depend on the key type. */
export const publicJwk = Type.Object(
  { kty: Type.Optional(Type.String()), kid: Type.Optional(Type.String()), alg: Type.Optional(Type.String()), use: Type.Optional(Type.String()), crv: Type.Optional(Type.String()) },
  { additionalProperties: true, description: 'Public JWK (RFC 7517)' },
);

export const keyView = Type.Object({
  key_id: Type.String(),
  key_type: keyType,
  state: StringEnum(KEY_STATES),
  origin: StringEnum(['generated', 'imported', 'external'] as const, { description: 'imported: BYOK; external: HYOK, a key its owner holds in an HSM' }),
  provider,
  labels: Type.Record(Type.String(), Type.String()),
  description: Nullable(Type.String()),
  current_version: Type.Integer(),
  fingerprint: Nullable(Type.String()),
  public_key: Nullable(Type.String({ description: 'SPKI PEM of the current version; null for symmetric or destroyed keys' })),
  created_at: timestamp,
  updated_at: timestamp,
  destroy_at: Nullable(timestamp),
  versions: Type.Array(
    Type.Object({
      version: Type.Integer(),
      fingerprint: Type.String(),
      created_at: timestamp,
      destroyed_at: Nullable(timestamp),
      provider_reference: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Where an HSM holds this version (names, not secrets)' })),
    }),
  ),
});

export const keyList = Type.Object({ keys: Type.Array(keyView), next_cursor: Nullable(Type.String()) });
export const publicKeyResponse = Type.Object({
  key_id: Type.String(),
  key_type: keyType,
  version: Type.Integer(),
  fingerprint: Type.String(),
  public_key: Type.String({ description: 'SPKI PEM' }),
  jwk: publicJwk,
});
export const jwksResponse = Type.Object({ keys: Type.Array(publicJwk) });
export const signResponse = Type.Object({
  key_id: Type.String(),
  key_version: Type.Integer(),
  signature: Type.String({ description: 'base64' }),
  key_fingerprint: Type.String(),
  algorithm: Type.String(),
});
export const verifyResponse = Type.Object({ key_id: Type.String(), valid: Type.Boolean(), key_version: Type.Integer() });
export const encryptResponse = Type.Object({ key_id: Type.String(), key_version: Type.Integer(), ciphertext: Type.String({ description: 'base64' }) });
export const decryptResponse = Type.Object({ key_id: Type.String(), key_version: Type.Integer(), plaintext: Type.String({ description: 'base64' }) });
export const dataKeyResponse = Type.Object({
  key_id: Type.String(),
  key_version: Type.Integer(),
  plaintext: Type.String({ description: 'The data key, base64' }),
  ciphertext: Type.String({ description: 'The data key wrapped under this key, base64' }),
});
export const macResponse = Type.Object({ key_id: Type.String(), key_version: Type.Integer(), mac: Type.String({ description: 'base64' }) });
export const jwtResponse = Type.Object({ key_id: Type.String(), key_version: Type.Integer(), kid: Type.String(), alg: Type.String(), jwt: Type.String() });
export const randomResponse = Type.Object({ random: Type.String({ description: 'base64' }) });

/**
 * The codes the key routes give invalid field values, the same codes the service gives the faults it catches
 * itself (see FieldCodes in src/http/errors.ts).
 */
export const keyFieldCodes = {
  key_id: 'key.invalid_id',
  labels: 'key.invalid_label',
  description: 'key.invalid_description',
  private_key_pem: 'key.import_invalid',
  jwk: 'key.import_invalid',
  key_material: 'key.import_invalid',
  hash_algorithm: 'crypto.hash_algorithm_unsupported',
  rsa_padding: 'crypto.rsa_padding_unsupported',
  signature_format: 'crypto.ecdsa_format_unsupported',
  typ: 'crypto.jwt_header_invalid',
  payload: 'crypto.jwt_claims_invalid',
  limit: 'request.invalid_limit',
  cursor: 'request.invalid_cursor',
  label: 'request.invalid_label_filter',
  ...ONE_INPUT_CODE,
} as const satisfies FieldCodes;

// ---------------------------------------------------------------- problem codes by route

/**
 * What each key route's own work can answer with, documented in the OpenAPI document beside the codes its schema,
 * field codes and security imply (routeProblems in src/http/openapi.ts).
 */
const SERVICE = ['system.sealed', 'audit.unavailable', 'storage.unavailable'] as const satisfies readonly ProblemCode[];
const FOUND = [...SERVICE, 'key.not_found', 'key.system_key'] as const satisfies readonly ProblemCode[];
const HSM = ['hsm.unavailable', 'hsm.key_unusable', 'hsm.mechanism_unsupported', 'hsm.operation_failed', 'key.provider_unsupported'] as const satisfies readonly ProblemCode[];
/** Using a key's material: its state, usage and holder. */
const USE = [...FOUND, 'key.disabled', 'key.released', 'key.destroyed', 'key.usage_mismatch', 'key.external_revoked', 'key.concurrent_modification', ...HSM] as const satisfies readonly ProblemCode[];
const SIGN_INPUT = [
  'request.invalid_base64', 'crypto.input_invalid', 'crypto.message_invalid', 'crypto.digest_length', 'crypto.digest_not_supported', 'crypto.hash_algorithm_required',
  'crypto.hash_algorithm_unsupported', 'crypto.hash_algorithm_mismatch', 'crypto.rsa_padding_unsupported', 'crypto.ecdsa_format_unsupported', 'crypto.payload_too_large',
] as const satisfies readonly ProblemCode[];
const CREATE = [
  ...SERVICE, 'key.exists', 'key.invalid_id', 'key.invalid_label', 'key.invalid_description', 'key.system_key', 'key.overwrite_disabled', 'key.overwrite_refused',
  'key.concurrent_modification', 'key.provider_not_configured', ...HSM,
] as const satisfies readonly ProblemCode[];

export const KEY_PROBLEMS = {
  create: CREATE,
  import: [...CREATE, 'key.import_invalid', 'key.import_type_mismatch', 'key.import_not_private', 'key.external_invalid', 'hsm.key_not_found', 'hsm.key_type_mismatch', 'request.invalid_base64'],
  list: [...SERVICE, 'request.invalid_limit', 'request.invalid_cursor', 'request.invalid_label_filter'],
  describe: FOUND,
  publicKey: [...FOUND, 'key.destroyed', 'key.usage_mismatch', 'key.version_not_found'],
  jwks: [...FOUND, 'key.usage_mismatch'],
  lifecycle: [...FOUND, 'key.destroyed', 'key.invalid_state_transition', 'key.concurrent_modification', 'hsm.unavailable', 'hsm.operation_failed'],
  rotate: [...USE, 'key.external_immutable', 'key.invalid_state_transition'],
  sign: [...USE, ...SIGN_INPUT, 'key.version_not_found', 'key.version_not_selectable'],
  verify: [...FOUND, 'key.destroyed', 'key.usage_mismatch', 'key.external_revoked', 'key.version_not_found', 'hsm.unavailable', ...SIGN_INPUT],
  encrypt: [...USE, 'request.invalid_base64', 'crypto.payload_too_large', 'crypto.operation_unsupported'],
  decrypt: [...USE, 'request.invalid_base64', 'crypto.payload_too_large', 'crypto.decrypt_failed', 'crypto.ciphertext_malformed', 'crypto.key_version_unavailable', 'hsm.decrypt_failed', 'crypto.operation_unsupported'],
  datakey: [...USE, 'request.invalid_base64', 'crypto.data_key_length', 'crypto.operation_unsupported'],
  mac: [...USE, 'request.invalid_base64', 'crypto.payload_too_large', 'crypto.operation_unsupported'],
  macVerify: [...FOUND, 'key.destroyed', 'key.usage_mismatch', 'key.version_not_found', 'request.invalid_base64', 'crypto.payload_too_large', 'crypto.operation_unsupported'],
  jwt: [...USE, 'crypto.jwt_claims_invalid', 'crypto.jwt_header_invalid', 'crypto.rsa_padding_unsupported', 'crypto.payload_too_large', 'key.version_not_found', 'key.version_not_selectable'],
  random: [...SERVICE, 'crypto.random_length'],
} as const satisfies Record<string, readonly ProblemCode[]>;
