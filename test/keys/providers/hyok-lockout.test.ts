// Hold your own key, under load: the key's owner revokes, deletes or replaces it while requests keep coming, and
// the test measures how long Keyward keeps using it. The bound is keys.cache_ttl plus the one request in flight:
// every request that starts later than that after the owner acted is refused (key.external_revoked), and each
// refusal is audited. Real PyKMIP and SoftHSM2, both private to this test.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KmipClient } from '../../../src/keys/providers/kmip/client.ts';
import { Pkcs11Token } from '../../../src/keys/providers/pkcs11/token.ts';
import type { Res } from '../../support/http.ts';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { kmipProvider, pkcs11Provider } from '../../support/providers.ts';
import { type PykmipServer, pykmipForSuite } from '../../support/pykmip.ts';
import { type SoftHsm, softHsm } from '../../support/softhsm.ts';

const TTL_MS = 2000;
const WORKERS = 6;
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

interface Sample {
  start: number;
  end: number;
  status: number;
  code: string | undefined;
}

/** Keeps `workers` requests in flight until stopped; each one recorded with its start and end. */
function load(send: () => Promise<{ status: number; body: { code?: string } }>, workers: number) {
  const samples: Sample[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const start = performance.now();
      const r = await send();
      samples.push({ start, end: performance.now(), status: r.status, code: r.body?.code });
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

/**
 * The lockout after the owner acted at `actedAt`: how much later the last successful request started. Every request
 * that started after actedAt + lockout was refused.
 */
function lockout(samples: Sample[], actedAt: number) {
  const ok = samples.filter((s) => s.status === 200);
  const lastOk = Math.max(actedAt, ...ok.map((s) => s.start));
  const after = samples.filter((s) => s.start > lastOk);
  const longest = Math.max(...samples.map((s) => s.end - s.start));
  return { lockoutMs: lastOk - actedAt, refusedAfter: after, longestRequestMs: longest, successes: ok.length };
}

describe('HYOK lockout under load', () => {
  let kmip: PykmipServer | undefined;
  let hsm: SoftHsm | undefined;
  let t: TestKeyward;
  let kmipOwner: KmipClient;
  let pkcs11Owner: Pkcs11Token;

  before(async (ctx) => {
    hsm = await softHsm(ctx, 'HYOK lockout tests');
    kmip = await pykmipForSuite('HYOK lockout tests');
    if (!hsm || !kmip) return;
    const tok = await hsm.initToken('customer-token');
    const p11 = pkcs11Provider(hsm, tok);
    t = await startKeyward({
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
   * Load, the owner's act, more load. With `quietAct` the load pauses while the owner acts, so no request meets the
   * key half-changed (a replacement is a delete and a create): what follows is served on Keyward's last check alone.
   */
  async function measure(keyId: string, send: () => Promise<Res>, act: () => Promise<void>, what: string, quietAct = false) {
    let running = load(send, WORKERS);
    const samples: Sample[] = running.samples;
    await sleep(800);
    if (quietAct) await running.stop();
    await act();
    const actedAt = performance.now();
    if (quietAct) running = load(send, WORKERS);
    await sleep(TTL_MS + 1500);
    await running.stop();
    if (quietAct) samples.push(...running.samples);
    const m = lockout(samples, actedAt);
    console.log(`HYOK ${what}: lockout ${m.lockoutMs.toFixed(0)} ms after the owner acted (bound: cache_ttl ${TTL_MS} ms + one request, longest ${m.longestRequestMs.toFixed(0)} ms); ${m.successes} requests served before, ${m.refusedAfter.length} refused after`);
    assert.ok(m.successes > 0, 'the key was in use before');
    assert.ok(m.refusedAfter.length > WORKERS, 'requests kept coming and were refused');
    for (const s of m.refusedAfter) assert.deepEqual([s.status, s.code], [403, 'key.external_revoked']);
    assert.ok(m.lockoutMs <= TTL_MS + m.longestRequestMs, `lockout ${m.lockoutMs} ms exceeds cache_ttl ${TTL_MS} ms + one request (${m.longestRequestMs} ms)`);
    // Every refusal is in the audit trail with its code.
    const refusals = samples.filter((s) => s.code === 'key.external_revoked').length;
    assert.equal(auditedRefusals(keyId).length, refusals);
    return m;
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
