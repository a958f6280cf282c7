// The audit trail wired into the app: an operation whose event cannot be recorded fails with 503
// audit.unavailable and has no effect (here the only durable sink, NATS, is unreachable).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { assertProblem, req } from '../support/http.ts';

describe('audit fail-closed in the app', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward({ config: { audit: { sinks: [{ type: 'nats', url: 'nats://127.0.0.1:9', ack_timeout_ms: 300 }] } } });
  });
  after(() => t?.close());

  test('no key is created, no signature is returned, nothing is left behind, readiness drops', async () => {
    const created = await t.post('/v1/keys', { key_id: 'k1', key_type: 'EC-P256' });
    assertProblem(created, 503, 'audit.unavailable');
    assert.equal(await t.kw.store.keys.get('k1'), undefined, 'the key was rolled back');
    // A key that exists (written behind the trail's back) still cannot be used to sign.
    await t.kw.store.keys.create(
      { id: 'k2', type: 'HMAC-SHA256', labels: {}, description: null, origin: 'generated', createdAt: new Date() },
      { publicKeySpki: null, fingerprint: 'sha256:' + '0'.repeat(64), sealedMaterial: t.kw.seal.wrap('keyward:key:k2:v1', Buffer.alloc(32, 1)), createdAt: new Date() },
      { overwrite: false },
    );
    const mac = await t.post('/v1/keys/k2/mac', { message: 'aGk=' });
    assertProblem(mac, 503, 'audit.unavailable');
    assert.equal(mac.body.mac, undefined);
    const ready = await req(t.kw.app, { method: 'GET', url: '/readyz' });
    assertProblem(ready, 503, 'system.not_ready');
    assert.equal(ready.body.checks.audit, false);
  });
});
