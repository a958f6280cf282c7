import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { assertProblem } from '../../support/http.ts';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

describe('crypto operations over /v1', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward();
    for (const [key_id, key_type] of [['ec', 'EC-P256'], ['ec384', 'EC-P384'], ['ed', 'Ed25519'], ['rsa', 'RSA-2048'], ['aes', 'AES-256-GCM'], ['mac', 'HMAC-SHA256']]) {
      const r = await t.post('/v1/keys', { key_id, key_type });
      assert.equal(r.status, 201);
    }
  });
  after(() => t.close());
  const pub = async (id: string) => createPublicKey((await t.get(`/v1/keys/${id}/public-key`)).body.public_key);

  test('ECDSA over a SHA-256 digest: DER by default, raw r||s on request; both verify with node:crypto', async () => {
    const msg = Buffer.from('payload');
    const digest = createHash('sha256').update(msg).digest();
    const der = await t.post('/v1/keys/ec/sign', { digest: b64(digest), hash_algorithm: 'SHA-256' });
    assert.equal(der.status, 200);
    assert.equal(der.body.algorithm, 'ECDSA_P256_SHA256');
    const key = await pub('ec');
    assert.ok(nodeVerify('sha256', msg, key, Buffer.from(der.body.signature, 'base64')));
    assert.equal(Buffer.from(der.body.signature, 'base64')[0], 0x30, 'DER SEQUENCE');
    const raw = await t.post('/v1/keys/ec/sign', { digest: b64(digest), hash_algorithm: 'SHA-256', signature_format: 'raw' });
    assert.equal(Buffer.from(raw.body.signature, 'base64').length, 64);
    assert.ok(nodeVerify('sha256', msg, { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(raw.body.signature, 'base64')));
    const v = await t.post('/v1/keys/ec/verify', { digest: b64(digest), hash_algorithm: 'SHA-256', signature: raw.body.signature, signature_format: 'raw' });
    assert.equal(v.body.valid, true);
  });

  test('digest length is checked against the hash algorithm', async () => {
    assertProblem(await t.post('/v1/keys/ec/sign', { digest: b64(Buffer.alloc(20)), hash_algorithm: 'SHA-256' }), 400, 'crypto.digest_length');
    assertProblem(await t.post('/v1/keys/ec384/sign', { digest: b64(Buffer.alloc(32)), hash_algorithm: 'SHA-384' }), 400, 'crypto.digest_length');
    assertProblem(await t.post('/v1/keys/ec/sign', { digest: b64(Buffer.alloc(32)) }), 400, 'crypto.hash_algorithm_required');
    assertProblem(await t.post('/v1/keys/ec/sign', { digest: b64(Buffer.alloc(32)), hash_algorithm: 'MD5' }), 400, 'crypto.hash_algorithm_unsupported');
  });

  test('Ed25519 signs messages only: a digest is a clear 400', async () => {
    assertProblem(await t.post('/v1/keys/ed/sign', { digest: b64(Buffer.alloc(64)), hash_algorithm: 'SHA-512' }), 400, 'crypto.digest_not_supported');
    assertProblem(await t.post('/v1/keys/ed/sign', { digest: b64(Buffer.alloc(64)) }), 400, 'crypto.digest_not_supported');
    assertProblem(await t.post('/v1/keys/ec/sign', { digest: b64(Buffer.alloc(32)) }), 400, 'crypto.hash_algorithm_required');
    const s = await t.post('/v1/keys/ed/sign', { message: b64('hi') });
    assert.equal(s.body.algorithm, 'ED25519_PURE');
    assert.ok(nodeVerify(null, Buffer.from('hi'), await pub('ed'), Buffer.from(s.body.signature, 'base64')));
  });

  test('RSA PKCS#1 v1.5 and PSS, each over a digest and over a message', async () => {
    const msg = Buffer.from('rsa message');
    const key = await pub('rsa');
    const pkcs1 = await t.post('/v1/keys/rsa/sign', { digest: b64(createHash('sha256').update(msg).digest()), hash_algorithm: 'SHA-256' });
    assert.ok(nodeVerify('sha256', msg, key, Buffer.from(pkcs1.body.signature, 'base64')));
    const pss = await t.post('/v1/keys/rsa/sign', { message: b64(msg), rsa_padding: 'pss', hash_algorithm: 'SHA-384' });
    assert.equal(pss.body.algorithm, 'RSA_PSS_SHA384');
    const { constants } = await import('node:crypto');
    assert.ok(nodeVerify('sha384', msg, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }, Buffer.from(pss.body.signature, 'base64')));
    const pssDigest = await t.post('/v1/keys/rsa/sign', { digest: b64(createHash('sha512').update(msg).digest()), hash_algorithm: 'SHA-512', rsa_padding: 'pss' });
    assert.equal(pssDigest.status, 200);
    assert.equal(pssDigest.body.algorithm, 'RSA_PSS_SHA512');
    assert.ok(nodeVerify('sha512', msg, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, Buffer.from(pssDigest.body.signature, 'base64')));
    const verified = await t.post('/v1/keys/rsa/verify', { digest: b64(createHash('sha512').update(msg).digest()), hash_algorithm: 'SHA-512', rsa_padding: 'pss', signature: pssDigest.body.signature });
    assert.equal(verified.body.valid, true);
  });

  test('encrypt/decrypt with associated data; the ciphertext carries a versioned header', async () => {
    const aad = b64('context-1');
    const enc = await t.post('/v1/keys/aes/encrypt', { plaintext: b64('top secret'), associated_data: aad });
    assert.equal(enc.status, 200);
    const ct = Buffer.from(enc.body.ciphertext, 'base64');
    assert.equal(ct[0], 0x01);
    assert.equal(ct.readUInt32BE(1), 1);
    const dec = await t.post('/v1/keys/aes/decrypt', { ciphertext: enc.body.ciphertext, associated_data: aad });
    assert.equal(Buffer.from(dec.body.plaintext, 'base64').toString(), 'top secret');
    assertProblem(await t.post('/v1/keys/aes/decrypt', { ciphertext: enc.body.ciphertext, associated_data: b64('other') }), 400, 'crypto.decrypt_failed');
    assertProblem(await t.post('/v1/keys/aes/decrypt', { ciphertext: b64('xx') }), 400, 'crypto.ciphertext_malformed');
    // After rotation, old ciphertexts still decrypt and new ones use version 2.
    await t.post('/v1/keys/aes/rotate');
    assert.equal((await t.post('/v1/keys/aes/decrypt', { ciphertext: enc.body.ciphertext, associated_data: aad })).status, 200);
    const enc2 = await t.post('/v1/keys/aes/encrypt', { plaintext: b64('x') });
    assert.equal(enc2.body.key_version, 2);
  });

  test('data keys: plaintext plus the same key wrapped; the wrapped copy decrypts to it', async () => {
    const dk = await t.post('/v1/keys/aes/datakey', { bytes: 32 });
    assert.equal(Buffer.from(dk.body.plaintext, 'base64').length, 32);
    const back = await t.post('/v1/keys/aes/decrypt', { ciphertext: dk.body.ciphertext });
    assert.equal(back.body.plaintext, dk.body.plaintext);
  });

  test('data keys: no body at all is the defaults (32 bytes), not request.empty_body', async () => {
    const none = await t.post('/v1/keys/aes/datakey');
    assert.equal(none.status, 200, JSON.stringify(none.body));
    assert.equal(Buffer.from(none.body.plaintext, 'base64').length, 32);
    // An empty application/json body reads the same; a route whose body has required fields still refuses it.
    const empty = await t.kw.app.inject({ method: 'POST', url: '/v1/keys/aes/datakey', headers: { ...t.auth, 'content-type': 'application/json' }, payload: '' });
    assert.equal(empty.statusCode, 200, empty.body);
    assertProblem(await t.post('/v1/keys/aes/encrypt'), 400, 'request.empty_body');
  });

  test('HMAC and constant-time verification; random bytes', async () => {
    const m = await t.post('/v1/keys/mac/mac', { message: b64('msg') });
    assert.equal(Buffer.from(m.body.mac, 'base64').length, 32);
    assert.equal((await t.post('/v1/keys/mac/mac/verify', { message: b64('msg'), mac: m.body.mac })).body.valid, true);
    assert.equal((await t.post('/v1/keys/mac/mac/verify', { message: b64('msh'), mac: m.body.mac })).body.valid, false);
    const r = await t.post('/v1/random', { bytes: 48 });
    assert.equal(Buffer.from(r.body.random, 'base64').length, 48);
    assertProblem(await t.post('/v1/random', { bytes: 4096 }), 400, 'crypto.random_length');
  });

  test('operations that do not fit the key type are clear 400s', async () => {
    assertProblem(await t.post('/v1/keys/aes/sign', { message: b64('x') }), 400, 'key.usage_mismatch');
    assertProblem(await t.post('/v1/keys/ec/encrypt', { plaintext: b64('x') }), 400, 'key.usage_mismatch');
    assertProblem(await t.post('/v1/keys/ec/mac', { message: b64('x') }), 400, 'key.usage_mismatch');
    assertProblem(await t.get('/v1/keys/aes/public-key'), 400, 'key.usage_mismatch');
  });

  test('JWT signing (kid = fingerprint + version) verifies against the key\'s JWKS, across rotation', async () => {
    const a = await t.post('/v1/keys/ec/jwt', { payload: { sub: 'alice', aud: 'svc' } });
    assert.equal(a.status, 200);
    assert.equal(a.body.alg, 'ES256');
    await t.post('/v1/keys/ec/rotate');
    const b = await t.post('/v1/keys/ec/jwt', { payload: { sub: 'bob' } });
    assert.notEqual(a.body.kid, b.body.kid);
    const jwks = await t.get('/v1/keys/ec/jwks');
    assert.equal(jwks.body.keys.length, 2);
    const set = createLocalJWKSet(jwks.body);
    assert.equal((await jwtVerify(a.body.jwt, set)).payload.sub, 'alice');
    assert.equal((await jwtVerify(b.body.jwt, set)).payload.sub, 'bob');
    assert.match(a.body.kid, /^sha256:[0-9a-f]{64}:v1$/);
  });

  test('RSA keys sign RS256 and PS256 JWTs, and the key\'s JWKS verifies both', async () => {
    const set = createLocalJWKSet((await t.get('/v1/keys/rsa/jwks')).body);
    for (const rsa_padding of ['pkcs1', 'pss']) {
      const j = await t.post('/v1/keys/rsa/jwt', { payload: { sub: rsa_padding }, rsa_padding });
      assert.equal(j.body.alg, rsa_padding === 'pss' ? 'PS256' : 'RS256');
      assert.equal((await jwtVerify(j.body.jwt, set)).payload.sub, rsa_padding);
    }
  });

  test('the payload limit covers every operation: sign, verify and JWT payloads too', async () => {
    const big = b64(Buffer.alloc(65 * 1024, 1));
    assertProblem(await t.post('/v1/keys/ec/sign', { message: big }), 400, 'crypto.payload_too_large');
    assertProblem(await t.post('/v1/keys/ec/verify', { message: big, signature: b64('x') }), 400, 'crypto.payload_too_large');
    assertProblem(await t.post('/v1/keys/ec/jwt', { payload: { blob: 'x'.repeat(65 * 1024) } }), 400, 'crypto.payload_too_large');
  });
});
