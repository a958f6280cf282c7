// The key service on its own: no HTTP, no authentication, no authorization. A real SQLite store in memory, the real
// seal (initialised and unsealed with one share), a recorder that keeps the audit events, a clock the test moves.
import assert from 'node:assert/strict';
import { after, beforeEach, describe, test } from 'node:test';
import type { AuditEventInput, AuditRecorder } from '../../src/audit/types.ts';
import { auditUnavailable } from '../../src/audit/errors.ts';
import type { OperationContext } from '../../src/authn/context.ts';
import { KeyService, type KeyServiceConfig } from '../../src/keys/service.ts';
import { SealManager } from '../../src/keys/seal/seal-manager.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { ManualClock } from '../support/clock.ts';
import { problem } from '../support/problem.ts';

class MemoryRecorder implements AuditRecorder {
  events: AuditEventInput[] = [];
  /** When set, the trail refuses every event (fail closed). */
  down = false;
  async record(event: AuditEventInput): Promise<void> {
    if (this.down) throw auditUnavailable('the test took the trail down');
    this.events.push(event);
  }
  ready(): boolean {
    return !this.down;
  }
  async close(): Promise<void> {}
  /** Event types and outcomes (with the error code of a refusal) for one key, in order. */
  of(id: string): string[] {
    return this.events.filter((e) => e.resource?.id === id).map((e) => `${e.event_type} ${e.outcome}${e.error_code ? ` ${e.error_code}` : ''}`);
  }
}

const CONFIG: KeyServiceConfig = { releaseGraceMs: 60_000, cacheTtlMs: 0, allowOverwrite: true, maxPayloadBytes: 65_536 };
const ctx: OperationContext = {
  principal: { id: 'tester', type: 'service', authMethod: 'api_key', permissions: ['keyward.*'], attributes: {} },
  requestId: 'req-1',
};
const message = Buffer.from('hello');

