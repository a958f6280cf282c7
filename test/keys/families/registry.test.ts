import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FAMILIES,
  KEY_TYPES,
  type KeyType,
  SIGNING_KEY_TYPES,
  familyOf,
  familyWith,
  generateKey,
  importKey,
  jwsSignOptions,
  loadPrivateKey,
  signatureAlgorithm,
  signsDigests,
} from '../../../src/keys/families/index.ts';
import { problem } from '../../support/problem.ts';

test('every key type has a family, and every family\'s declared types are key types', () => {
  assert.equal(new Set(KEY_TYPES).size, KEY_TYPES.length, 'no key type registered twice');
  for (const type of KEY_TYPES) assert.ok(familyOf(type).types.includes(type), `${type} is registered with a family that declares it`);
  const declared = FAMILIES.flatMap((f) => f.types);
  assert.equal(new Set(declared).size, declared.length, 'no key type declared by two families');
  for (const family of FAMILIES) {
    assert.ok(family.types.length > 0, `${family.name} declares its types`);
    for (const type of family.types) {
      assert.ok((KEY_TYPES as readonly string[]).includes(type), `${family.name} declares ${type}, which is a key type`);
      assert.equal(familyOf(type as KeyType), family, `${type} is registered with ${family.name}`);
    }
  }
  assert.deepEqual([...declared].sort(), [...KEY_TYPES].sort());
});

test('the key types clients see, in their order', () => {
  assert.deepEqual(KEY_TYPES, ['EC-P256', 'EC-P384', 'EC-P521', 'Ed25519', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'AES-256-GCM', 'HMAC-SHA256']);
  assert.deepEqual(SIGNING_KEY_TYPES, ['EC-P256', 'EC-P384', 'EC-P521', 'Ed25519', 'RSA-2048', 'RSA-3072', 'RSA-4096']);
  // SPIRL signs digests only, which pure Ed25519 cannot.
  assert.deepEqual(KEY_TYPES.filter(signsDigests), ['EC-P256', 'EC-P384', 'EC-P521', 'RSA-2048', 'RSA-3072', 'RSA-4096']);
});

test('KeyType is the declared types, not any string', () => {
  // @ts-expect-error not a key type: if KeyType widened to string, the registry's exhaustiveness would check nothing.
  const bogus: KeyType = 'EC-P255';
  assert.ok(bogus);
});

test('usage is fixed by the family', () => {
  const usage = Object.fromEntries(KEY_TYPES.map((t) => [t, familyOf(t).usage]));
  assert.deepEqual(usage, {
    'EC-P256': 'sign_verify', 'EC-P384': 'sign_verify', 'EC-P521': 'sign_verify', Ed25519: 'sign_verify',
    'RSA-2048': 'sign_verify', 'RSA-3072': 'sign_verify', 'RSA-4096': 'sign_verify', 'AES-256-GCM': 'encrypt_decrypt', 'HMAC-SHA256': 'mac',
  });
  assert.equal(familyWith('AES-256-GCM', 'encrypt_decrypt'), familyOf('AES-256-GCM'));
  assert.equal(familyWith('AES-256-GCM', 'sign_verify'), undefined);
  assert.equal(familyWith('HMAC-SHA256', 'encrypt_decrypt'), undefined);
});

test('an unknown key type fails loudly instead of falling through to another family', async () => {
  for (const type of ['EC-P255', 'ed25519', '', 'constructor', '__proto__', 'toString'] as unknown as KeyType[]) {
    assert.throws(() => familyOf(type), problem('crypto.key_type_unknown', 500), JSON.stringify(type));
    await assert.rejects(generateKey(type), problem('crypto.key_type_unknown', 500));
    assert.throws(() => loadPrivateKey(type, Buffer.alloc(32)), problem('crypto.key_type_unknown', 500));
    assert.throws(() => importKey(type, { raw_base64: 'AAAA' }), problem('crypto.key_type_unknown', 500));
  }
});

test('KeyRack algorithm names', () => {
  assert.equal(signatureAlgorithm('EC-P256', {}), 'ECDSA_P256_SHA256');
  assert.equal(signatureAlgorithm('EC-P384', {}), 'ECDSA_P384_SHA384');
  assert.equal(signatureAlgorithm('EC-P521', {}), 'ECDSA_P521_SHA512');
  assert.equal(signatureAlgorithm('EC-P521', { hashAlgorithm: 'SHA-256' }), 'ECDSA_P521_SHA256');
  assert.equal(signatureAlgorithm('RSA-4096', {}), 'RSA_PKCS1_V15_SHA256');
  assert.equal(signatureAlgorithm('RSA-2048', { rsaPadding: 'pkcs1', hashAlgorithm: 'SHA-384' }), 'RSA_PKCS1_V15_SHA384');
  assert.equal(signatureAlgorithm('RSA-3072', { rsaPadding: 'pss' }), 'RSA_PSS_SHA256');
  assert.equal(signatureAlgorithm('RSA-2048', { rsaPadding: 'pss', hashAlgorithm: 'SHA-512' }), 'RSA_PSS_SHA512');
  assert.equal(signatureAlgorithm('Ed25519', {}), 'ED25519_PURE');
  assert.throws(() => signatureAlgorithm('AES-256-GCM', {}), problem('crypto.operation_unsupported'));
});

test('the signature request for a JWS algorithm', () => {
  assert.deepEqual(jwsSignOptions('EC-P256', 'ES256'), { hashAlgorithm: 'SHA-256', ecdsaFormat: 'raw' });
  assert.deepEqual(jwsSignOptions('EC-P521', 'ES512'), { hashAlgorithm: 'SHA-512', ecdsaFormat: 'raw' });
  assert.deepEqual(jwsSignOptions('RSA-2048', 'RS256'), { hashAlgorithm: 'SHA-256', rsaPadding: 'pkcs1' });
  assert.deepEqual(jwsSignOptions('RSA-2048', 'PS256'), { hashAlgorithm: 'SHA-256', rsaPadding: 'pss' });
  assert.deepEqual(jwsSignOptions('Ed25519', 'EdDSA'), {});
  assert.equal(jwsSignOptions('EC-P256', 'ES384'), undefined);
  assert.equal(jwsSignOptions('EC-P256', 'RS256'), undefined);
  assert.equal(jwsSignOptions('RSA-2048', 'ES256'), undefined);
  assert.throws(() => jwsSignOptions('HMAC-SHA256', 'HS256'), problem('crypto.operation_unsupported'));
});
