// One suite, run against SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StoreConflictError, type KeyRecord } from '../../src/store/types.ts';
import { storageConfigSchema } from '../../src/store/open.ts';
import { freshEnv, newKey, newVersion, type DialectName } from './harness.ts';

const conflict = (reason: StoreConflictError['reason']) => (e: unknown) => {
  assert.ok(e instanceof StoreConflictError, `expected StoreConflictError(${reason}), got ${String(e)}`);
  assert.equal(e.reason, reason);
  return true;
};

class GuardError extends Error {}
const failingGuard = (seen: KeyRecord[]) => async (rec: KeyRecord) => {
  seen.push(rec);
  throw new GuardError('audit unavailable');
};

const T0 = new Date('2025-03-01T12:00:00.000Z');
const later = (ms: number) => new Date(T0.getTime() + ms);

function storeSuite(dialect: DialectName) {
  describe(dialect, () => {
    test('migrations are idempotent on reopen; ping', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const a = await env.open();
      assert.equal(a.dialect, dialect);
      await a.ping();
      await a.keys.create(newKey('k1'), newVersion('a'), { overwrite: false });
      await a.close();
      const b = await env.open();
      await b.ping();
      assert.equal((await b.keys.get('k1'))?.id, 'k1');
      // Two more opens, one while another is open.
      const c = await env.open();
      await c.close();
      await b.close();
    });

    test('create, get, versions, version', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const s = await env.open();
      const v1 = newVersion('one', T0);
      const rec = await s.keys.create(newKey('alpha', { env: 'prod', 'team.io/owner': 'x' }, T0), v1, { overwrite: false });
      const expected: KeyRecord = {
        id: 'alpha',
        type: 'EC-P256',
        state: 'enabled',
        labels: { env: 'prod', 'team.io/owner': 'x' },
        description: 'key alpha',
        currentVersion: 1,
        revision: 1,
        createdAt: T0,
        updatedAt: T0,
        destroyAt: null,
        origin: 'generated',
        provider: 'software',
      };
      assert.deepEqual(rec, expected);
      assert.deepEqual(await s.keys.get('alpha'), expected);
      assert.equal(await s.keys.get('nope'), undefined);

      const versions = await s.keys.versions('alpha');
      assert.equal(versions.length, 1);
      const got = versions[0]!;
      assert.ok(Buffer.isBuffer(got.sealedMaterial), 'sealed material is a Buffer');
      assert.ok(Buffer.isBuffer(got.publicKeySpki), 'SPKI is a Buffer');
      assert.deepEqual(got, {
        keyId: 'alpha',
        version: 1,
        publicKeySpki: v1.publicKeySpki,
        fingerprint: v1.fingerprint,
        sealedMaterial: v1.sealedMaterial,
        providerRef: null,
        createdAt: T0,
        destroyedAt: null,
      });
      assert.deepEqual(await s.keys.version('alpha', 1), got);
      assert.equal(await s.keys.version('alpha', 2), undefined);
      assert.deepEqual(await s.keys.versions('nope'), []);

      // Symmetric keys have no SPKI.
      await s.keys.create({ ...newKey('sym'), type: 'AES-256-GCM' }, { ...newVersion('s'), publicKeySpki: null }, { overwrite: false });
      assert.equal((await s.keys.version('sym', 1))?.publicKeySpki, null);

      const r2 = await s.keys.addVersion('alpha', 1, newVersion('two', later(1000)));
      assert.equal(r2.currentVersion, 2);
      assert.equal(r2.revision, 2);
      assert.deepEqual(r2.updatedAt, later(1000));
      assert.deepEqual((await s.keys.versions('alpha')).map((v) => v.version), [1, 2]);
    });

    test('create of an existing id: key_exists; with overwrite: replaced', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const s = await env.open();
      await s.keys.create(newKey('dup', { v: 'old' }), newVersion('old1'), { overwrite: false });
      await s.keys.addVersion('dup', 1, newVersion('old2'));
      const before = await s.keys.get('dup');

      await assert.rejects(s.keys.create(newKey('dup', { v: 'new' }), newVersion('x'), { overwrite: false }), conflict('key_exists'));
      assert.deepEqual(await s.keys.get('dup'), before);
      assert.equal((await s.keys.versions('dup')).length, 2);

      const fresh = newVersion('new1', T0);
      const rec = await s.keys.create({ ...newKey('dup', { v: 'new' }, T0), type: 'Ed25519' }, fresh, { overwrite: true });
      assert.equal(rec.type, 'Ed25519');
      assert.deepEqual(rec.labels, { v: 'new' });
      assert.equal(rec.currentVersion, 1);
      assert.equal(rec.state, 'enabled');
      // Revisions keep counting so a stale writer of the old key cannot hit the new one.
      assert.ok(rec.revision > before!.revision, 'revision moves forward across an overwrite');
      const vs = await s.keys.versions('dup');
      assert.equal(vs.length, 1);
      assert.deepEqual(vs[0]!.sealedMaterial, fresh.sealedMaterial);
      await assert.rejects(s.keys.addVersion('dup', before!.revision, newVersion('stale')), conflict('revision_mismatch'));

      // Overwrite of an id that does not exist just creates it.
      const created = await s.keys.create(newKey('brand-new'), newVersion('b'), { overwrite: true });
      assert.equal(created.revision, 1);
    });

    test('a throwing guard rolls back create, addVersion, setState and destroy', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const s = await env.open();
      const seen: KeyRecord[] = [];

      await assert.rejects(s.keys.create(newKey('g1'), newVersion('a'), { overwrite: false, guard: failingGuard(seen) }), GuardError);
      assert.equal(seen.at(-1)?.id, 'g1');
      assert.equal(await s.keys.get('g1'), undefined);
      assert.deepEqual(await s.keys.versions('g1'), []);

      const base = await s.keys.create(newKey('g2', { a: '1' }), newVersion('b'), { overwrite: false });
      const baseVersions = await s.keys.versions('g2');

      await assert.rejects(
        s.keys.create(newKey('g2', { a: '2' }), newVersion('c'), { overwrite: true, guard: failingGuard(seen) }),
        GuardError,
      );
      assert.deepEqual(await s.keys.get('g2'), base);
      assert.deepEqual(await s.keys.versions('g2'), baseVersions);

      await assert.rejects(s.keys.addVersion('g2', base.revision, newVersion('d'), failingGuard(seen)), GuardError);
      assert.equal(seen.at(-1)?.currentVersion, 2, 'the guard sees the record as it would be committed');
      assert.deepEqual(await s.keys.get('g2'), base);
      assert.deepEqual(await s.keys.versions('g2'), baseVersions);

      await assert.rejects(
        s.keys.setState('g2', base.revision, { state: 'disabled', destroyAt: null, updatedAt: later(1) }, failingGuard(seen)),
        GuardError,
      );
      assert.equal(seen.at(-1)?.state, 'disabled');
      assert.deepEqual(await s.keys.get('g2'), base);

      await assert.rejects(s.keys.destroy('g2', base.revision, later(2), failingGuard(seen)), GuardError);
      assert.equal(seen.at(-1)?.state, 'destroyed');
      assert.deepEqual(await s.keys.get('g2'), base);
      assert.deepEqual(await s.keys.versions('g2'), baseVersions);

      // A guard that calls back into the store fails at once (on SQLite it would otherwise wait forever for the
      // connection its own transaction holds) and the write is rolled back.
      await assert.rejects(
        s.keys.addVersion('g2', base.revision, newVersion('f'), async () => {
          await s.auditChain.put({ chainId: 'c', sequence: 1, hash: 'h' });
        }),
        /must not call the store/,
      );
      assert.deepEqual(await s.keys.get('g2'), base);
      assert.equal(await s.auditChain.get('c'), undefined);

      // The store is still usable after the rollbacks, and a passing guard commits.
      let guarded = 0;
      const r = await s.keys.addVersion('g2', base.revision, newVersion('e'), async () => void guarded++);
      assert.equal(guarded, 1);
      assert.equal(r.currentVersion, 2);
      assert.equal((await s.keys.versions('g2')).length, 2);
    });

    test('concurrent addVersion with the same revision: exactly one wins; versions stay contiguous', async (t) => {
      const env = await freshEnv(t, dialect, { poolMax: 8 });
      if (!env) return;
      const s = await env.open();
      const k = await s.keys.create(newKey('race'), newVersion('r0'), { overwrite: false });

      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => s.keys.addVersion('race', k.revision, newVersion(`r${i}`))),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1);
      for (const r of lost) conflict('revision_mismatch')(r.reason);
      assert.deepEqual((await s.keys.versions('race')).map((v) => v.version), [1, 2]);

      // Workers that retry on conflict: every rotation lands exactly once.
      const workers = 6;
      const each = 3;
      await Promise.all(
        Array.from({ length: workers }, async (_, w) => {
          for (let done = 0; done < each; ) {
            const cur = (await s.keys.get('race'))!;
            try {
              await s.keys.addVersion('race', cur.revision, newVersion(`w${w}`));
              done++;
            } catch (e) {
              conflict('revision_mismatch')(e);
            }
          }
        }),
      );
      const final = (await s.keys.get('race'))!;
      const versions = (await s.keys.versions('race')).map((v) => v.version);
      assert.equal(final.currentVersion, 2 + workers * each);
      assert.deepEqual(versions, Array.from({ length: final.currentVersion }, (_, i) => i + 1));
    });

    test('setState and destroy check the revision', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const s = await env.open();
      const k = await s.keys.create(newKey('st'), newVersion('a'), { overwrite: false });
      await s.keys.addVersion('st', k.revision, newVersion('b'));

      await assert.rejects(
        s.keys.setState('st', k.revision, { state: 'disabled', destroyAt: null, updatedAt: later(1) }),
        conflict('revision_mismatch'),
      );
      await assert.rejects(
        s.keys.setState('missing', 1, { state: 'disabled', destroyAt: null, updatedAt: later(1) }),
        conflict('not_found'),
      );
      await assert.rejects(s.keys.addVersion('missing', 1, newVersion('m')), conflict('not_found'));
      await assert.rejects(s.keys.destroy('missing', 1, later(1)), conflict('not_found'));

      const released = await s.keys.setState('st', 2, { state: 'released', destroyAt: later(60_000), updatedAt: later(1) });
      assert.equal(released.state, 'released');
      assert.deepEqual(released.destroyAt, later(60_000));
      assert.deepEqual(released.updatedAt, later(1));
      assert.equal(released.revision, 3);
      assert.deepEqual(await s.keys.get('st'), released);

      await assert.rejects(s.keys.destroy('st', 2, later(2)), conflict('revision_mismatch'));
      assert.equal((await s.keys.versions('st')).filter((v) => v.sealedMaterial === null).length, 0, 'nothing wiped');

      const destroyed = await s.keys.destroy('st', 3, later(2));
      assert.equal(destroyed.state, 'destroyed');
      assert.equal(destroyed.revision, 4);
      assert.equal(destroyed.destroyAt, null);
      assert.deepEqual(await s.keys.get('st'), destroyed);
      const vs = await s.keys.versions('st');
      assert.equal(vs.length, 2);
      for (const v of vs) {
        assert.equal(v.sealedMaterial, null);
        assert.deepEqual(v.destroyedAt, later(2));
        assert.match(v.fingerprint, /^sha256:/, 'metadata kept as a tombstone');
      }
    });

    test('list pages by id with state and label filters', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const s = await env.open();
      const ids: string[] = [];
      for (let i = 0; i < 23; i++) {
        // Mixed case and punctuation: order must be bytewise on both dialects.
        const id = i % 5 === 0 ? `Key-${String(i).padStart(2, '0')}` : `key.${String(i).padStart(2, '0')}`;
        ids.push(id);
        const labels: Record<string, string> = { env: i % 2 === 0 ? 'prod' : 'dev', 'example.com/team': i % 3 === 0 ? 'a' : 'b' };
        const k = await s.keys.create(newKey(id, labels), newVersion(id), { overwrite: false });
        if (i % 4 === 0) await s.keys.setState(id, k.revision, { state: 'disabled', destroyAt: null, updatedAt: later(i) });
      }
      const sorted = [...ids].sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));

      async function all(q: { state?: 'disabled' | 'enabled'; labels?: Record<string, string> }, limit: number) {
        const out: KeyRecord[] = [];
        let cursor: string | undefined;
        let pages = 0;
        for (;;) {
          const page = await s.keys.list({ ...q, limit, cursor });
          pages++;
          assert.ok(page.items.length <= limit);
          out.push(...page.items);
          if (page.nextCursor === null) break;
          assert.equal(page.items.length, limit, 'only the last page is short');
          cursor = page.nextCursor;
          assert.ok(pages < 100);
        }
        return { ids: out.map((k) => k.id), pages, items: out };
      }

      const everything = await all({}, 5);
      assert.deepEqual(everything.ids, sorted);
      assert.equal(everything.pages, 5);
      // Exactly a multiple of the page size: the last full page says there is nothing more, or one empty page follows.
      const exact = await s.keys.list({ limit: 23 });
      assert.equal(exact.items.length, 23);
      assert.equal(exact.nextCursor, null);

      const idx = (id: string) => ids.indexOf(id);
      const disabled = await all({ state: 'disabled' }, 2);
      assert.deepEqual(disabled.ids, sorted.filter((id) => idx(id) % 4 === 0));
      assert.ok(disabled.items.every((k) => k.state === 'disabled'));

      const prodA = await all({ labels: { env: 'prod', 'example.com/team': 'a' } }, 1);
      assert.deepEqual(prodA.ids, sorted.filter((id) => idx(id) % 2 === 0 && idx(id) % 3 === 0));

      const enabledDev = await all({ state: 'enabled', labels: { env: 'dev' } }, 3);
      assert.deepEqual(enabledDev.ids, sorted.filter((id) => idx(id) % 2 === 1 && idx(id) % 4 !== 0));

      assert.deepEqual((await all({ labels: { env: 'staging' } }, 10)).ids, []);
      assert.deepEqual((await all({ labels: { nosuchlabel: 'prod' } }, 10)).ids, []);
      // A prefix of a value is not a match.
      assert.deepEqual((await all({ labels: { env: 'pro' } }, 10)).ids, []);
    });

    test('dueForDestruction returns released keys whose time has come', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const s = await env.open();
      const now = later(10_000);
      const plan: Array<[string, 'released' | 'disabled' | 'enabled', Date | null]> = [
        ['due-late', 'released', later(9_000)],
        ['due-early', 'released', later(1_000)],
        ['due-exact', 'released', now],
        ['not-yet', 'released', later(10_001)],
        ['disabled', 'disabled', null],
        ['enabled', 'enabled', null],
      ];
      for (const [id, state, at] of plan) {
        const k = await s.keys.create(newKey(id), newVersion(id), { overwrite: false });
        if (state !== 'enabled') await s.keys.setState(id, k.revision, { state, destroyAt: at, updatedAt: T0 });
      }
      const due = await s.keys.dueForDestruction(now, 10);
      assert.deepEqual(due.map((k) => k.id), ['due-early', 'due-late', 'due-exact']);
      assert.deepEqual((await s.keys.dueForDestruction(now, 2)).map((k) => k.id), ['due-early', 'due-late']);
      assert.deepEqual(await s.keys.dueForDestruction(T0, 10), []);
      // Once destroyed it is no longer due.
      const k = (await s.keys.get('due-early'))!;
      await s.keys.destroy('due-early', k.revision, now);
      assert.deepEqual((await s.keys.dueForDestruction(now, 10)).map((k) => k.id), ['due-late', 'due-exact']);
    });

    test('seal init happens once', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const s = await env.open();
      assert.equal(await s.seal.get(), undefined);
      const rec = {
        shares: 5,
        threshold: 3,
        wrappedRootKey: Buffer.from('iv-tag-ciphertext'),
        shareDigests: ['d1', 'd2', 'd3', 'd4', 'd5'],
        createdAt: T0,
      };
      const results = await Promise.allSettled([s.seal.init(rec), s.seal.init({ ...rec, shares: 3, threshold: 2 })]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const rejected = results.find((r) => r.status === 'rejected');
      conflict('already_initialized')(rejected?.reason);
      const got = await s.seal.get();
      assert.ok(got && Buffer.isBuffer(got.wrappedRootKey));
      assert.deepEqual(got, { ...rec, kind: 'shamir', hsmWrappedRootKey: null, hsmKeyRef: null });
      await assert.rejects(s.seal.init(rec), conflict('already_initialized'));
    });

    test('seal rewrap: compare-and-set on the wrapping it started from; shares and digests stay', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const s = await env.open();
      const rec = { shares: 3, threshold: 2, wrappedRootKey: Buffer.from('recovery-wrapped'), shareDigests: ['a', 'b', 'c'], createdAt: T0 };
      await s.seal.init(rec);
      const shamir = (await s.seal.get())!;
      const toHsm = { kind: 'pkcs11', hsmWrappedRootKey: Buffer.from('hsm-wrapped'), hsmKeyRef: '{"label":"seal"}' };
      // Two instances migrating from the same record: one wins, the other learns it lost.
      const both = await Promise.allSettled([s.seal.rewrap(shamir, toHsm), s.seal.rewrap(shamir, { ...toHsm, hsmKeyRef: '{"label":"other"}' })]);
      assert.equal(both.filter((r) => r.status === 'fulfilled').length, 1);
      conflict('revision_mismatch')(both.find((r) => r.status === 'rejected')?.reason);
      const hsm = (await s.seal.get())!;
      assert.equal(hsm.kind, 'pkcs11');
      assert.ok(Buffer.isBuffer(hsm.hsmWrappedRootKey));
      assert.deepEqual(hsm.shareDigests, rec.shareDigests);
      assert.deepEqual(hsm.wrappedRootKey, rec.wrappedRootKey);
      await assert.rejects(s.seal.rewrap(shamir, { kind: 'shamir', hsmWrappedRootKey: null, hsmKeyRef: null }), conflict('revision_mismatch'));
      await s.seal.rewrap(hsm, { kind: 'shamir', hsmWrappedRootKey: null, hsmKeyRef: null });
      assert.deepEqual(await s.seal.get(), { ...rec, kind: 'shamir', hsmWrappedRootKey: null, hsmKeyRef: null });
    });

    test('a key names its provider; versions keep a provider reference instead of sealed material; list filters by provider', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const s = await env.open();
      await s.keys.create(newKey('soft'), newVersion('soft'), { overwrite: false });
      const ref = JSON.stringify({ label: 'kw.hsm', id: '00ff' });
      const hsm = await s.keys.create({ ...newKey('hsm'), provider: 'pkcs11' }, { ...newVersion('hsm'), sealedMaterial: null, providerRef: ref }, { overwrite: false });
      assert.equal(hsm.provider, 'pkcs11');
      assert.equal((await s.keys.get('soft'))?.provider, 'software');
      const [v1] = await s.keys.versions('hsm');
      assert.equal(v1!.sealedMaterial, null);
      assert.equal(v1!.providerRef, ref);
      const added = await s.keys.addVersion('hsm', hsm.revision, { ...newVersion('hsm2'), sealedMaterial: null, providerRef: '{"label":"kw.hsm2"}' });
      assert.equal((await s.keys.version('hsm', 2))?.providerRef, '{"label":"kw.hsm2"}');
      assert.deepEqual((await s.keys.list({ limit: 10, provider: 'pkcs11' })).items.map((k) => k.id), ['hsm']);
      assert.deepEqual((await s.keys.list({ limit: 10, provider: 'software' })).items.map((k) => k.id), ['soft']);
      assert.deepEqual((await s.keys.list({ limit: 10, provider: 'kmip' })).items, []);
      await s.keys.destroy('hsm', added.revision, T0);
      // The tombstone still says where the key lived.
      assert.equal((await s.keys.version('hsm', 1))?.providerRef, ref);
    });

    test('auditChain and settings round-trips', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const s = await env.open();
      assert.equal(await s.auditChain.get('c1'), undefined);
      await s.auditChain.put({ chainId: 'c1', sequence: 1, hash: 'h1' });
      await s.auditChain.put({ chainId: 'c2', sequence: 7, hash: 'x' });
      assert.deepEqual(await s.auditChain.get('c1'), { chainId: 'c1', sequence: 1, hash: 'h1' });
      const big = 2 ** 40 + 3;
      await s.auditChain.put({ chainId: 'c1', sequence: big, hash: 'h2' });
      assert.deepEqual(await s.auditChain.get('c1'), { chainId: 'c1', sequence: big, hash: 'h2' });
      assert.deepEqual(await s.auditChain.get('c2'), { chainId: 'c2', sequence: 7, hash: 'x' });

      assert.equal(await s.settings.get('chain_id'), undefined);
      assert.equal(await s.settings.putIfAbsent('chain_id', 'first'), 'first');
      assert.equal(await s.settings.putIfAbsent('chain_id', 'second'), 'first');
      assert.equal(await s.settings.get('chain_id'), 'first');
      const raced = await Promise.all([s.settings.putIfAbsent('other', 'a'), s.settings.putIfAbsent('other', 'b')]);
      assert.equal(raced[0], raced[1], 'concurrent putIfAbsent agree on one value');
      await s.settings.put('chain_id', 'third');
      assert.equal(await s.settings.get('chain_id'), 'third');
      await s.settings.put('fresh', '');
      assert.equal(await s.settings.get('fresh'), '');
    });

    test('data survives close and reopen', async (t) => {
      const env = await freshEnv(t, dialect);
      if (!env) return;
      const a = await env.open();
      const k = await a.keys.create(newKey('persist', { x: 'y' }, T0), newVersion('p1', T0), { overwrite: false });
      await a.keys.addVersion('persist', k.revision, newVersion('p2', later(5)));
      await a.seal.init({ shares: 1, threshold: 1, wrappedRootKey: Buffer.from([0, 1, 2, 255]), shareDigests: ['d'], createdAt: T0 });
      await a.auditChain.put({ chainId: 'c', sequence: 42, hash: 'h' });
      await a.settings.put('n', 'v');
      const snapshot = {
        key: await a.keys.get('persist'),
        versions: await a.keys.versions('persist'),
        seal: await a.seal.get(),
        chain: await a.auditChain.get('c'),
        setting: await a.settings.get('n'),
      };
      await a.close();
      const b = await env.open();
      assert.deepEqual(
        {
          key: await b.keys.get('persist'),
          versions: await b.keys.versions('persist'),
          seal: await b.seal.get(),
          chain: await b.auditChain.get('c'),
          setting: await b.settings.get('n'),
        },
        snapshot,
      );
    });
  });
}