describe('KeyService', () => {
  const stores: Store[] = [];
  after(async () => {
    for (const s of stores) await s.close();
  });
  let keys: KeyService;
  let seal: SealManager;
  let audit: MemoryRecorder;
  let clock: ManualClock;
  let share: string;

  async function service(config: Partial<KeyServiceConfig> = {}) {
    const store = await openStore({ type: 'sqlite', path: ':memory:' });
    stores.push(store);
    clock = new ManualClock();
    seal = new SealManager({ repo: store.seal, clock });
    await seal.load();
    const { shares } = await seal.init({ shares: 1, threshold: 1 });
    share = shares[0]!;
    await seal.submitShare(share);
    audit = new MemoryRecorder();
    keys = new KeyService({ keys: store.keys, seal, audit, clock, config: { ...CONFIG, ...config } });
  }
  beforeEach(() => service());

  test('create: version 1, enabled, a fingerprint; the same id again is key.exists; overwrite replaces the material', async () => {
    const created = await keys.create(ctx, { id: 'k1', type: 'EC-P256', labels: { team: 'a' } });
    assert.equal(created.record.state, 'enabled');
    assert.equal(created.record.currentVersion, 1);
    assert.deepEqual(created.record.labels, { team: 'a' });
    assert.deepEqual(created.versions.map((v) => v.version), [1]);
    assert.match(created.versions[0]!.fingerprint, /^sha256:[0-9a-f]{64}$/);
    await assert.rejects(keys.create(ctx, { id: 'k1', type: 'EC-P256' }), problem('key.exists', 409));
    const replaced = await keys.create(ctx, { id: 'k1', type: 'Ed25519', overwrite: true });
    assert.equal(replaced.record.type, 'Ed25519');
    assert.notEqual(replaced.versions.at(-1)!.fingerprint, created.versions[0]!.fingerprint);
    assert.deepEqual(audit.of('k1'), ['key.create success', 'key.create error key.exists', 'key.create success']);
    const ev = audit.events.find((e) => e.resource?.id === 'k1')!;
    assert.equal(ev.principal?.id, 'tester');
    assert.equal(ev.request_id, 'req-1');
  });

  test('overwrite is refused when the configuration forbids it, before anything changes', async () => {
    await service({ allowOverwrite: false });
    const first = await keys.create(ctx, { id: 'k', type: 'EC-P256' });
    await assert.rejects(keys.create(ctx, { id: 'k', type: 'EC-P256', overwrite: true }), problem('key.overwrite_disabled', 403));
    assert.equal((await keys.describe('k')).versions[0]!.fingerprint, first.versions[0]!.fingerprint);
  });

  test('sign and verify; rotate signs with the new version and still verifies the old one\'s signatures', async () => {
    await keys.create(ctx, { id: 's', type: 'EC-P256' });
    const v1 = await keys.sign(ctx, 's', { message });
    assert.equal(v1.version, 1);
    assert.equal((await keys.verify(ctx, 's', { message, signature: v1.signature })).valid, true);
    assert.equal((await keys.verify(ctx, 's', { message: Buffer.from('other'), signature: v1.signature })).valid, false);
    const rotated = await keys.rotate(ctx, 's');
    assert.equal(rotated.record.currentVersion, 2);
    assert.deepEqual(rotated.versions.map((v) => v.version).sort(), [1, 2]);
    const v2 = await keys.sign(ctx, 's', { message });
    assert.equal(v2.version, 2);
    assert.notEqual(v2.fingerprint, v1.fingerprint);
    assert.deepEqual(await keys.verify(ctx, 's', { message, signature: v1.signature }), { valid: true, version: 1 });
    assert.deepEqual(await keys.verify(ctx, 's', { message, signature: v2.signature }), { valid: true, version: 2 });
    await assert.rejects(keys.sign(ctx, 's', {}), problem('crypto.input_invalid'));
    await assert.rejects(keys.sign(ctx, 'nope', { message }), problem('key.not_found', 404));
  });

  test('disable stops signing and encrypting but not verifying or decrypting; enable restores them', async () => {
    await keys.create(ctx, { id: 'd', type: 'EC-P256' });
    await keys.create(ctx, { id: 'e', type: 'AES-256-GCM' });
    const sig = await keys.sign(ctx, 'd', { message });
    const enc = await keys.encrypt(ctx, 'e', { plaintext: message, aad: Buffer.from('ctx') });
    assert.equal((await keys.disable(ctx, 'd')).record.state, 'disabled');
    await keys.disable(ctx, 'e');
    await assert.rejects(keys.sign(ctx, 'd', { message }), problem('key.disabled', 409));
    await assert.rejects(keys.encrypt(ctx, 'e', { plaintext: message }), problem('key.disabled', 409));
    assert.equal((await keys.verify(ctx, 'd', { message, signature: sig.signature })).valid, true);
    assert.deepEqual((await keys.decrypt(ctx, 'e', { ciphertext: enc.ciphertext, aad: Buffer.from('ctx') })).plaintext, message);
    await assert.rejects(keys.disable(ctx, 'd'), problem('key.invalid_state_transition', 409));
    await keys.enable(ctx, 'd');
    assert.equal((await keys.sign(ctx, 'd', { message })).version, 1);
    assert.deepEqual(audit.of('d').filter((l) => !l.startsWith('key.sign success') && !l.startsWith('key.verify')), [
      'key.create success',
      'key.disable success',
      'key.sign error key.disabled',
      'key.disable error key.invalid_state_transition',
      'key.enable success',
    ]);
  });

  test('encrypt and decrypt bind the associated data; a wrong one is the neutral crypto.decrypt_failed', async () => {
    await keys.create(ctx, { id: 'a', type: 'AES-256-GCM' });
    const enc = await keys.encrypt(ctx, 'a', { plaintext: message, aad: Buffer.from('one') });
    assert.deepEqual((await keys.decrypt(ctx, 'a', { ciphertext: enc.ciphertext, aad: Buffer.from('one') })).plaintext, message);
    await assert.rejects(keys.decrypt(ctx, 'a', { ciphertext: enc.ciphertext, aad: Buffer.from('two') }), problem('crypto.decrypt_failed'));
    await assert.rejects(keys.sign(ctx, 'a', { message }), problem('key.usage_mismatch'));
  });

  test('destroy wipes every version: no more signing or verifying, the metadata stays as a tombstone', async () => {
    await keys.create(ctx, { id: 'x', type: 'Ed25519' });
    await keys.rotate(ctx, 'x');
    const sig = await keys.sign(ctx, 'x', { message });
    const destroyed = await keys.destroy(ctx, 'x');
    assert.equal(destroyed.record.state, 'destroyed');
    assert.equal(destroyed.versions.length, 2);
    for (const v of destroyed.versions) {
      assert.notEqual(v.destroyedAt, null);
      assert.equal(v.sealedMaterial, null);
    }
    await assert.rejects(keys.sign(ctx, 'x', { message }), problem('key.destroyed', 410));
    await assert.rejects(keys.verify(ctx, 'x', { message, signature: sig.signature }), problem('key.destroyed', 410));
    await assert.rejects(keys.destroy(ctx, 'x'), problem('key.destroyed', 410));
    assert.equal((await keys.describe('x')).record.state, 'destroyed');
  });

  test('release schedules destruction after the grace period; the sweep destroys it then, not before; cancel restores', async () => {
    await keys.create(ctx, { id: 'r', type: 'EC-P256' });
    await keys.create(ctx, { id: 'kept', type: 'EC-P256' });
    const released = await keys.release(ctx, 'r');
    assert.equal(released.record.state, 'released');
    assert.equal(released.record.destroyAt?.getTime(), clock.now().getTime() + CONFIG.releaseGraceMs);
    await assert.rejects(keys.sign(ctx, 'r', { message }), problem('key.released', 409));
    await keys.release(ctx, 'kept');
    await keys.cancelRelease(ctx, 'kept');
    assert.equal((await keys.describe('kept')).record.state, 'enabled');
    clock.advance(CONFIG.releaseGraceMs - 1);
    assert.deepEqual(await keys.sweepReleased(ctx), []);
    clock.advance(1);
    assert.deepEqual(await keys.sweepReleased(ctx), ['r']);
    assert.equal((await keys.describe('r')).record.state, 'destroyed');
    assert.equal((await keys.describe('kept')).record.state, 'enabled');
  });

  test('sealed: every operation is 503 system.sealed and audited; unsealing again serves the same keys', async () => {
    await keys.create(ctx, { id: 'z', type: 'EC-P256' });
    const sig = await keys.sign(ctx, 'z', { message });
    seal.seal();
    await assert.rejects(keys.sign(ctx, 'z', { message }), problem('system.sealed', 503));
    await assert.rejects(keys.create(ctx, { id: 'z2', type: 'EC-P256' }), problem('system.sealed', 503));
    await assert.rejects(keys.get(ctx, 'z'), problem('system.sealed', 503));
    assert.deepEqual(audit.of('z').slice(-2), ['key.sign error system.sealed', 'key.describe error system.sealed']);
    await seal.submitShare(share);
    assert.equal((await keys.verify(ctx, 'z', { message, signature: sig.signature })).valid, true);
    assert.equal((await keys.sign(ctx, 'z', { message })).fingerprint, sig.fingerprint);
  });

  test('fail closed: with the audit trail down nothing is created or used, and nothing changed meanwhile', async () => {
    await keys.create(ctx, { id: 'f', type: 'EC-P256' });
    const before = audit.events.length;
    audit.down = true;
    await assert.rejects(keys.create(ctx, { id: 'f2', type: 'EC-P256' }), problem('audit.unavailable', 503));
    await assert.rejects(keys.sign(ctx, 'f', { message }), problem('audit.unavailable', 503));
    await assert.rejects(keys.disable(ctx, 'f'), problem('audit.unavailable', 503));
    audit.down = false;
    assert.equal(audit.events.length, before);
    await assert.rejects(keys.get(ctx, 'f2'), problem('key.not_found', 404));
    assert.equal((await keys.describe('f')).record.state, 'enabled');
  });

  test('Keyward\'s own key ids are refused to callers that are not one of its components', async () => {
    await assert.rejects(keys.create(ctx, { id: 'keyward-idp-main-es256', type: 'EC-P256' }), problem('key.system_key', 403));
    const component = { ...ctx, component: 'idp' };
    await keys.create(component, { id: 'keyward-idp-main-es256', type: 'EC-P256' });
    await assert.rejects(keys.sign(ctx, 'keyward-idp-main-es256', { message }), problem('key.system_key', 403));
    assert.equal((await keys.sign(component, 'keyward-idp-main-es256', { message })).version, 1);
  });
  test('concurrent misses of one key share one read of its versions; a read an invalidation overtook is not shared', async () => {
    const store = await openStore({ type: 'sqlite', path: ':memory:' });
    stores.push(store);
    let reads = 0;
    let gate: Promise<void> | undefined;
    const versions = async (id: string) => {
      reads++;
      await gate;
      return store.keys.versions(id);
    };
    const counted = new Proxy(store.keys, {
      get: (target, p) => (p === 'versions' ? versions : (Reflect.get(target, p) as Function).bind(target)),
    });
    keys = new KeyService({ keys: counted, seal, audit, clock, config: { ...CONFIG, cacheTtlMs: 60_000 } });
    await keys.create(ctx, { id: 'hot', type: 'EC-P256' });
    keys.changedElsewhere('hot');
    reads = 0;
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const views = Array.from({ length: 50 }, () => keys.describe('hot'));
    await new Promise((r) => setImmediate(r));
    // Another instance rotated meanwhile: a describe from now on must not take the read that started before.
    keys.changedElsewhere('hot');
    const after = keys.describe('hot');
    open();
    await Promise.all([...views, after]);
    assert.equal(reads, 2, 'fifty concurrent misses read once, the one after the invalidation once more');
  });
});
