// Keys held by the KMIP provider, end to end: the REST API over a real PyKMIP server the test starts with its own
// certificates. A second client with the same identity plays the server's operator (and, for hold-your-own-key,
// the key's owner). PyKMIP 0.10 signs with RSA only and uses the maximum PSS salt, so EC keys, PSS and digests are
// refused (key.provider_unsupported), never done in software.
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { KmipClient } from '../../../src/keys/providers/kmip/client.ts';
import { KmipItemNotFoundError } from '../../../src/keys/providers/kmip/errors.ts';
import { assertProblem, type Res } from '../../support/http.ts';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { kmipProvider } from '../../support/providers.ts';
import { type PykmipServer, pykmipForSuite } from '../../support/pykmip.ts';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

describe('KMIP provider (PyKMIP)', () => {
  let server: PykmipServer | undefined;
  let t: TestKeyward;
  let owner: KmipClient;

  before(async () => {
    server = await pykmipForSuite('KMIP provider tests');
    if (!server) return;
    t = await startKeyward({ config: { keys: { providers: { kmip: kmipProvider(server, server.dir) } } } });
    owner = new KmipClient({ host: '127.0.0.1', port: server.port, ...server.credentials('client') });
  });
  after(async () => {
    owner?.close();
    await t?.close();
    await server?.dispose();
  });
  const skip = (c: { skip(m: string): void }) => {
    if (!server) c.skip('pykmip-server not installed');
    return !server;
  };
  const ref = (r: Res, v = 1) => r.body.versions.find((x: { version: number }) => x.version === v).provider_reference as { uid: string; public_uid?: string };
  const audited = (code: string) => t.auditLines.map((l) => JSON.parse(l)).filter((e) => e.error_code === code);

  test('RSA and AES keys are created inside the server, active and sensitive; metadata names the objects', async (c) => {
    if (skip(c)) return;
    const rsa = await t.post('/v1/keys', { key_id: 'rsa', key_type: 'RSA-2048', provider: 'kmip' });
    assert.equal(rsa.status, 201, JSON.stringify(rsa.body));
    assert.equal(rsa.body.provider, 'kmip');
    const { uid, public_uid } = ref(rsa);
    const priv = await owner.getAttributes(uid);
    assert.deepEqual([priv.objectType, priv.state, priv.algorithm, priv.length, priv.sensitive], ['private-key', 'active', 'RSA', 2048, true]);
    assert.match(priv.names[0]!, /^kw:rsa:v1:[0-9a-f]{8}$/);
    assert.deepEqual(createPublicKey(rsa.body.public_key).export({ type: 'spki', format: 'der' }), (await owner.getPublicKey(public_uid!)).export({ type: 'spki', format: 'der' }));
    const aes = await t.post('/v1/keys', { key_id: 'aes', key_type: 'AES-256-GCM', provider: 'kmip' });
    const a = await owner.getAttributes(ref(aes).uid);
    assert.deepEqual([a.objectType, a.state, a.algorithm, a.length, a.sensitive], ['symmetric-key', 'active', 'AES', 256, true]);
    assert.deepEqual((await t.get('/v1/keys?provider=kmip')).body.keys.map((k: { key_id: string }) => k.key_id), ['aes', 'rsa']);
  });

  test('RSA PKCS#1 v1.5 over messages (the server hashes them) and RS256 JWTs', async (c) => {
    if (skip(c)) return;
    const key = createPublicKey((await t.get('/v1/keys/rsa/public-key')).body.public_key);
    const msg = Buffer.from('signed by the KMIP server');
    for (const [hash, name] of [['sha256', 'SHA-256'], ['sha384', 'SHA-384'], ['sha512', 'SHA-512']] as const) {
      const s = await t.post('/v1/keys/rsa/sign', { message: b64(msg), hash_algorithm: name });
      assert.equal(s.status, 200, JSON.stringify(s.body));
      assert.ok(nodeVerify(hash, msg, key, Buffer.from(s.body.signature, 'base64')));
      assert.equal((await t.post('/v1/keys/rsa/verify', { message: b64(msg), hash_algorithm: name, signature: s.body.signature })).body.valid, true);
    }
    const jwt = await t.post('/v1/keys/rsa/jwt', { payload: { sub: 'kmip' } });
    assert.equal(jwt.body.alg, 'RS256');
    const { payload } = await jwtVerify(jwt.body.jwt, createLocalJWKSet((await t.get('/v1/keys/rsa/jwks')).body), { algorithms: ['RS256'] });
    assert.equal(payload.sub, 'kmip');
  });

  test('what the KMIP provider cannot do is refused with key.provider_unsupported', async (c) => {
    if (skip(c)) return;
    for (const key_type of ['EC-P256', 'EC-P384', 'Ed25519', 'HMAC-SHA256']) {
      const r = await t.post('/v1/keys', { key_id: 'nope', key_type, provider: 'kmip' });
      assertProblem(r, 422, 'key.provider_unsupported');
      assert.equal(r.body.provider, 'kmip');
    }
    const digest = (await import('node:crypto')).createHash('sha256').update('m').digest();
    assertProblem(await t.post('/v1/keys/rsa/sign', { digest: b64(digest), hash_algorithm: 'SHA-256' }), 422, 'key.provider_unsupported');
    assertProblem(await t.post('/v1/keys/rsa/sign', { message: b64('m'), rsa_padding: 'pss' }), 422, 'key.provider_unsupported');
    assertProblem(await t.post('/v1/keys/rsa/jwt', { payload: { sub: 'x' }, rsa_padding: 'pss' }), 422, 'key.provider_unsupported');
    // SPIRL signs digests: a KMIP key cannot serve it.
    await t.post('/v1/keys', { key_id: 'spirl-kmip', key_type: 'RSA-2048', provider: 'kmip', labels: { 'keyward.dev/source': 'spirl' } });
    assertProblem(await t.post('/spirl/keys/spirl-kmip/sign', { digest: b64(digest), hash_algorithm: 'SHA-256' }), 422, 'key.provider_unsupported');
    assert.ok(audited('key.provider_unsupported').length >= 7);
  });

  test('AES-256-GCM inside the server: associated data, data keys, rotation keeps old ciphertexts readable', async (c) => {
    if (skip(c)) return;
    const aad = b64('tenant=a');
    const enc = await t.post('/v1/keys/aes/encrypt', { plaintext: b64('kmip secret'), associated_data: aad });
    assert.equal(enc.status, 200, JSON.stringify(enc.body));
    assert.equal(Buffer.from((await t.post('/v1/keys/aes/decrypt', { ciphertext: enc.body.ciphertext, associated_data: aad })).body.plaintext, 'base64').toString(), 'kmip secret');
    assertProblem(await t.post('/v1/keys/aes/decrypt', { ciphertext: enc.body.ciphertext, associated_data: b64('tenant=b') }), 400, 'crypto.decrypt_failed');
    const dk = await t.post('/v1/keys/aes/datakey', { bytes: 16 });
    assert.equal((await t.post('/v1/keys/aes/decrypt', { ciphertext: dk.body.ciphertext })).body.plaintext, dk.body.plaintext);
    const rotated = await t.post('/v1/keys/aes/rotate');
    assert.notEqual(ref(rotated, 2).uid, ref(rotated, 1).uid);
    assert.equal((await t.post('/v1/keys/aes/encrypt', { plaintext: b64('v2') })).body.key_version, 2);
    assert.equal((await t.post('/v1/keys/aes/decrypt', { ciphertext: enc.body.ciphertext, associated_data: aad })).body.key_version, 1);
  });

  test('destroy revokes and destroys every object in the server', async (c) => {
    if (skip(c)) return;
    const k = await t.post('/v1/keys', { key_id: 'gone', key_type: 'RSA-2048', provider: 'kmip' });
    const { uid, public_uid } = ref(k);
    assert.equal((await t.post('/v1/keys/gone/destroy')).body.state, 'destroyed');
    for (const id of [uid, public_uid!]) await assert.rejects(owner.getAttributes(id), KmipItemNotFoundError);
    assertProblem(await t.post('/v1/keys/gone/sign', { message: b64('x') }), 410, 'key.destroyed');
  });

  test('hold your own key: a KMIP key the owner created is used by reference; revoked, it is refused (key.external_revoked)', async (c) => {
    if (skip(c)) return;
    const uid = await owner.create({ name: 'customer/aes' });
    await owner.activate(uid);
    const imported = await t.post('/v1/keys/import', { key_id: 'byok', key_type: 'AES-256-GCM', provider: 'kmip', external_id: uid });
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    assert.equal(imported.body.origin, 'external');
    const enc = await t.post('/v1/keys/byok/encrypt', { plaintext: b64('held by the customer') });
    assert.equal(enc.status, 200);
    // Its owner's key pair, named by both identifiers.
    const pair = await owner.createKeyPair({ length: 2048, name: 'customer/rsa' });
    await owner.activate(pair.privateKeyId);
    await owner.activate(pair.publicKeyId);
    assertProblem(await t.post('/v1/keys/import', { key_id: 'byo-rsa', key_type: 'RSA-2048', provider: 'kmip', external_id: pair.privateKeyId }), 400, 'key.external_invalid');
    const rsa = await t.post('/v1/keys/import', { key_id: 'byo-rsa', key_type: 'RSA-2048', provider: 'kmip', external_id: pair.privateKeyId, external_public_id: pair.publicKeyId });
    assert.equal(rsa.status, 201, JSON.stringify(rsa.body));
    const s = await t.post('/v1/keys/byo-rsa/sign', { message: b64('m') });
    assert.ok(nodeVerify('sha256', Buffer.from('m'), createPublicKey(rsa.body.public_key), Buffer.from(s.body.signature, 'base64')));
    // Pre-active, unknown or the wrong kind: refused at import.
    const pre = await owner.create({ name: 'customer/pre' });
    assertProblem(await t.post('/v1/keys/import', { key_id: 'pre', key_type: 'AES-256-GCM', provider: 'kmip', external_id: pre }), 400, 'key.external_invalid');
    assertProblem(await t.post('/v1/keys/import', { key_id: 'unknown', key_type: 'AES-256-GCM', provider: 'kmip', external_id: '99999' }), 400, 'key.external_invalid');
    assertProblem(await t.post('/v1/keys/import', { key_id: 'mixed', key_type: 'AES-256-GCM', provider: 'kmip', external_id: uid, key_material: b64(Buffer.alloc(32)) }), 400, 'key.import_invalid');
    // The owner revokes: refused at once, audited.
    await owner.revoke(uid, 'key-compromise');
    const refused = await t.post('/v1/keys/byok/decrypt', { ciphertext: enc.body.ciphertext });
    assertProblem(refused, 403, 'key.external_revoked');
    assertProblem(await t.post('/v1/keys/byok/encrypt', { plaintext: b64('x') }), 403, 'key.external_revoked');
    assert.ok(audited('key.external_revoked').some((e) => e.resource.id === 'byok'));
    // Forgetting the reference leaves the owner's objects where they are.
    assert.equal((await t.post('/v1/keys/byo-rsa/destroy')).body.state, 'destroyed');
    assert.equal((await owner.getAttributes(pair.privateKeyId)).state, 'active');
  });

  test('the server goes away: 503 hsm.unavailable, status says so; back: served again without a restart', async (c) => {
    if (skip(c)) return;
    await server!.stop();
    try {
      const r = await t.post('/v1/keys/rsa/sign', { message: b64('x') });
      assertProblem(r, 503, 'hsm.unavailable');
      assert.equal(r.body.provider, 'kmip');
      assertProblem(await t.post('/v1/keys', { key_id: 'while-down', key_type: 'AES-256-GCM', provider: 'kmip' }), 503, 'hsm.unavailable');
      const s = await t.get('/v1/sys/status');
      assert.equal(s.body.providers.health.kmip.ok, false);
      assert.equal((await t.post('/v1/keys/rsa/destroy')).status, 503);
      assert.equal((await t.get('/v1/keys/rsa')).body.state, 'enabled');
    } finally {
      await server!.start();
    }
    let r: Res | undefined;
    for (let i = 0; i < 30; i++) {
      r = await t.post('/v1/keys/rsa/sign', { message: b64('back') });
      if (r.status === 200) break;
      await sleep(200);
    }
    assert.equal(r?.status, 200, JSON.stringify(r?.body));
    assert.equal((await t.get('/v1/sys/status')).body.providers.health.kmip.ok, true);
  });
});
