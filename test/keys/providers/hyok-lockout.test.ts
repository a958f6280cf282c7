// Hold your own key, under load: the key's owner revokes, deletes or replaces it while requests keep coming. The
// bound is keys.cache_ttl plus the one request in flight: every request that starts once cache_ttl has passed on
// Keyward's clock (a manual one here, moved by the test) after the owner acted is refused (key.external_revoked),
// and each refusal is audited. Real PyKMIP and SoftHSM2, both private to this test.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KmipClient } from '../../../src/keys/providers/kmip/client.ts';
import { Pkcs11Token } from '../../../src/keys/providers/pkcs11/token.ts';
import type { Res } from '../../support/http.ts';
import { ManualClock } from '../../support/clock.ts';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { kmipProvider, pkcs11Provider } from '../../support/providers.ts';
import { type PykmipServer, pykmipForSuite } from '../../support/pykmip.ts';
import { type SoftHsm, softHsm } from '../../support/softhsm.ts';

const TTL_MS = 2000;
const WORKERS = 6;
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

interface Sample {
  /** The phase of the test when the request started (see measure). */
  phase: Phase;
  status: number;
  code: string | undefined;
}

/** Before the owner acts; after, with Keyward's clock standing; after it was moved past cache_ttl. */
type Phase = 'before' | 'acted' | 'expired';

/** Keeps `workers` requests in flight until stopped; each one recorded with the phase it started in. */
function load(send: () => Promise<{ status: number; body: { code?: string } }>, workers: number, phase: { now: Phase }) {
  const samples: Sample[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const started = phase.now;
      const r = await send();
      samples.push({ phase: started, status: r.status, code: r.body?.code });
    }
  });
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Waits (without a deadline of its own: the test's timeout is one) until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await sleep(20);
}

