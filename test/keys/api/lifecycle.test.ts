import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../../support/clock.ts';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { assertProblem } from '../../support/http.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('key lifecycle over /v1', () => {
  let t: TestKeyward;
  const clock = new ManualClock(Date.now());
  before(async () => {
    t = await startKeyward({ clock, config: { keys: { release_grace_period: '1h', cache_ttl: '0s' } } });
  });
  after(() => t.close());


  test('create every key type; asymmetric keys expose a SPKI PEM and a sha256 fingerprint of it', async () => {
    for (const key_type of ['EC-P256', 'EC-P384', 'EC-P521', 'Ed25519', 'RSA-2048', 'AES-256-GCM', 'HMAC-SHA256']) {
      const r = await t.post('/v1/keys', { key_id: `t-${key_type.toLowerCase()}`, key_type, labels: { team: 'core' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.key_type, key_type);
      assert.equal(r.body.state, 'enabled');
      assert.equal(r.body.current_version, 1);
      assert.match(r.body.fingerprint, /^sha256:[0-9a-f]{64}$/);
      if (key_type.startsWith('EC') || key_type.startsWith('RSA') || key_type === 'Ed25519') {
        const der = createPublicKey(r.body.public_key).export({ type: 'spki', format: 'der' });
        const { createHash } = await import('node:crypto');
        assert.equal(r.body.fingerprint, 'sha256:' + createHash('sha256').update(der).digest('hex'));
      } else {
        assert.equal(r.body.public_key, null);
      }
    }
  });

  test('a generated id when none is given', async () => {
    const r = await t.post('/v1/keys', { key_type: 'EC-P256' });
    assert.equal(r.status, 201);
    assert.match(r.body.key_id, /^key-[0-9a-f-]{36}$/);
  });

  test('an existing id is 409 key.exists; overwrite replaces it', async () => {
    const first = await t.post('/v1/keys', { key_id: 'dup', key_type: 'EC-P256' });
    assertProblem(await t.post('/v1/keys', { key_id: 'dup', key_type: 'EC-P256' }), 409, 'key.exists');
    const replaced = await t.post('/v1/keys', { key_id: 'dup', key_type: 'Ed25519', overwrite: true });
    assert.equal(replaced.status, 201);
    assert.equal(replaced.body.key_type, 'Ed25519');
    assert.notEqual(replaced.body.fingerprint, first.body.fingerprint);
  });

  test('import PKCS#8 PEM and JWK private keys (BYOK)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const r = await t.post('/v1/keys/import', { key_id: 'byok-pem', key_type: 'EC-P256', private_key_pem: pem });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.origin, 'imported');
    assert.equal(createPublicKey(r.body.public_key).export({ format: 'jwk' }).x, publicKey.export({ format: 'jwk' }).x);
    const sig = await t.post('/v1/keys/byok-pem/sign', { message: b64('imported') });
    assert.ok(nodeVerify('sha256', Buffer.from('imported'), publicKey, Buffer.from(sig.body.signature, 'base64')));

    const ed = generateKeyPairSync('ed25519');
    const jwk = ed.privateKey.export({ format: 'jwk' });
    const r2 = await t.post('/v1/keys/import', { key_id: 'byok-jwk', key_type: 'Ed25519', jwk });
    assert.equal(r2.status, 201, JSON.stringify(r2.body));
    assertProblem(await t.post('/v1/keys/import', { key_id: 'byok-bad', key_type: 'RSA-2048', private_key_pem: pem }), 400, 'key.import_type_mismatch');
    assertProblem(await t.post('/v1/keys/import', { key_id: 'byok-junk', key_type: 'EC-P256', private_key_pem: 'not a key' }), 400, 'key.import_invalid');
    assertProblem(await t.get('/v1/keys/byok-bad'), 404, 'key.not_found');
    // A JWK whose public part belongs to another key, or that says it is for something else, is refused.
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    assertProblem(await t.post('/v1/keys/import', { key_id: 'byok-mixed', key_type: 'Ed25519', jwk: { ...jwk, x: other.x } }), 400, 'key.import_invalid');
    const ecJwk = privateKey.export({ format: 'jwk' });
    assertProblem(await t.post('/v1/keys/import', { key_id: 'byok-alg', key_type: 'EC-P256', jwk: { ...ecJwk, alg: 'ES384' } }), 400, 'key.import_type_mismatch');
    assertProblem(await t.post('/v1/keys/import', { key_id: 'byok-use', key_type: 'EC-P256', jwk: { ...ecJwk, use: 'enc' } }), 400, 'key.import_type_mismatch');
    assert.equal((await t.post('/v1/keys/import', { key_id: 'byok-alg-ok', key_type: 'EC-P256', jwk: { ...ecJwk, alg: 'ES256', use: 'sig' } })).status, 201);
  });

  test('list pages with a cursor and filters by state and label', async () => {
    for (let i = 0; i < 5; i++) await t.post('/v1/keys', { key_id: `page-${i}`, key_type: 'HMAC-SHA256', labels: { batch: 'paging', n: String(i) } });
    await t.post('/v1/keys/page-3/disable');
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r = await t.get(`/v1/keys?limit=2&label=batch=paging${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(r.status, 200);
      assert.ok(r.body.keys.length <= 2);
      seen.push(...r.body.keys.map((k: { key_id: string }) => k.key_id));
      cursor = r.body.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, ['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
    const disabled = await t.get('/v1/keys?state=disabled&label=batch=paging');
    assert.deepEqual(disabled.body.keys.map((k: { key_id: string }) => k.key_id), ['page-3']);
    assertProblem(await t.get('/v1/keys?limit=0'), 400, 'request.invalid_limit');
    for (const bad of ['garbage!', 'Zm9v=', '..', 'cGFnZS0x====']) assertProblem(await t.get(`/v1/keys?cursor=${encodeURIComponent(bad)}`), 400, 'request.invalid_cursor');
  });

  test('rotate: signing uses the newest version; verify accepts every version not destroyed', async () => {
    await t.post('/v1/keys', { key_id: 'rot', key_type: 'EC-P256' });
    const v1sig = await t.post('/v1/keys/rot/sign', { message: b64('m') });
    assert.equal(v1sig.body.key_version, 1);
    const rotated = await t.post('/v1/keys/rot/rotate');
    assert.equal(rotated.status, 200);
    assert.equal(rotated.body.current_version, 2);
    assert.equal(rotated.body.versions.length, 2);
    const v2sig = await t.post('/v1/keys/rot/sign', { message: b64('m') });
    assert.equal(v2sig.body.key_version, 2);
    assert.notEqual(v2sig.body.key_fingerprint, v1sig.body.key_fingerprint);
    const ok1 = await t.post('/v1/keys/rot/verify', { message: b64('m'), signature: v1sig.body.signature });
    assert.deepEqual([ok1.body.valid, ok1.body.key_version], [true, 1]);
    const bad = await t.post('/v1/keys/rot/verify', { message: b64('other'), signature: v1sig.body.signature });
    assert.equal(bad.body.valid, false);
    const pk1 = await t.get('/v1/keys/rot/public-key?version=1');
    assert.equal(pk1.body.version, 1);
    assert.equal(pk1.body.jwk.kid, `${v1sig.body.key_fingerprint}:v1`);
    assertProblem(await t.get('/v1/keys/rot/public-key?version=9'), 404, 'key.version_not_found');
  });

  test('concurrent rotations never lose a version, and each one lands (retried on a concurrent change)', async () => {
    await t.post('/v1/keys', { key_id: 'race', key_type: 'HMAC-SHA256' });
    const results = await Promise.all([
      ...Array.from({ length: 20 }, () => t.post('/v1/keys/race/rotate')),
      t.post('/v1/keys/race/disable'),
    ]);
    for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
    const k = await t.get('/v1/keys/race');
    assert.equal(k.body.state, 'disabled');
    assert.equal(k.body.current_version, 21);
    assert.deepEqual(k.body.versions.map((v: { version: number }) => v.version), Array.from({ length: 21 }, (_, i) => i + 1));
    const fps = new Set(k.body.versions.map((v: { fingerprint: string }) => v.fingerprint));
    assert.equal(fps.size, 21, 'every version has its own material');
  });

  test('disable blocks signing and encryption but not verification or decryption; enable restores', async () => {
    await t.post('/v1/keys', { key_id: 'dis', key_type: 'AES-256-GCM' });
    const ct = await t.post('/v1/keys/dis/encrypt', { plaintext: b64('secret') });
    await t.post('/v1/keys/dis/disable');
    assertProblem(await t.post('/v1/keys/dis/encrypt', { plaintext: b64('x') }), 409, 'key.disabled');
    const pt = await t.post('/v1/keys/dis/decrypt', { ciphertext: ct.body.ciphertext });
    assert.equal(Buffer.from(pt.body.plaintext, 'base64').toString(), 'secret');
    assertProblem(await t.post('/v1/keys/dis/disable'), 409, 'key.invalid_state_transition');
    await t.post('/v1/keys/dis/enable');
    assert.equal((await t.post('/v1/keys/dis/encrypt', { plaintext: b64('x') })).status, 200);
  });

  test('release: no new signatures, verify still works, destroyed after the grace period; cancel within it', async () => {
    await t.post('/v1/keys', { key_id: 'rel', key_type: 'EC-P256' });
    const sig = await t.post('/v1/keys/rel/sign', { message: b64('m') });
    const released = await t.post('/v1/keys/rel/release');
    assert.equal(released.body.state, 'released');
    assert.equal(new Date(released.body.destroy_at).getTime(), clock.now().getTime() + 3600_000);
    assertProblem(await t.post('/v1/keys/rel/sign', { message: b64('m') }), 409, 'key.released');
    assert.equal((await t.post('/v1/keys/rel/verify', { message: b64('m'), signature: sig.body.signature })).body.valid, true);

    await t.post('/v1/keys', { key_id: 'rel2', key_type: 'EC-P256' });
    await t.post('/v1/keys/rel2/release');
    const cancelled = await t.post('/v1/keys/rel2/cancel-release');
    assert.equal(cancelled.body.state, 'enabled');
    assert.equal(cancelled.body.destroy_at, null);
    // A disabled key is not released: cancelling would re-enable a key an operator switched off.
    await t.post('/v1/keys', { key_id: 'rel3', key_type: 'EC-P256' });
    await t.post('/v1/keys/rel3/disable');
    assertProblem(await t.post('/v1/keys/rel3/release'), 409, 'key.invalid_state_transition');
    assert.equal((await t.get('/v1/keys/rel3')).body.state, 'disabled');

    clock.advance(3600_000 + 1);
    const swept = await t.kw.keys.sweepReleased({ principal: null, requestId: 'sweep-test' });
    assert.deepEqual(swept, ['rel']);
    const gone = await t.get('/v1/keys/rel');
    assert.equal(gone.body.state, 'destroyed');
    assertProblem(await t.post('/v1/keys/rel/verify', { message: b64('m'), signature: sig.body.signature }), 410, 'key.destroyed');
    assert.equal((await t.get('/v1/keys/rel2')).body.state, 'enabled');
  });

  test('destroy wipes material: every operation is 410 key.destroyed, metadata stays', async () => {
    await t.post('/v1/keys', { key_id: 'doomed', key_type: 'Ed25519' });
    const d = await t.post('/v1/keys/doomed/destroy');
    assert.equal(d.body.state, 'destroyed');
    assert.equal(d.body.public_key, null);
    assertProblem(await t.post('/v1/keys/doomed/sign', { message: b64('m') }), 410, 'key.destroyed');
    assertProblem(await t.post('/v1/keys/doomed/destroy'), 410, 'key.destroyed');
    assertProblem(await t.post('/v1/keys/doomed/rotate'), 410, 'key.destroyed');
    const [v] = await t.kw.store.keys.versions('doomed');
    assert.equal(v!.sealedMaterial, null);
  });

  test('a refused transition says which states the operation needs, not a state the key already has', async () => {
    await t.post('/v1/keys', { key_id: 'not-released', key_type: 'EC-P256' });
    const r = await t.post('/v1/keys/not-released/cancel-release');
    assertProblem(r, 409, 'key.invalid_state_transition');
    assert.equal(r.body.detail, 'key not-released is enabled; cancel_release needs a key that is released');
    await t.post('/v1/keys/not-released/disable');
    assert.equal((await t.post('/v1/keys/not-released/release')).body.detail, 'key not-released is disabled; release needs a key that is enabled or released');
  });
});
