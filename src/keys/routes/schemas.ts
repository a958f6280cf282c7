// JSON Schemas for the key routes: validation at the edge and the source of the OpenAPI document.
import { HASH_ALGORITHMS, KEY_ID_PATTERN, KEY_STATES, KEY_TYPES } from '../types.ts';

export const keyIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: KEY_ID_PATTERN, maxLength: 128, description: 'Key id: [A-Za-z0-9._-], 1-128, starting with a letter or digit' } },
} as const;

export const keyType = { type: 'string', enum: KEY_TYPES } as const;
const b64 = (description: string, maxLength = 65536 * 2) => ({ type: 'string', maxLength, description }) as const;
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
    label: { type: 'string', maxLength: 512, description: 'name=value; repeat with commas: a=1,b=2' },
  },
} as const;

const hashAlgorithm = { type: 'string', enum: HASH_ALGORITHMS } as const;
const signFields = {
  message: b64('Message to sign, base64'),
  digest: b64('Precomputed digest, base64 (not for Ed25519)', 200),
  hash_algorithm: hashAlgorithm,
  rsa_padding: { type: 'string', enum: ['pkcs1', 'pss'], description: 'RSA only; default pkcs1' },
  signature_format: { type: 'string', enum: ['der', 'raw'], description: 'ECDSA only: ASN.1 DER (default) or raw r||s' },
} as const;

export const signBody = { type: 'object', additionalProperties: false, properties: signFields } as const;
export const verifyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['signature'],
  properties: { ...signFields, signature: b64('Signature, base64', 2048), version: { type: 'integer', minimum: 1 } },
} as const;

export const encryptBody = {
  type: 'object',
  additionalProperties: false,
  required: ['plaintext'],
  properties: { plaintext: b64('Plaintext, base64'), associated_data: b64('Associated data bound to the ciphertext, base64', 8192) },
} as const;
export const decryptBody = {
  type: 'object',
  additionalProperties: false,
  required: ['ciphertext'],
  properties: { ciphertext: b64('Ciphertext as returned by encrypt, base64'), associated_data: b64('The same associated data, base64', 8192) },
} as const;
export const dataKeyBody = {
  type: 'object',
  additionalProperties: false,
  properties: { bytes: { type: 'integer', enum: [16, 32, 64], default: 32 }, associated_data: b64('Associated data, base64', 8192) },
} as const;
export const macBody = { type: 'object', additionalProperties: false, required: ['message'], properties: { message: b64('Message, base64') } } as const;
export const macVerifyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['message', 'mac'],
  properties: { message: b64('Message, base64'), mac: b64('MAC, base64', 200), version: { type: 'integer', minimum: 1 } },
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
  properties: { version: { type: 'string', pattern: '^[0-9]{1,9}$' } },
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
