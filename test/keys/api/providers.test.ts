// Providers on an instance that runs none but software: a key names its provider in its metadata, a request for an
// HSM provider that is not configured is a clear 400, and HYOK requests are checked before any HSM is asked.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertProblem } from '../../support/http.ts';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';

describe('providers without an HSM', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward();
  });
  after(() => t.close());

  test('keys are software keys by default and say so; list filters by provider', async () => {
    const r = await t.post('/v1/keys', { key_id: 'k', key_type: 'EC-P256' });
    assert.equal(r.body.provider, 'software');
    assert.equal(r.body.versions[0].provider_reference, undefined);
    assert.deepEqual((await t.get('/v1/keys?provider=software')).body.keys.map((k: { key_id: string }) => k.key_id), ['k']);
    assert.deepEqual((await t.get('/v1/keys?provider=pkcs11')).body.keys, []);
    assertProblem(await t.get('/v1/keys?provider=tpm'), 400, 'request.invalid');
  });

  test('an HSM provider that is not configured is refused, at create and at import, and audited', async () => {
    const r = await t.post('/v1/keys', { key_id: 'h', key_type: 'EC-P256', provider: 'pkcs11' });
    assertProblem(r, 400, 'key.provider_not_configured');
    assert.equal(r.body.provider, 'pkcs11');
    assertProblem(await t.post('/v1/keys/import', { key_id: 'x', key_type: 'AES-256-GCM', provider: 'kmip', external_id: '1' }), 400, 'key.provider_not_configured');
    assertProblem(await t.get('/v1/keys/h'), 404, 'key.not_found');
    const events = t.auditLines.map((l) => JSON.parse(l)).filter((e) => e.error_code === 'key.provider_not_configured');
    assert.equal(events.length, 2);
  });

  test('HYOK requests: an external key names its HSM provider and comes without key material', async () => {
    assertProblem(await t.post('/v1/keys/import', { key_id: 'x', key_type: 'AES-256-GCM', external_id: '1' }), 400, 'key.import_invalid');
    assertProblem(await t.post('/v1/keys/import', { key_id: 'x', key_type: 'AES-256-GCM', provider: 'software', external_id: '1' }), 400, 'key.import_invalid');
    assertProblem(await t.post('/v1/keys/import', { key_id: 'x', key_type: 'AES-256-GCM', provider: 'kmip', external_id: '1', key_material: Buffer.alloc(32).toString('base64') }), 400, 'key.import_invalid');
    assertProblem(await t.post('/v1/keys/import', { key_id: 'x', key_type: 'RSA-2048', provider: 'kmip', external_public_id: '2' }), 400, 'key.import_invalid');
  });

  test('sys/status lists the providers and their health', async () => {
    const s = await t.get('/v1/sys/status');
    assert.deepEqual(s.body.providers, { default: 'software', configured: ['software'], health: { software: { ok: true, detail: { sealed: false } } } });
    assert.deepEqual([s.body.seal_type, s.body.configured_seal_type], ['shamir', 'shamir']);
  });
});
