import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SealManager, SHARE_BYTES } from '../../../src/keys/seal/index.ts';
import type { SealStatus } from '../../../src/keys/seal/index.ts';
import { ProblemError } from '../../../src/core/problem.ts';
import { StoreConflictError } from '../../../src/store/types.ts';
import type { SealRecord, SealRepository } from '../../../src/store/types.ts';
import { ManualClock } from '../../support/clock.ts';

class MemorySealRepo implements SealRepository {
  rec: SealRecord | undefined;
  async get(): Promise<SealRecord | undefined> {
    return this.rec && { ...this.rec, wrappedRootKey: Buffer.from(this.rec.wrappedRootKey), shareDigests: [...this.rec.shareDigests] };
  }
  async init(rec: SealRecord): Promise<void> {
    if (this.rec) throw new StoreConflictError('already_initialized');
    this.rec = { ...rec, wrappedRootKey: Buffer.from(rec.wrappedRootKey), shareDigests: [...rec.shareDigests] };
  }
  async rewrap(expected: SealRecord, next: Pick<SealRecord, 'kind' | 'hsmWrappedRootKey' | 'hsmKeyRef'>): Promise<void> {
    if (!this.rec || (this.rec.kind ?? 'shamir') !== (expected.kind ?? 'shamir') || (this.rec.hsmKeyRef ?? null) !== (expected.hsmKeyRef ?? null)) {
      throw new StoreConflictError('revision_mismatch');
    }
    this.rec = { ...this.rec, ...next };
  }
}

function manager(repo = new MemorySealRepo()) {
  return { repo, seal: new SealManager({ repo, clock: new ManualClock() }) };
}

