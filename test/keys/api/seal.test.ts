import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { assertProblem, req } from '../../support/http.ts';

describe('seal over /v1/sys', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward({ unseal: false });
  });
  after(() => t.close());
  const status = async () => (await t.get('/v1/sys/status')).body;

  test('before init: uninitialised, every key operation is 503 system.sealed, not ready', async () => {
    const { providers, ...seal } = await status();
    assert.deepEqual(seal, { state: 'UNINITIALIZED', initialized: false, sealed: true, progress: 0, threshold: null, total: null, ready: false, seal_type: 'shamir', configured_seal_type: 'shamir' });
    assert.deepEqual(providers, { default: 'software', configured: ['software'], health: { software: { ok: true, detail: { sealed: true } } } });
    assertProblem(await t.post('/v1/keys', { key_id: 'k', key_type: 'EC-P256' }), 503, 'system.sealed');
    const ready = await req(t.kw.app, { method: 'GET', url: '/readyz' });
    assertProblem(ready, 503, 'system.not_ready');
    assert.equal(ready.body.checks.unsealed, false);
  });

  let shares: string[] = [];
  test('init returns the shares once; a second init is 409', async () => {
    assertProblem(await t.post('/v1/sys/init', { shares: 3, threshold: 5 }), 400, 'seal.invalid_parameters');
    const r = await t.post('/v1/sys/init', { shares: 5, threshold: 3 });
    assert.equal(r.status, 201);
    shares = r.body.shares;
    assert.equal(shares.length, 5);
    assert.equal(new Set(shares).size, 5);
    assertProblem(await t.post('/v1/sys/init', { shares: 5, threshold: 3 }), 409, 'seal.already_initialized');
    assert.equal((await status()).state, 'SEALED');
  });

  test('a request with several shares, one of them bad or repeated, is refused whole: no progress spent', async () => {
    assertProblem(await t.post('/v1/sys/unseal', { shares: [shares[1], shares[1]] }), 400, 'seal.share_duplicate');
    assertProblem(await t.post('/v1/sys/unseal', { shares: [shares[1], 'not-base64!!'] }), 400, 'seal.share_malformed');
    assertProblem(await t.post('/v1/sys/unseal', { shares: [shares[1], Buffer.alloc(33, 7).toString('base64')] }), 400, 'seal.share_invalid');
    assert.equal((await status()).progress, 0);
  });

  test('wrong, duplicate and malformed shares are refused without spending progress', async () => {
    assert.equal((await t.post('/v1/sys/unseal', { share: shares[0] })).body.progress, 1);
    assertProblem(await t.post('/v1/sys/unseal', { share: shares[0] }), 400, 'seal.share_duplicate');
    assertProblem(await t.post('/v1/sys/unseal', { share: 'not-base64!!' }), 400, 'seal.share_malformed');
    assertProblem(await t.post('/v1/sys/unseal', { share: Buffer.alloc(33, 7).toString('base64') }), 400, 'seal.share_invalid');
    assertProblem(await t.post('/v1/sys/unseal', { share: 12 }), 400, 'seal.share_malformed');
    assert.equal((await status()).progress, 1);
    // No body is no share (Shamir): the progress so far, not request.empty_body.
    const none = await t.post('/v1/sys/unseal');
    assert.deepEqual([none.status, none.body.progress, none.body.sealed], [200, 1, true]);
    // TKeeper-style body works too.
    const r = await t.post('/v1/sys/unseal', { payload64: shares[3] });
    assert.equal(r.body.progress, 2);
    const done = await t.post('/v1/sys/unseal', { share: shares[4] });
    assert.deepEqual([done.body.sealed, done.body.state], [false, 'UNSEALED']);
    assert.equal((await req(t.kw.app, { method: 'GET', url: '/readyz' })).status, 200);
  });

  test('seal drops material: key operations 503 until unsealed again; keys survive', async () => {
    assert.equal((await t.post('/v1/keys', { key_id: 'k1', key_type: 'EC-P256' })).status, 201);
    const sig1 = await t.post('/v1/keys/k1/sign', { message: 'aGk=' });
    assert.equal(sig1.status, 200);
    assert.equal((await t.post('/v1/sys/seal')).body.sealed, true);
    assertProblem(await t.post('/v1/keys/k1/sign', { message: 'aGk=' }), 503, 'system.sealed');
    // Reads too: sealed means no key service at all.
    for (const url of ['/v1/keys', '/v1/keys/k1', '/v1/keys/k1/public-key', '/v1/keys/k1/jwks', '/spirl/keys']) assertProblem(await t.get(url), 503, 'system.sealed');
    assertProblem(await t.post('/v1/keys/k1/verify', { message: 'aGk=', signature: sig1.body.signature }), 503, 'system.sealed');
    const m = await req(t.kw.app, { method: 'GET', url: '/metrics' });
    assert.match(m.body, /^keyward_sealed 1$/m);
    await t.post('/v1/sys/unseal', { shares: [shares[1], shares[2], shares[0]] });
    const sig2 = await t.post('/v1/keys/k1/sign', { message: 'aGk=' });
    assert.equal(sig2.status, 200);
    assert.equal(sig2.body.key_fingerprint, sig1.body.key_fingerprint);
  });

  test('no response, log line or audit event carries a share', async () => {
    const everything = [...t.logs, ...t.auditLines].join('\n');
    for (const s of shares) assert.ok(!everything.includes(s), 'a share leaked');
    assert.ok(t.auditLines.some((l) => l.includes('"system.unseal"')), 'unseal progress is audited');
  });
});