storeSuite('sqlite');
storeSuite('postgres');

test('storageConfigSchema', () => {
  assert.deepEqual(storageConfigSchema.parse({ type: 'sqlite' }), { type: 'sqlite', path: './data/keyward.db', busy_timeout: 5000 });
  assert.deepEqual(storageConfigSchema.parse({ type: 'sqlite', busy_timeout: '250ms' }), { type: 'sqlite', path: './data/keyward.db', busy_timeout: 250 });
  assert.deepEqual(storageConfigSchema.parse({ type: 'postgres', url: 'postgres://h/db', schema: 'keyward', pool_max: 5 }), {
    type: 'postgres',
    url: 'postgres://h/db',
    schema: 'keyward',
    pool_max: 5,
    connect_timeout: 5000,
  });
  assert.deepEqual(storageConfigSchema.parse({ type: 'postgres', url: 'u', connect_timeout: '2s' }), { type: 'postgres', url: 'u', connect_timeout: 2000 });
  assert.equal(storageConfigSchema.safeParse({ type: 'postgres', url: 'u', connect_timeout: 'soon' }).success, false);
  assert.equal(storageConfigSchema.safeParse({ type: 'postgres' }).success, false, 'url is required');
  assert.equal(storageConfigSchema.safeParse({ type: 'sqlite', path: 'x', url: 'y' }).success, false, 'strict');
  assert.equal(storageConfigSchema.safeParse({ type: 'mysql' }).success, false);
  assert.equal(storageConfigSchema.safeParse({ type: 'postgres', url: 'u', schema: 'a b; drop' }).success, false);
});
