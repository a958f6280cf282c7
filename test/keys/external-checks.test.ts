// How long Keyward trusts an external key's owner's last word: at most keys.cache_ttl, one question at a time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExternalKeyChecks } from '../../src/keys/external-checks.ts';
import type { ExternalStatus, HeldKey, KeyProvider } from '../../src/keys/providers/index.ts';

const key: HeldKey = { keyId: 'k', version: 1, type: 'AES-256-GCM', ref: '{"uid":"1"}', publicKeySpki: null, external: true };

function owner() {
  let answer: ExternalStatus = { usable: true };
  let asked = 0;
  let release: (() => void) | undefined;
  const provider = {
    async externalStatus() {
      asked++;
      if (release === undefined) return answer;
      await new Promise<void>((r) => (release = r));
      return answer;
    },
  } as unknown as KeyProvider;
  return {
    provider,
    get asked() {
      return asked;
    },
    say(a: ExternalStatus) {
      answer = a;
    },
    hold() {
      release = () => undefined;
    },
    let() {
      const r = release;
      release = undefined;
      r?.();
    },
  };
}

test('a verdict is trusted for the TTL and asked again after it', async () => {
  let now = 0;
  const checks = new ExternalKeyChecks(1000, () => now);
  const o = owner();
  assert.deepEqual(await checks.status(key, o.provider), { usable: true });
  o.say({ usable: false, reason: 'revoked', detail: 'deactivated' });
  now = 1000;
  assert.equal((await checks.status(key, o.provider)).usable, true, 'within the TTL the last word holds');
  now = 1001;
  assert.equal((await checks.status(key, o.provider)).usable, false, 'past the TTL the owner is asked again');
  assert.equal(o.asked, 2);
});

test('concurrent callers share one question; a refusal seen by an operation holds for the TTL', async () => {
  let now = 0;
  const checks = new ExternalKeyChecks(1000, () => now);
  const o = owner();
  o.hold();
  const all = Promise.all(Array.from({ length: 10 }, () => checks.status(key, o.provider)));
  await new Promise((r) => setImmediate(r));
  o.let();
  assert.ok((await all).every((s) => s.usable));
  assert.equal(o.asked, 1);
  checks.refused(key, { usable: false, reason: 'missing', detail: 'gone' });
  now = 500;
  assert.equal((await checks.status(key, o.provider)).usable, false);
  assert.equal(o.asked, 1, 'no question while the refusal holds');
  now = 1501;
  assert.equal((await checks.status(key, o.provider)).usable, true, 'restored by the owner: usable again after the TTL');
  checks.forget('k');
  now = 1502;
  await checks.status(key, o.provider);
  assert.equal(o.asked, 3, 'forgotten: asked again');
});
