// The session pool on its own, with counters for sessions: bounds, order, replacement, timeouts, shutdown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HsmUnavailableError } from '../../../src/keys/providers/pkcs11/errors.ts';
import { SessionPool } from '../../../src/keys/providers/pkcs11/session-pool.ts';

function pool(size: number, acquireTimeoutMs = 1000) {
  let next = 1;
  const closed: number[] = [];
  const failOpen = { on: false };
  const p = new SessionPool<number>({
    size,
    acquireTimeoutMs,
    open: () => {
      if (failOpen.on) throw new Error('open failed');
      return next++;
    },
    close: (s) => void closed.push(s),
  });
  return { p, closed, failOpen };
}

test('opens at most `size` sessions and reuses released ones', async () => {
  const { p } = pool(2);
  const a = await p.acquire();
  const b = await p.acquire();
  assert.notEqual(a, b);
  p.release(a);
  assert.equal(await p.acquire(), a);
  assert.deepEqual(p.stats(), { size: 2, open: 2, idle: 0, waiting: 0 });
});

test('waiters are served in order as sessions come back', async () => {
  const { p } = pool(1);
  const s = await p.acquire();
  const order: string[] = [];
  const w1 = p.acquire().then((x) => (order.push('w1'), x));
  const w2 = p.acquire().then((x) => (order.push('w2'), x));
  assert.equal(p.stats().waiting, 2);
  p.release(s);
  p.release(await w1);
  await w2;
  assert.deepEqual(order, ['w1', 'w2']);
});

test('a discarded session makes room: the next waiter gets a new one', async () => {
  const { p, closed } = pool(1);
  const s = await p.acquire();
  const waiter = p.acquire();
  p.discard(s, true);
  const fresh = await waiter;
  assert.notEqual(fresh, s);
  assert.deepEqual(closed, [s]);
  // A session the token already dropped is forgotten without a close call.
  p.discard(fresh, false);
  assert.deepEqual(closed, [s]);
  assert.equal(p.stats().open, 0);
});

test('no free session in time: hsm.unavailable (busy)', async () => {
  const { p } = pool(1, 20);
  await p.acquire();
  await assert.rejects(p.acquire(), (e: unknown) => e instanceof HsmUnavailableError && e.reason === 'busy' && e.status === 503);
  assert.equal(p.stats().waiting, 0);
});

test('a failed open frees its place', async () => {
  const { p, failOpen } = pool(1);
  failOpen.on = true;
  await assert.rejects(p.acquire(), /open failed/);
  failOpen.on = false;
  assert.equal(await p.acquire(), 1);
});

test('shutdown fails waiters and later acquires, and closes busy sessions as they come back', async () => {
  const { p, closed } = pool(2);
  const a = await p.acquire();
  const b = await p.acquire();
  const waiting = p.acquire().catch((e: unknown) => e);
  p.shutdown(() => new HsmUnavailableError('closed', 'closed'), true);
  assert.ok((await waiting) instanceof HsmUnavailableError);
  await assert.rejects(p.acquire(), { reason: 'closed' });
  p.release(a);
  p.release(b);
  assert.deepEqual(closed, [a, b]);
  assert.equal(p.stats().open, 0);
});

test('shutdown closes idle sessions, or only forgets them when their handles are stale', async () => {
  for (const closeIdle of [true, false]) {
    const { p, closed } = pool(2);
    const a = await p.acquire();
    p.release(a);
    p.shutdown(() => new Error('stale'), closeIdle);
    assert.deepEqual(closed, closeIdle ? [a] : []);
    assert.equal(p.stats().open, 0);
  }
});