/** Asserts a ProblemError with the code, and that its message and detail carry none of `secrets`. */
async function rejects(fn: () => unknown, status: number, code: string, secrets: string[] = []): Promise<void> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ProblemError, `expected ProblemError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.equal(caught.status, status);
  const text = `${caught.message} ${caught.detail ?? ''} ${caught.title} ${JSON.stringify(caught.extra ?? {})}`;
  for (const s of secrets) {
    if (s.length > 0) assert.ok(!text.includes(s), `error for ${code} leaks share text`);
  }
}

function progress(s: SealStatus, n: number, state: SealStatus['state'] = 'SEALED') {
  assert.equal(s.progress, n);
  assert.equal(s.state, state);
}

test('init returns N distinct shares once and stores only digests and the wrapped root key', async () => {
  const { repo, seal } = manager();
  const clock = new ManualClock(Date.UTC(2026, 2, 3));
  const m = new SealManager({ repo, clock });
  await m.load();
  const { shares, status } = await m.init({ shares: 5, threshold: 3 });
  assert.equal(shares.length, 5);
  assert.equal(new Set(shares).size, 5);
  for (const s of shares) assert.equal(Buffer.from(s, 'base64').byteLength, SHARE_BYTES);
  assert.deepEqual(status, { state: 'SEALED', initialized: true, sealed: true, progress: 0, threshold: 3, shares: 5, type: 'shamir', configuredType: 'shamir' });
  const rec = repo.rec!;
  assert.equal(rec.shares, 5);
  assert.equal(rec.threshold, 3);
  assert.equal(rec.shareDigests.length, 5);
  assert.ok(rec.shareDigests.every((d) => /^[0-9a-f]{64}$/.test(d)));
  assert.equal(rec.wrappedRootKey.byteLength, 12 + 16 + 32);
  assert.deepEqual(rec.createdAt, clock.now());
  // No share is stored anywhere in the record.
  const recText = JSON.stringify({ ...rec, wrappedRootKey: rec.wrappedRootKey.toString('base64') });
  for (const s of shares) assert.ok(!recText.includes(s));
  // A second init, on this manager or a fresh one on the same store, is a conflict.
  await rejects(() => m.init({ shares: 5, threshold: 3 }), 409, 'seal.already_initialized');
  await rejects(() => seal.init({ shares: 3, threshold: 2 }), 409, 'seal.already_initialized');
  // The loser of the race adopted the winner's record.
  assert.equal(seal.status().state, 'SEALED');
});

test('status in each state', async () => {
  const { seal } = manager();
  assert.deepEqual(await seal.load(), {
    state: 'UNINITIALIZED',
    initialized: false,
    sealed: true,
    progress: 0,
    threshold: null,
    shares: null,
    type: 'shamir',
    configuredType: 'shamir',
  });
  const { shares } = await seal.init({ shares: 3, threshold: 2 });
  assert.deepEqual(seal.status(), { state: 'SEALED', initialized: true, sealed: true, progress: 0, threshold: 2, shares: 3, type: 'shamir', configuredType: 'shamir' });
  progress(await seal.submitShare(shares[0]!), 1);
  assert.deepEqual(await seal.submitShare(shares[1]!), {
    state: 'UNSEALED',
    initialized: true,
    sealed: false,
    progress: 0,
    threshold: 2,
    shares: 3,
    type: 'shamir',
    configuredType: 'shamir',
  });
  // Submitting while unsealed is not an error.
  progress(await seal.submitShare(shares[2]!), 0, 'UNSEALED');
  progress(await seal.submitShare('garbage'), 0, 'UNSEALED');
});

test('invalid parameters', async () => {
  const { seal } = manager();
  for (const p of [
    { shares: 0, threshold: 0 },
    { shares: 3, threshold: 0 },
    { shares: 3, threshold: 4 },
    { shares: 3, threshold: 1 },
    { shares: 17, threshold: 2 },
    { shares: 2.5, threshold: 2 },
    { shares: Number.NaN, threshold: 2 },
    { shares: '3', threshold: 2 } as unknown as { shares: number; threshold: number },
  ]) {
    await rejects(() => seal.init(p), 400, 'seal.invalid_parameters');
  }
  assert.equal(seal.status().state, 'UNINITIALIZED');
  // Boundaries that are allowed.
  await manager().seal.init({ shares: 1, threshold: 1 });
  await manager().seal.init({ shares: 16, threshold: 16 });
  await manager().seal.init({ shares: 2, threshold: 2 });
});

test('not initialized: submitShare is 409, wrap is 503', async () => {
  const { seal } = manager();
  await seal.load();
  await rejects(() => seal.submitShare('AAAA'), 409, 'seal.not_initialized');
  await rejects(() => seal.wrap('a', Buffer.from('x')), 503, 'system.sealed');
  await rejects(() => seal.seal(), 409, 'seal.not_initialized');
});

test('any subset of threshold shares unseals, in any order', async () => {
  const { repo, seal } = manager();
  const { shares } = await seal.init({ shares: 5, threshold: 3 });
  const subsets = [
    [0, 1, 2],
    [4, 2, 0],
    [3, 4, 1],
    [2, 3, 4],
  ];
  let blob: Buffer | undefined;
  for (const subset of subsets) {
    const m = new SealManager({ repo, clock: new ManualClock() });
    await m.load();
    for (const [i, idx] of subset.entries()) {
      const st = await m.submitShare(shares[idx]!);
      if (i < subset.length - 1) progress(st, i + 1);
      else progress(st, 0, 'UNSEALED');
    }
    // Every subset recovers the same root key.
    if (!blob) blob = m.wrap('keyward:key:k1:v1', Buffer.from('material'));
    else assert.equal(m.unwrap('keyward:key:k1:v1', blob).toString(), 'material');
  }
});

test('wrong, malformed and duplicate shares are rejected without spending progress; unseal then completes', async () => {
  const { seal } = manager();
  const { shares } = await seal.init({ shares: 3, threshold: 3 });
  const other = (await manager().seal.init({ shares: 3, threshold: 3 })).shares;

  progress(await seal.submitShare(shares[0]!), 1);

  const valid = Buffer.from(shares[1]!, 'base64');
  const malformed = [
    '',
    '   ',
    'not base64 at all!!',
    'garbage',
    Buffer.from('short').toString('base64'),
    valid.subarray(0, SHARE_BYTES - 1).toString('base64'),
    Buffer.concat([valid, Buffer.of(1)]).toString('base64'),
    shares[1]!.slice(0, -4),
    shares[1]!.replaceAll('+', '-').replaceAll('/', '_') + '$',
  ];
  for (const bad of malformed) {
    await rejects(() => seal.submitShare(bad), 400, 'seal.share_malformed', [bad.trim(), ...shares]);
    progress(seal.status(), 1);
  }
  await rejects(() => seal.submitShare(undefined as unknown as string), 400, 'seal.share_malformed');

  // Well-formed shares from another installation, and a valid share with one bit flipped.
  for (const wrong of [...other, Buffer.from(valid.map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64')]) {
    await rejects(() => seal.submitShare(wrong), 400, 'seal.share_invalid', [wrong, ...shares]);
    progress(seal.status(), 1);
  }

  await rejects(() => seal.submitShare(shares[0]!), 400, 'seal.share_duplicate', shares);
  progress(seal.status(), 1);

  progress(await seal.submitShare(shares[1]!), 2);
  await rejects(() => seal.submitShare(shares[1]!), 400, 'seal.share_duplicate', shares);
  progress(seal.status(), 2);
  progress(await seal.submitShare(shares[2]!), 0, 'UNSEALED');
});

test('resetProgress forgets held shares', async () => {
  const { seal } = manager();
  const { shares } = await seal.init({ shares: 3, threshold: 2 });
  progress(await seal.submitShare(shares[0]!), 1);
  progress(seal.resetProgress(), 0);
  // The same share counts again in the new round.
  progress(await seal.submitShare(shares[0]!), 1);
  progress(await seal.submitShare(shares[2]!), 0, 'UNSEALED');
});

test('concurrent submissions: duplicates cannot both count', async () => {
  const { seal } = manager();
  const { shares } = await seal.init({ shares: 3, threshold: 2 });
  const results = await Promise.allSettled([seal.submitShare(shares[0]!), seal.submitShare(shares[0]!)]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal((rejected.reason as ProblemError).code, 'seal.share_duplicate');
  progress(seal.status(), 1);
  // All three at once: threshold is reached once, the rest see the outcome.
  const { seal: s2 } = manager();
  const sh2 = (await s2.init({ shares: 3, threshold: 2 })).shares;
  const all = await Promise.all(sh2.map((s) => s2.submitShare(s)));
  assert.ok(all.every((st) => st.progress <= 1));
  assert.equal(s2.status().state, 'UNSEALED');
});

test('wrap/unwrap: roundtrip, aad bound, tamper detected, sealed is 503', async () => {
  const { seal } = manager();
  const { shares } = await seal.init({ shares: 2, threshold: 2 });
  await rejects(() => seal.wrap('keyward:key:a:v1', Buffer.from('x')), 503, 'system.sealed');
  await seal.submitShare(shares[0]!);
  await rejects(() => seal.wrap('keyward:key:a:v1', Buffer.from('x')), 503, 'system.sealed');
  await seal.submitShare(shares[1]!);

  const pt = Buffer.from('secret key material');
  const blob = seal.wrap('keyward:key:a:v1', pt);
  assert.equal(blob[0], 0x01);
  assert.equal(blob.byteLength, 1 + 12 + 16 + pt.byteLength);
  assert.ok(!blob.includes(pt));
  assert.deepEqual(seal.unwrap('keyward:key:a:v1', blob), pt);
  assert.notDeepEqual(seal.wrap('keyward:key:a:v1', pt), blob, 'fresh iv each time');
  assert.deepEqual(seal.unwrap('keyward:key:a:v1', seal.wrap('keyward:key:a:v1', Buffer.alloc(0))), Buffer.alloc(0));

  await rejects(() => seal.unwrap('keyward:key:b:v1', blob), 500, 'seal.material_corrupt');
  await rejects(() => seal.unwrap('keyward:key:a:v2', blob), 500, 'seal.material_corrupt');
  const flipped = Buffer.from(blob);
  flipped[flipped.length - 1]! ^= 1;
  await rejects(() => seal.unwrap('keyward:key:a:v1', flipped), 500, 'seal.material_corrupt');
  const badFormat = Buffer.from(blob);
  badFormat[0] = 0x02;
  await rejects(() => seal.unwrap('keyward:key:a:v1', badFormat), 500, 'seal.material_corrupt');
  await rejects(() => seal.unwrap('keyward:key:a:v1', Buffer.alloc(0)), 500, 'seal.material_corrupt');
  await rejects(() => seal.unwrap('keyward:key:a:v1', blob.subarray(0, 20)), 500, 'seal.material_corrupt');

  // A blob from another installation's root key does not open.
  const { seal: other } = manager();
  const os = (await other.init({ shares: 1, threshold: 1 })).shares;
  await other.submitShare(os[0]!);
  await rejects(() => other.unwrap('keyward:key:a:v1', blob), 500, 'seal.material_corrupt');
});

test('seal() drops the key, fires listeners; re-unseal restores the same root key', async () => {
  const { seal } = manager();
  const { shares } = await seal.init({ shares: 3, threshold: 2 });
  const heard: boolean[] = [];
  const off = seal.onSealChange((s) => heard.push(s));
  seal.onSealChange(() => {
    throw new Error('a broken listener');
  });

  await seal.submitShare(shares[0]!);
  await seal.submitShare(shares[1]!);
  assert.deepEqual(heard, [false]);
  const blob = seal.wrap('keyward:key:k:v3', Buffer.from('m'));

  progress(seal.seal(), 0);
  assert.deepEqual(heard, [false, true]);
  await rejects(() => seal.wrap('keyward:key:k:v3', Buffer.from('m')), 503, 'system.sealed');
  await rejects(() => seal.unwrap('keyward:key:k:v3', blob), 503, 'system.sealed');
  // Sealing again is a no-op for listeners.
  seal.seal();
  assert.deepEqual(heard, [false, true]);

  // seal() also drops shares held in a round.
  progress(await seal.submitShare(shares[2]!), 1);
  progress(seal.seal(), 0);

  await seal.submitShare(shares[2]!);
  await seal.submitShare(shares[0]!);
  assert.deepEqual(heard, [false, true, false]);
  assert.equal(seal.unwrap('keyward:key:k:v3', blob).toString(), 'm');

  off();
  seal.seal();
  assert.deepEqual(heard, [false, true, false]);
});

test('seal() during an in-flight combine keeps the system sealed', async () => {
  const { seal } = manager();
  const { shares } = await seal.init({ shares: 2, threshold: 2 });
  await seal.submitShare(shares[0]!);
  const p = seal.submitShare(shares[1]!);
  seal.seal();
  progress(await p, 0);
  assert.equal(seal.status().state, 'SEALED');
});

test('a manager on a store initialized by a peer picks the record up on submit', async () => {
  const { repo, seal: a } = manager();
  const b = new SealManager({ repo, clock: new ManualClock() });
  await b.load();
  const { shares } = await a.init({ shares: 2, threshold: 2 });
  progress(await b.submitShare(shares[0]!), 1);
  progress(await b.submitShare(shares[1]!), 0, 'UNSEALED');
});

test('unseal_failed when the shares pass digests but do not open the root key; progress resets', async () => {
  const { repo, seal } = manager();
  const { shares } = await seal.init({ shares: 2, threshold: 2 });
  // Simulate a damaged record: the digests still match but the wrapped root key does not open.
  repo.rec!.wrappedRootKey[repo.rec!.wrappedRootKey.length - 1]! ^= 1;
  const m = new SealManager({ repo, clock: new ManualClock() });
  await m.load();
  progress(await m.submitShare(shares[0]!), 1);
  await rejects(() => m.submitShare(shares[1]!), 400, 'seal.unseal_failed', shares);
  progress(m.status(), 0);
});

test('dev auto-unseal: file with mode 0600, reused across managers on the same store', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keyward-seal-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'nested', 'dev-unseal.json');
  const repo = new MemorySealRepo();

  const a = new SealManager({ repo, clock: new ManualClock() });
  await a.load();
  progress(await a.autoInitAndUnsealFromFile(file), 0, 'UNSEALED');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const body = JSON.parse(await readFile(file, 'utf8')) as { warning: string; share: string };
  assert.match(body.warning, /^DEV ONLY/);
  assert.equal(Buffer.from(body.share, 'base64').byteLength, SHARE_BYTES);
  assert.equal(repo.rec!.shares, 1);
  assert.equal(repo.rec!.threshold, 1);
  const blob = a.wrap('keyward:key:dev:v1', Buffer.from('dev'));

  const b = new SealManager({ repo, clock: new ManualClock() });
  await b.load();
  progress(await b.autoInitAndUnsealFromFile(file), 0, 'UNSEALED');
  assert.equal(b.unwrap('keyward:key:dev:v1', blob).toString(), 'dev');
  // The file was not rewritten.
  assert.equal((JSON.parse(await readFile(file, 'utf8')) as { share: string }).share, body.share);
  // Idempotent when already unsealed.
  progress(await b.autoInitAndUnsealFromFile(file), 0, 'UNSEALED');

  // The store is initialized but the file is gone.
  await rm(file);
  const c = new SealManager({ repo, clock: new ManualClock() });
  await c.load();
  await rejects(() => c.autoInitAndUnsealFromFile(file), 500, 'seal.dev_unseal_file_missing', [body.share]);
  assert.equal(c.status().state, 'SEALED');
});
