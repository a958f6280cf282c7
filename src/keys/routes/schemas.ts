// JSON Schemas for the key routes: validation at the edge and the source of the OpenAPI document.
import { KEY_TYPES } from '../families/index.ts';
import { PROVIDER_NAMES } from '../providers/types.ts';
import { HASH_ALGORITHMS, KEY_ID_PATTERN, KEY_STATES } from '../types.ts';

export const keyIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: KEY_ID_PATTERN, maxLength: 128, description: 'Key id: [A-Za-z0-9._-], 1-128, starting with a letter or digit' } },
} as const;

export const keyType = { type: 'string', enum: KEY_TYPES } as const;
export const provider = { type: 'string', enum: PROVIDER_NAMES, description: 'Where the key material lives: software (sealed in the database), pkcs11 or kmip (inside an HSM)' } as const;
/** Base64 fields with a fixed bound; messages and ciphertexts are bounded by keys.max_payload_bytes instead. */
const b64 = (description: string, maxLength: number) => ({ type: 'string', maxLength, description }) as const;
/**
 * Payloads (messages, plaintexts, ciphertexts, digests): no schema bound, so that too much is refused with one code
 * whatever its size (crypto.payload_too_large against keys.max_payload_bytes, crypto.digest_length for a digest);
 * the body limit bounds what is read.
 */
const payload = (description: string) => ({ type: 'string', description }) as const;
const labels = { type: 'object', additionalProperties: { type: 'string', maxLength: 256 }, maxProperties: 64 } as const;

export const createKeyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['key_type'],
  properties: {
    // No schema length: the id grammar (key.invalid_id) judges every id, however long; the body limit bounds it.
    key_id: { type: 'string', description: 'Caller-chosen id; generated when absent' },
    key_type: keyType,
    labels,
    description: { type: 'string', maxLength: 1024 },
    overwrite: { type: 'boolean', default: false, description: 'Replace an existing key with this id (needs the overwrite permission)' },
    provider: { ...provider, description: 'Where the key is generated (default: keys.default_provider)' },
  },
} as const;

export const importKeyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['key_id', 'key_type'],
  properties: {
    key_id: { type: 'string' },
    key_type: keyType,
    private_key_pem: { type: 'string', maxLength: 16384, description: 'PKCS#8 PEM private key' },
    jwk: { type: 'object', description: 'Private JWK' },
    key_material: b64('Raw secret for AES-256-GCM (32 bytes) or HMAC-SHA256 (16-64 bytes), base64', 1024),
    provider: { ...provider, description: 'software for key material; pkcs11 or kmip with external_id to reference a key its owner holds (HYOK)' },
    external_id: { type: 'string', maxLength: 255, description: 'HYOK: the external key (PKCS#11: its CKA_LABEL, or id:<hex> for its CKA_ID; KMIP: its unique identifier)' },
    external_public_id: { type: 'string', maxLength: 255, description: 'HYOK, KMIP RSA keys: the unique identifier of the public key' },
    labels,
    description: { type: 'string', maxLength: 1024 },
    overwrite: { type: 'boolean', default: false },
  },
} as const;

export const listKeysQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    cursor: { type: 'string', maxLength: 512 },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: '1-1000, default 100' },
    state: { type: 'string', enum: KEY_STATES },
    provider,
    label: { type: 'string', maxLength: 512, description: 'name=value; repeat with commas: a=1,b=2' },
  },
} as const;

const hashAlgorithm = { type: 'string', enum: HASH_ALGORITHMS } as const;
const keyVersion = { type: 'integer', minimum: 1, maximum: 999_999_999 } as const;
const signFields = {
  message: payload('Message to sign, base64'),
  digest: payload('Precomputed digest, base64 (not for Ed25519)'),
  hash_algorithm: hashAlgorithm,
  rsa_padding: { type: 'string', enum: ['pkcs1', 'pss'], description: 'RSA only; default pkcs1' },
  signature_format: { type: 'string', enum: ['der', 'raw'], description: 'ECDSA only: ASN.1 DER (default) or raw r||s' },
} as const;

export const signBody = { type: 'object', additionalProperties: false, properties: signFields } as const;
export const verifyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['signature'],
  properties: { ...signFields, signature: b64('Signature, base64', 2048), version: keyVersion },
} as const;

export const encryptBody = {
  type: 'object',
  additionalProperties: false,
  required: ['plaintext'],
  properties: { plaintext: payload('Plaintext, base64'), associated_data: b64('Associated data bound to the ciphertext, base64', 8192) },
} as const;
export const decryptBody = {
  type: 'object',
  additionalProperties: false,
  required: ['ciphertext'],
  properties: { ciphertext: payload('Ciphertext as returned by encrypt, base64'), associated_data: b64('The same associated data, base64', 8192) },
} as const;
export const dataKeyBody = {
  type: 'object',
  additionalProperties: false,
  properties: { bytes: { type: 'integer', enum: [16, 32, 64], default: 32 }, associated_data: b64('Associated data, base64', 8192) },
} as const;
export const macBody = { type: 'object', additionalProperties: false, required: ['message'], properties: { message: payload('Message, base64') } } as const;
export const macVerifyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['message', 'mac'],
  properties: { message: payload('Message, base64'), mac: b64('MAC, base64', 200), version: keyVersion },
} as const;
export const jwtBody = {
  type: 'object',
  additionalProperties: false,
  required: ['payload'],
  properties: {
    payload: { type: 'object', description: 'JWT claims' },
    typ: { type: 'string', maxLength: 64 },
    rsa_padding: { type: 'string', enum: ['pkcs1', 'pss'] },
  },
} as const;
export const randomBody = {
  type: 'object',
  additionalProperties: false,
  required: ['bytes'],
  properties: { bytes: { type: 'integer', minimum: 1, maximum: 1024 } },
} as const;
export const publicKeyQuery = {
  type: 'object',
  additionalProperties: false,
  // 1-999999999, like the version in verify bodies: 0 or a sign is malformed, an absent version is not found.
  properties: { version: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' } },
} as const;

export const signResponse = {
  200: {
    type: 'object',
    properties: {
      key_id: { type: 'string' },
      key_version: { type: 'integer' },
      signature: { type: 'string' },
      key_fingerprint: { type: 'string' },
      algorithm: { type: 'string' },
    },
  },
} as const;

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
} as const;
