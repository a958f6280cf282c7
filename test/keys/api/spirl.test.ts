// The SPIRL Key Manager webhook contract, driven the way a Go trust-domain server drives it.
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { assertProblem, req } from '../../support/http.ts';

describe('SPIRL key manager webhook', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward({ config: { spirl: { base_path: '/key-manager' } } });
  });
  after(() => t.close());
  const call = (method: 'GET' | 'POST', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    req(t.kw.app, { method, url: '/key-manager' + url, headers: { ...t.auth, ...headers }, ...(payload !== undefined ? { payload: payload as object } : {}) });

  test('POST /keys → 201 {public_key, fingerprint} exactly', async () => {
    const r = await call('POST', '/keys', { key_id: 'signing-key-2026-01', key_type: 'EC-P256' });
    assert.equal(r.status, 201);
    assert.deepEqual(Object.keys(r.body).sort(), ['fingerprint', 'public_key']);
    assert.match(r.body.public_key, /^-----BEGIN PUBLIC KEY-----\n/);
    const der = createPublicKey(r.body.public_key).export({ type: 'spki', format: 'der' });
    assert.equal(r.body.fingerprint, 'sha256:' + createHash('sha256').update(der).digest('hex'));
    assertProblem(await call('POST', '/keys', { key_id: 'signing-key-2026-01', key_type: 'EC-P256' }), 409, 'key.exists');
    assertProblem(await call('POST', '/keys', { key_id: 'aes', key_type: 'AES-256-GCM' }), 400, 'request.invalid');
  });

  test('GET /keys → {keys:[{key_id, public_key, fingerprint}]}', async () => {
    await call('POST', '/keys', { key_id: 'rsa-key', key_type: 'RSA-2048' });
    const r = await call('GET', '/keys');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.keys.map((k: { key_id: string }) => k.key_id), ['rsa-key', 'signing-key-2026-01']);
    for (const k of r.body.keys) assert.deepEqual(Object.keys(k).sort(), ['fingerprint', 'key_id', 'public_key']);
  });

  test('POST /keys/{id}/sign: DER ECDSA over the digest (Go crypto.Signer), fingerprint of the signing key', async () => {
    const msg = Buffer.from('svid tbs certificate');
    const digest = createHash('sha256').update(msg).digest();
    const r = await call('POST', '/keys/signing-key-2026-01/sign', { digest: digest.toString('base64'), hash_algorithm: 'SHA-256' });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ['key_fingerprint', 'signature']);
    const list = await call('GET', '/keys');
    const key = list.body.keys.find((k: { key_id: string }) => k.key_id === 'signing-key-2026-01');
    assert.equal(r.body.key_fingerprint, key.fingerprint);
    assert.ok(nodeVerify('sha256', msg, createPublicKey(key.public_key), Buffer.from(r.body.signature, 'base64')));
    const rsa = await call('POST', '/keys/rsa-key/sign', { digest: digest.toString('base64'), hash_algorithm: 'SHA-256' });
    const rsaKey = list.body.keys.find((k: { key_id: string }) => k.key_id === 'rsa-key');
    assert.ok(nodeVerify('sha256', msg, createPublicKey(rsaKey.public_key), Buffer.from(rsa.body.signature, 'base64')));
    assertProblem(await call('POST', '/keys/signing-key-2026-01/sign', { digest: digest.subarray(0, 20).toString('base64'), hash_algorithm: 'SHA-256' }), 400, 'crypto.digest_length');
    assertProblem(await call('POST', '/keys/nope/sign', { digest: digest.toString('base64'), hash_algorithm: 'SHA-256' }), 404, 'key.not_found');
  });

  test('POST /keys/{id}/release with an empty body → 200; no new signatures; still listed until destroyed', async () => {
    const r = await t.kw.app.inject({ method: 'POST', url: '/key-manager/keys/rsa-key/release', headers: { ...t.auth, 'content-type': 'application/json' } });
    assert.equal(r.statusCode, 200);
    const noCt = await t.kw.app.inject({ method: 'POST', url: '/key-manager/keys/rsa-key/release', headers: t.auth });
    assert.equal(noCt.statusCode, 200, 'release is idempotent and needs no content type');
    const digest = createHash('sha256').update('x').digest().toString('base64');
    assertProblem(await call('POST', '/keys/rsa-key/sign', { digest, hash_algorithm: 'SHA-256' }), 409, 'key.released');
    const list = await call('GET', '/keys');
    assert.ok(list.body.keys.some((k: { key_id: string }) => k.key_id === 'rsa-key'));
  });

  test('the webhook sees only its own keys: others are not listed, signed with or released', async () => {
    const v1 = (url: string, payload: object) => req(t.kw.app, { method: 'POST', url, headers: t.auth, payload });
    assert.equal((await v1('/v1/keys', { key_id: 'not-spirl', key_type: 'EC-P256' })).status, 201);
    const listed = (await call('GET', '/keys')).body.keys.map((k: { key_id: string }) => k.key_id);
    assert.ok(!listed.includes('not-spirl'));
    const digest = createHash('sha256').update('x').digest().toString('base64');
    assertProblem(await call('POST', '/keys/not-spirl/sign', { digest, hash_algorithm: 'SHA-256' }), 404, 'key.not_found');
    assertProblem(await call('POST', '/keys/not-spirl/release', {}), 404, 'key.not_found');
    const after = await t.get('/v1/keys/not-spirl');
    assert.equal(after.body.state, 'enabled', 'a refused release leaves the key alone');
    const refused = t.auditLines.map((l) => JSON.parse(l)).filter((e) => e.event_type === 'key.sign' && e.resource?.id === 'not-spirl');
    assert.equal(refused.length, 1);
    assert.equal(refused[0].outcome, 'error');
    assert.equal(refused[0].error_code, 'key.not_found');

    // A key brought in through /v1 with the webhook's label is the webhook's to use.
    assert.equal((await v1('/v1/keys', { key_id: 'byok-spirl', key_type: 'EC-P384', labels: { 'keyward.dev/source': 'spirl' } })).status, 201);
    assert.ok((await call('GET', '/keys')).body.keys.some((k: { key_id: string }) => k.key_id === 'byok-spirl'));
    const d384 = createHash('sha384').update('x').digest().toString('base64');
    assert.equal((await call('POST', '/keys/byok-spirl/sign', { digest: d384, hash_algorithm: 'SHA-384' })).status, 200);
  });

  test('a labelled key of a type the webhook does not offer is unknown to it: not listed, signed with or released', async () => {
    const v1 = (url: string, payload: object) => req(t.kw.app, { method: 'POST', url, headers: t.auth, payload });
    const digest = createHash('sha256').update('x').digest().toString('base64');
    for (const [id, type] of [['spirl-aes', 'AES-256-GCM'], ['spirl-ed', 'Ed25519'], ['spirl-hmac', 'HMAC-SHA256']] as const) {
      assert.equal((await v1('/v1/keys', { key_id: id, key_type: type, labels: { 'keyward.dev/source': 'spirl' } })).status, 201);
      assert.ok(!(await call('GET', '/keys')).body.keys.some((k: { key_id: string }) => k.key_id === id));
      assertProblem(await call('POST', `/keys/${id}/sign`, { digest, hash_algorithm: 'SHA-256' }), 404, 'key.not_found');
      assertProblem(await call('POST', `/keys/${id}/release`, {}), 404, 'key.not_found');
      assert.equal((await t.get(`/v1/keys/${id}`)).body.state, 'enabled', 'a refused release leaves the key alone');
    }
  });

  test('POST /keys refuses Ed25519: the webhook signs digests, which pure EdDSA cannot', async () => {
    assertProblem(await call('POST', '/keys', { key_id: 'ed', key_type: 'Ed25519' }), 400, 'request.invalid');
  });

  test('without credentials the webhook answers 401 with WWW-Authenticate', async () => {
    const r = await req(t.kw.app, { method: 'GET', url: '/key-manager/keys' });
    assertProblem(r, 401, 'auth.missing_credential');
    assert.match(String(r.headers['www-authenticate']), /^Bearer/);
  });
});
