import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { before, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { type GeneratedKey, type SigningKeyType, SIGNING_KEY_TYPES, fingerprint, generateKey, jwks, jwsAlgorithm, jwtKid, loadPrivateKey, signJwt } from '../../../src/keys/families/index.ts';
import { problem } from '../../support/problem.ts';

const keys = new Map<SigningKeyType, GeneratedKey>();
before(async () => {
  await Promise.all(SIGNING_KEY_TYPES.map(async (t) => keys.set(t, await generateKey(t))));
});

const kidOf = (type: SigningKeyType, version: number) => {
  const k = keys.get(type)!;
  return jwtKid(fingerprint(type, k.publicKeySpki, k.material), version);
};

test('kid = fingerprint + version', () => {
  const kid = kidOf('EC-P256', 3);
  assert.match(kid, /^sha256:[0-9a-f]{64}:v3$/);
  assert.notEqual(kidOf('EC-P256', 4), kid);
});

test('jwsAlgorithm', () => {
  assert.equal(jwsAlgorithm('EC-P256'), 'ES256');
  assert.equal(jwsAlgorithm('EC-P384'), 'ES384');
  assert.equal(jwsAlgorithm('EC-P521'), 'ES512');
  assert.equal(jwsAlgorithm('Ed25519'), 'EdDSA');
  assert.equal(jwsAlgorithm('RSA-3072'), 'RS256');
  assert.equal(jwsAlgorithm('RSA-3072', 'pkcs1'), 'RS256');
  assert.equal(jwsAlgorithm('RSA-3072', 'pss'), 'PS256');
  assert.throws(() => jwsAlgorithm('Ed25519', 'pss'), problem('crypto.rsa_padding_unsupported'));
  assert.throws(() => jwsAlgorithm('EC-P256', 'pkcs1'), problem('crypto.rsa_padding_unsupported'));
  assert.throws(() => jwsAlgorithm('HMAC-SHA256'), problem('crypto.operation_unsupported'));
  assert.throws(() => jwsAlgorithm('AES-256-GCM'), problem('crypto.operation_unsupported'));
});

test('every asymmetric type: signJwt verifies with jose against jwks()', async () => {
  const set = jwks(SIGNING_KEY_TYPES.map((type) => ({ type, spki: keys.get(type)!.publicKeySpki!, kid: kidOf(type, 1) })));
  assert.equal(set.keys.length, SIGNING_KEY_TYPES.length);
  for (const k of set.keys) assert.equal((k as { d?: unknown }).d, undefined);
  const JWKS = createLocalJWKSet(set as Parameters<typeof createLocalJWKSet>[0]);

  for (const type of SIGNING_KEY_TYPES) {
    const priv = loadPrivateKey(type, keys.get(type)!.material);
    const kid = kidOf(type, 1);
    const token = await signJwt(priv, type, kid, { sub: 'alice', iss: 'https://keyward.test', aud: 'svc', exp: Math.floor(Date.now() / 1000) + 60 });
    const header = decodeProtectedHeader(token);
    assert.deepEqual(header, { alg: jwsAlgorithm(type), kid, typ: 'JWT' });
    const { payload, protectedHeader } = await jwtVerify(token, JWKS, { issuer: 'https://keyward.test', audience: 'svc' });
    assert.equal(payload.sub, 'alice', type);
    assert.equal(protectedHeader.kid, kid);

    // A token under another key's kid does not verify.
    const other = type === 'EC-P256' ? 'EC-P384' : 'EC-P256';
    const forged = await signJwt(priv, type, kidOf(other, 1), { sub: 'mallory' });
    await assert.rejects(jwtVerify(forged, JWKS));
  }
});

test('RSA with PSS signs PS256, verifiable with the SPKI; typ is configurable', async () => {
  const type = 'RSA-2048';
  const k = keys.get(type)!;
  const token = await signJwt(loadPrivateKey(type, k.material), type, 'k', { sub: 'bob' }, { rsaPadding: 'pss', typ: 'at+jwt' });
  assert.deepEqual(decodeProtectedHeader(token), { alg: 'PS256', kid: 'k', typ: 'at+jwt' });
  const pub = createPublicKey({ key: k.publicKeySpki!, format: 'der', type: 'spki' });
  const { payload } = await jwtVerify(token, pub, { algorithms: ['PS256'], typ: 'at+jwt' });
  assert.equal(payload.sub, 'bob');
});

test('symmetric keys cannot sign JWTs or appear in a JWKS', async () => {
  const k = await generateKey('HMAC-SHA256');
  await assert.rejects(signJwt(loadPrivateKey('HMAC-SHA256', k.material), 'HMAC-SHA256', 'k', {}), problem('crypto.operation_unsupported'));
  assert.throws(() => jwks([{ type: 'AES-256-GCM', spki: Buffer.alloc(0), kid: 'k' }]), problem('crypto.operation_unsupported'));
});