describe('HYOK lockout under load', () => {
  let kmip: PykmipServer | undefined;
  let hsm: SoftHsm | undefined;
  let t: TestKeyward;
  const clock = new ManualClock(Date.now());
  let kmipOwner: KmipClient;
  let pkcs11Owner: Pkcs11Token;

  before(async (ctx) => {
    hsm = await softHsm(ctx, 'HYOK lockout tests');
    kmip = await pykmipForSuite('HYOK lockout tests');
    if (!hsm || !kmip) return;
    const tok = await hsm.initToken('customer-token');
    const p11 = pkcs11Provider(hsm, tok);
    t = await startKeyward({
      clock,
      config: { keys: { cache_ttl: `${TTL_MS}ms`, providers: { pkcs11: p11.config, kmip: kmipProvider(kmip, kmip.dir) } } },
      env: { ...p11.env },
    });
    kmipOwner = new KmipClient({ host: '127.0.0.1', port: kmip.port, ...kmip.credentials('client') });
    pkcs11Owner = new Pkcs11Token({ modulePath: hsm.modulePath, tokenLabel: tok.label, pin: tok.pin });
  });
  after(async () => {
    kmipOwner?.close();
    await pkcs11Owner?.close();
    await t?.close();
    await kmip?.dispose();
    hsm?.cleanup();
  });
  const skip = (c: { skip(m: string): void }) => {
    if (!hsm || !kmip) c.skip('SoftHSM2 or pykmip-server not installed');
    return !hsm || !kmip;
  };
  const auditedRefusals = (keyId: string) => t.auditLines.map((l) => JSON.parse(l)).filter((e) => e.error_code === 'key.external_revoked' && e.resource?.id === keyId);

  /**
   * Load, the owner's act, more load. Keyward runs on a manual clock: after the owner acted it stands still, then
   * moves past cache_ttl, and from then on every request that starts is refused (one already in flight may still be
   * served: the bound is cache_ttl plus that request). No wall time is measured. With `quietAct` the load pauses
   * while the owner acts, so no request meets the key half-changed (a replacement is a delete and a create): what
   * follows is served on Keyward's last check alone.
   */
  async function measure(keyId: string, send: () => Promise<Res>, act: () => Promise<void>, what: string, quietAct = false) {
    const phase: { now: Phase } = { now: 'before' };
    let running = load(send, WORKERS, phase);
    const samples: Sample[] = running.samples;
    const count = (p: Phase) => samples.filter((s) => s.phase === p).length + (running.samples === samples ? 0 : running.samples.filter((s) => s.phase === p).length);
    await until(() => count('before') >= 4 * WORKERS);
    if (quietAct) await running.stop();
    await act();
    phase.now = 'acted';
    if (quietAct) running = load(send, WORKERS, phase);
    await until(() => count('acted') >= 4 * WORKERS);
    clock.advance(TTL_MS + 1);
    phase.now = 'expired';
    await until(() => count('expired') >= 4 * WORKERS);
    await running.stop();
    if (quietAct) samples.push(...running.samples);
    const served = (p: Phase) => samples.filter((s) => s.phase === p && s.status === 200).length;
    const expired = samples.filter((s) => s.phase === 'expired');
    console.log(`HYOK ${what}: ${served('before')} requests served before the owner acted, ${served('acted')} after it within cache_ttl, ${expired.length} started after cache_ttl`);
    assert.ok(served('before') > 0, 'the key was in use before');
    for (const s of expired) assert.deepEqual([s.status, s.code], [403, 'key.external_revoked']);
    // Every refusal is in the audit trail with its code.
    const refusals = samples.filter((s) => s.code === 'key.external_revoked').length;
    assert.equal(auditedRefusals(keyId).length, refusals);
  }

  test('KMIP: the owner revokes the key while it encrypts; refused within the TTL', async (c) => {
    if (skip(c)) return;
    const uid = await kmipOwner.create({ name: 'tenant/hyok' });
    await kmipOwner.activate(uid);
    assert.equal((await t.post('/v1/keys/import', { key_id: 'hyok-kmip', key_type: 'AES-256-GCM', provider: 'kmip', external_id: uid })).status, 201);
    await measure('hyok-kmip', () => t.post('/v1/keys/hyok-kmip/encrypt', { plaintext: b64(randomBytes(64)) }), () => kmipOwner.revoke(uid, 'key-compromise'), 'KMIP revoke');
  });

  test('PKCS#11: the owner deletes the object while it signs; refused within the TTL', async (c) => {
    if (skip(c)) return;
    const made = await pkcs11Owner.generate('EC-P256', { label: 'tenant-ec' });
    assert.equal((await t.post('/v1/keys/import', { key_id: 'hyok-p11', key_type: 'EC-P256', provider: 'pkcs11', external_id: 'tenant-ec' })).status, 201);
    await measure('hyok-p11', () => t.post('/v1/keys/hyok-p11/sign', { message: b64(randomBytes(32)) }), async () => void (await pkcs11Owner.destroy({ id: made.id })), 'PKCS#11 delete');
  });

  test('PKCS#11: the owner replaces the key under the same label and id, which the token would sign with; refused within the TTL', async (c) => {
    if (skip(c)) return;
    const made = await pkcs11Owner.generate('EC-P256', { label: 'tenant-swap' });
    assert.equal((await t.post('/v1/keys/import', { key_id: 'hyok-swap', key_type: 'EC-P256', provider: 'pkcs11', external_id: 'tenant-swap' })).status, 201);
    // The token signs with the new key without complaint: only Keyward's own check, trusted for cache_ttl, stops it.
    await measure('hyok-swap', () => t.post('/v1/keys/hyok-swap/sign', { message: b64(randomBytes(32)) }), async () => {
      await pkcs11Owner.destroy({ id: made.id });
      await pkcs11Owner.generate('EC-P256', { label: 'tenant-swap', id: made.id });
    }, 'PKCS#11 replace', true);
    const r = await t.post('/v1/keys/hyok-swap/sign', { message: b64('x') });
    assert.equal(r.body.reason, 'replaced');
  });
});
