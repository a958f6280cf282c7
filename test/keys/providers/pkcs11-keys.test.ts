// Keys held by the PKCS#11 provider, end to end: the REST API and SPIRL over a real SoftHSM2 token in a private
// directory. Each key version is an object pair (or secret key) inside the token; Keyward keeps only references and
// public keys. A second handle on the token plays the operator (and, for hold-your-own-key, the key's owner).
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as nodeVerify, constants } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { Pkcs11Token } from '../../../src/keys/providers/pkcs11/token.ts';
import { assertProblem, type Res } from '../../support/http.ts';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { pkcs11Provider } from '../../support/providers.ts';
import { type SoftHsm, type SoftHsmToken, softHsm } from '../../support/softhsm.ts';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

describe('PKCS#11 provider (SoftHSM2)', () => {
  let hsm: SoftHsm | undefined;
  let tok: SoftHsmToken;
  let t: TestKeyward;
  /** The operator's own handle on the token. */
  let operator: Pkcs11Token;

  before(async (ctx) => {
    hsm = await softHsm(ctx, 'PKCS#11 provider tests');
    if (!hsm) return;
    tok = await hsm.initToken('keyward-keys');
    const p = pkcs11Provider(hsm, tok);
    t = await startKeyward({ config: { keys: { default_provider: 'pkcs11', providers: { pkcs11: p.config } } }, env: { ...p.env } });
    operator = new Pkcs11Token({ modulePath: hsm.modulePath, tokenLabel: tok.label, pin: tok.pin });
  });
  after(async () => {
    await operator?.close();
    await t?.close();
    hsm?.cleanup();
  });
  const skip = (c: { skip(m: string): void }) => {
    if (!hsm) c.skip('SoftHSM2 not installed');
    return !hsm;
  };
  const pub = async (id: string) => createPublicKey((await t.get(`/v1/keys/${id}/public-key`)).body.public_key);
  const audited = (code: string) => t.auditLines.map((l) => JSON.parse(l)).filter((e) => e.error_code === code);
  const ref = (r: Res, v = 1) => r.body.versions.find((x: { version: number }) => x.version === v).provider_reference as { label: string; id: string };

  test('keys are generated inside the token as sensitive, non-extractable objects; metadata names the provider and the objects', async (c) => {
    if (skip(c)) return;
    for (const [key_id, key_type] of [['ec', 'EC-P256'], ['ec384', 'EC-P384'], ['rsa', 'RSA-2048'], ['rsa4096', 'RSA-4096'], ['aes', 'AES-256-GCM']]) {
      const r = await t.post('/v1/keys', { key_id, key_type });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.provider, 'pkcs11');
      const { label, id } = ref(r);
      assert.match(label, new RegExp(`^kw:${key_id}:v1:[0-9a-f]{8}$`));
      const objects = await operator.find({ id: Buffer.from(id, 'hex') });
      const secret = objects.find((o) => o.class === (key_type === 'AES-256-GCM' ? 'secret_key' : 'private_key'))!;
      assert.ok(secret, `${key_id}: the private or secret key is in the token`);
      assert.deepEqual([secret.token, secret.private, secret.sensitive, secret.extractable, secret.neverExtractable], [true, true, true, false, true]);
      assert.equal(objects.length, key_type === 'AES-256-GCM' ? 1 : 2);
    }
    // The public key Keyward publishes is the token's.
    const spki = await operator.publicKey({ id: Buffer.from(ref(await t.get('/v1/keys/ec')).id, 'hex') });
    assert.deepEqual((await pub('ec')).export({ type: 'spki', format: 'der' }), spki);
    const listed = await t.get('/v1/keys?provider=pkcs11');
    assert.deepEqual(listed.body.keys.map((k: { key_id: string }) => k.key_id), ['aes', 'ec', 'ec384', 'rsa', 'rsa4096']);
    assert.deepEqual((await t.get('/v1/keys?provider=software')).body.keys, []);
  });

  test('software keys beside them: provider software on request; a key names where it lives', async (c) => {
    if (skip(c)) return;
    const r = await t.post('/v1/keys', { key_id: 'soft', key_type: 'Ed25519', provider: 'software' });
    assert.equal(r.body.provider, 'software');
    assert.equal(r.body.versions[0].provider_reference, undefined);
    assert.deepEqual((await t.get('/v1/keys?provider=software')).body.keys.map((k: { key_id: string }) => k.key_id), ['soft']);
  });

  test('ECDSA over a message or a digest, DER or raw; verifies with node:crypto and through the API', async (c) => {
    if (skip(c)) return;
    const msg = Buffer.from('hsm payload');
    for (const [id, hash, len] of [['ec', 'sha256', 64], ['ec384', 'sha384', 96]] as const) {
      const key = await pub(id);
      const der = await t.post(`/v1/keys/${id}/sign`, { message: b64(msg) });
      assert.equal(der.status, 200, JSON.stringify(der.body));
      assert.ok(nodeVerify(hash, msg, key, Buffer.from(der.body.signature, 'base64')));
      const digest = createHash(hash).update(msg).digest();
      const raw = await t.post(`/v1/keys/${id}/sign`, { digest: b64(digest), hash_algorithm: hash === 'sha256' ? 'SHA-256' : 'SHA-384', signature_format: 'raw' });
      assert.equal(Buffer.from(raw.body.signature, 'base64').length, len);
      assert.ok(nodeVerify(hash, msg, { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(raw.body.signature, 'base64')));
      assert.equal((await t.post(`/v1/keys/${id}/verify`, { message: b64(msg), signature: der.body.signature })).body.valid, true);
      assert.equal((await t.post(`/v1/keys/${id}/verify`, { message: b64('other'), signature: der.body.signature })).body.valid, false);
    }
  });

  test('RSA PKCS#1 v1.5 and PSS (salt = hash length) over messages and digests', async (c) => {
    if (skip(c)) return;
    const key = await pub('rsa');
    const msg = Buffer.from('rsa in the token');
    const pkcs1 = await t.post('/v1/keys/rsa/sign', { message: b64(msg), hash_algorithm: 'SHA-512' });
    assert.equal(pkcs1.body.algorithm, 'RSA_PKCS1_V15_SHA512');
    assert.ok(nodeVerify('sha512', msg, key, Buffer.from(pkcs1.body.signature, 'base64')));
    const pss = await t.post('/v1/keys/rsa/sign', { digest: b64(createHash('sha256').update(msg).digest()), hash_algorithm: 'SHA-256', rsa_padding: 'pss' });
    assert.equal(pss.body.algorithm, 'RSA_PSS_SHA256');
    assert.ok(nodeVerify('sha256', msg, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, Buffer.from(pss.body.signature, 'base64')));
    assert.equal((await t.post('/v1/keys/rsa/verify', { message: b64(msg), rsa_padding: 'pss', signature: pss.body.signature })).body.valid, true);
    const big = await t.post('/v1/keys/rsa4096/sign', { message: b64(msg), rsa_padding: 'pss', hash_algorithm: 'SHA-384' });
    assert.equal(Buffer.from(big.body.signature, 'base64').length, 512);
    assert.ok(nodeVerify('sha384', msg, { key: await pub('rsa4096'), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, Buffer.from(big.body.signature, 'base64')));
    // Options meant for other key types are refused as they are for software keys.
    assertProblem(await t.post('/v1/keys/rsa/sign', { message: b64(msg), signature_format: 'raw' }), 400, 'crypto.ecdsa_format_unsupported');
    assertProblem(await t.post('/v1/keys/ec/sign', { digest: b64(Buffer.alloc(31)), hash_algorithm: 'SHA-256' }), 400, 'crypto.digest_length');
  });

  test('JWTs: ES256, RS256 and PS256 verify against the key\'s JWKS', async (c) => {
    if (skip(c)) return;
    for (const [id, padding, alg] of [['ec', undefined, 'ES256'], ['rsa', 'pkcs1', 'RS256'], ['rsa', 'pss', 'PS256']] as const) {
      const r = await t.post(`/v1/keys/${id}/jwt`, { payload: { sub: 'svc', iat: 1 }, ...(padding ? { rsa_padding: padding } : {}) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.alg, alg);
      const jwks = (await t.get(`/v1/keys/${id}/jwks`)).body;
      const { payload, protectedHeader } = await jwtVerify(r.body.jwt, createLocalJWKSet(jwks), { algorithms: [alg] });
      assert.equal(payload.sub, 'svc');
      assert.equal(protectedHeader.kid, r.body.kid);
    }
  });

  test('AES-256-GCM: encrypt/decrypt with associated data, data keys; a wrong AAD is the neutral decrypt_failed', async (c) => {
    if (skip(c)) return;
    const aad = b64('context');
    const enc = await t.post('/v1/keys/aes/encrypt', { plaintext: b64('secret payload'), associated_data: aad });
    assert.equal(enc.status, 200);
    const ct = Buffer.from(enc.body.ciphertext, 'base64');
    assert.equal(ct[0], 0x01, 'Keyward ciphertext format v1');
    assert.equal(ct.readUInt32BE(1), 1, 'key version in the header');
    const dec = await t.post('/v1/keys/aes/decrypt', { ciphertext: enc.body.ciphertext, associated_data: aad });
    assert.equal(Buffer.from(dec.body.plaintext, 'base64').toString(), 'secret payload');
    assertProblem(await t.post('/v1/keys/aes/decrypt', { ciphertext: enc.body.ciphertext, associated_data: b64('other') }), 400, 'crypto.decrypt_failed');
    assertProblem(await t.post('/v1/keys/aes/decrypt', { ciphertext: enc.body.ciphertext }), 400, 'crypto.decrypt_failed');
    const empty = await t.post('/v1/keys/aes/encrypt', { plaintext: '' });
    assert.equal((await t.post('/v1/keys/aes/decrypt', { ciphertext: empty.body.ciphertext })).body.plaintext, '');
    const dk = await t.post('/v1/keys/aes/datakey', { bytes: 32 });
    assert.equal(Buffer.from(dk.body.plaintext, 'base64').length, 32);
    assert.equal((await t.post('/v1/keys/aes/decrypt', { ciphertext: dk.body.ciphertext })).body.plaintext, dk.body.plaintext);
  });

  test('what the token does not hold is refused as key.provider_unsupported, never made in software', async (c) => {
    if (skip(c)) return;
    for (const key_type of ['Ed25519', 'HMAC-SHA256', 'EC-P521']) {
      const r = await t.post('/v1/keys', { key_id: `no-${key_type.toLowerCase()}`, key_type });
      assertProblem(r, 422, 'key.provider_unsupported');
      assert.equal(r.body.provider, 'pkcs11');
      assertProblem(await t.get(`/v1/keys/no-${key_type.toLowerCase()}`), 404, 'key.not_found');
    }
    const pem = (await import('node:crypto')).generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    assertProblem(await t.post('/v1/keys/import', { key_id: 'imp', key_type: 'EC-P256', private_key_pem: pem, provider: 'pkcs11' }), 422, 'key.provider_unsupported');
    assert.ok(audited('key.provider_unsupported').length >= 3, 'refusals are audited with their code');
  });

  test('rotation makes a new object pair; old versions still verify; destroy removes every object from the token', async (c) => {
    if (skip(c)) return;
    await t.post('/v1/keys', { key_id: 'rot', key_type: 'EC-P256' });
    const old = await t.post('/v1/keys/rot/sign', { message: b64('v1') });
    const rotated = await t.post('/v1/keys/rot/rotate');
    assert.equal(rotated.body.current_version, 2);
    const [r1, r2] = [ref(rotated, 1), ref(rotated, 2)];
    assert.notEqual(r1.id, r2.id);
    const fresh = await t.post('/v1/keys/rot/sign', { message: b64('v2') });
    assert.equal(fresh.body.key_version, 2);
    assert.equal((await t.post('/v1/keys/rot/verify', { message: b64('v1'), signature: old.body.signature })).body.key_version, 1);
    const jwks = (await t.get('/v1/keys/rot/jwks')).body.keys;
    assert.equal(jwks.length, 2);
    // Overwriting would orphan the objects: destroy first.
    assertProblem(await t.post('/v1/keys', { key_id: 'rot', key_type: 'EC-P256', overwrite: true }), 409, 'key.overwrite_refused');
    assert.equal((await operator.find({ id: Buffer.from(r1.id, 'hex') })).length, 2);
    const destroyed = await t.post('/v1/keys/rot/destroy');
    assert.equal(destroyed.body.state, 'destroyed');
    for (const r of [r1, r2]) {
      assert.deepEqual(await operator.find({ id: Buffer.from(r.id, 'hex') }), [], `v${r.label}: objects removed`);
      assert.deepEqual(await operator.find({ label: r.label }), []);
    }
    assertProblem(await t.post('/v1/keys/rot/sign', { message: b64('x') }), 410, 'key.destroyed');
    // A destroyed key may be created again under its id.
    assert.equal((await t.post('/v1/keys', { key_id: 'rot', key_type: 'EC-P256', overwrite: true })).status, 201);
  });

  test('SPIRL: keys the trust-domain server creates live in the token and sign its digests (DER)', async (c) => {
    if (skip(c)) return;
    const created = await t.post('/spirl/keys', { key_id: 'spirl-1', key_type: 'EC-P256' });
    assert.equal(created.status, 201);
    assert.equal((await t.get('/v1/keys/spirl-1')).body.provider, 'pkcs11');
    const msg = Buffer.from('tbs certificate');
    const r = await t.post('/spirl/keys/spirl-1/sign', { digest: b64(createHash('sha256').update(msg).digest()), hash_algorithm: 'SHA-256' });
    assert.equal(r.status, 200);
    assert.ok(nodeVerify('sha256', msg, createPublicKey(created.body.public_key), Buffer.from(r.body.signature, 'base64')));
  });

  test('sys/status shows the configured providers and the token\'s health', async (c) => {
    if (skip(c)) return;
    const s = await t.get('/v1/sys/status');
    assert.equal(s.body.providers.default, 'pkcs11');
    assert.deepEqual(s.body.providers.configured, ['software', 'pkcs11']);
    assert.equal(s.body.providers.health.pkcs11.ok, true);
    assert.equal(s.body.providers.health.pkcs11.detail.token_label, 'keyward-keys');
    assert.equal(JSON.stringify(s.body).includes(tok.pin), false, 'no PIN anywhere');
  });

  test('the token goes away: 503 hsm.unavailable (audited), status says so; it comes back: served again without a restart', async (c) => {
    if (skip(c)) return;
    assert.equal((await t.post('/v1/keys/ec/sign', { message: b64('before') })).status, 200);
    tok.takeAway();
    try {
      const r = await t.post('/v1/keys/ec/sign', { message: b64('while away') });
      assertProblem(r, 503, 'hsm.unavailable');
      assert.equal(r.headers['retry-after'], '5');
      assertProblem(await t.post('/v1/keys/aes/encrypt', { plaintext: b64('x') }), 503, 'hsm.unavailable');
      assertProblem(await t.post('/v1/keys', { key_id: 'while-away', key_type: 'EC-P256' }), 503, 'hsm.unavailable');
      assertProblem(await t.post('/v1/keys/ec/destroy'), 503, 'hsm.unavailable');
      assert.equal((await t.get('/v1/keys/ec')).body.state, 'enabled', 'a destroy that cannot reach the token changes nothing');
      // Verification needs only the public key Keyward keeps.
      assert.equal((await t.get('/v1/keys/ec/jwks')).status, 200);
      assert.equal((await t.get('/v1/sys/status')).body.providers.health.pkcs11.ok, false);
      assert.ok(audited('hsm.unavailable').length >= 3);
    } finally {
      tok.bringBack();
    }
    let r: Res | undefined;
    for (let i = 0; i < 50; i++) {
      await sleep(200);
      r = await t.post('/v1/keys/ec/sign', { message: b64('after') });
      if (r.status === 200) break;
    }
    assert.equal(r?.status, 200, `served again after the token came back: ${JSON.stringify(r?.body)}`);
    assert.ok(nodeVerify('sha256', Buffer.from('after'), await pub('ec'), Buffer.from(r!.body.signature, 'base64')));
  });

  test('hold your own key: an object the owner made in the token is used by reference, never destroyed by Keyward', async (c) => {
    if (skip(c)) return;
    const owned = await operator.generate('EC-P256', { label: 'customer-signing-key' });
    const imported = await t.post('/v1/keys/import', { key_id: 'byo', key_type: 'EC-P256', provider: 'pkcs11', external_id: 'customer-signing-key' });
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    assert.equal(imported.body.origin, 'external');
    assert.deepEqual(createPublicKey(imported.body.public_key).export({ type: 'spki', format: 'der' }), owned.spki);
    const s = await t.post('/v1/keys/byo/sign', { message: b64('hyok') });
    assert.ok(nodeVerify('sha256', Buffer.from('hyok'), createPublicKey(imported.body.public_key), Buffer.from(s.body.signature, 'base64')));
    assertProblem(await t.post('/v1/keys/byo/rotate'), 409, 'key.external_immutable');
    // Wrong type, unknown name: refused at import.
    assertProblem(await t.post('/v1/keys/import', { key_id: 'byo2', key_type: 'EC-P384', provider: 'pkcs11', external_id: 'customer-signing-key' }), 400, 'key.external_invalid');
    assertProblem(await t.post('/v1/keys/import', { key_id: 'byo3', key_type: 'EC-P256', provider: 'pkcs11', external_id: 'nobody' }), 400, 'key.external_invalid');
    // Keyward forgetting it leaves the owner's key alone.
    await t.post('/v1/keys/import', { key_id: 'byo-forget', key_type: 'EC-P256', provider: 'pkcs11', external_id: `id:${owned.id.toString('hex')}` });
    assert.equal((await t.post('/v1/keys/byo-forget/destroy')).body.state, 'destroyed');
    assert.equal((await operator.find({ id: owned.id })).length, 2);
    // The owner deletes it: the next use is refused and audited as key.external_revoked.
    await operator.destroy({ id: owned.id });
    const refused = await t.post('/v1/keys/byo/sign', { message: b64('after revocation') });
    assertProblem(refused, 403, 'key.external_revoked');
    assert.equal(refused.body.reason, 'missing');
    assertProblem(await t.post('/v1/keys/byo/verify', { message: b64('hyok'), signature: s.body.signature }), 403, 'key.external_revoked');
    const events = audited('key.external_revoked');
    assert.ok(events.length >= 2);
    assert.equal(events[0].resource.id, 'byo');
    assert.equal(events[0].outcome, 'denied');
  });
});
