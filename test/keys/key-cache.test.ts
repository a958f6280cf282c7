// The key metadata cache: a load that an invalidation overtook is not cached (it read the state before the change,
// and caching it would keep that state for a whole TTL after the invalidation).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyCache } from '../../src/keys/key-cache.ts';
import type { KeyRecord } from '../../src/keys/records.ts';

const entry = (id: string, revision: number) => ({
  record: { id, type: 'EC-P256', state: 'enabled', labels: {}, description: null, currentVersion: 1, revision, createdAt: new Date(0), updatedAt: new Date(0), destroyAt: null, origin: 'generated', provider: 'software' } as KeyRecord,
  versions: [],
  loadedAt: 0,
});

test('a load overtaken by an invalidation of its key is not cached; of another key, it is', () => {
  const cache = new KeyCache(60_000);
  const ticket = cache.ticket();
  cache.invalidate('k'); // the change's announcement arrives while the load is reading the old state
  cache.putMeta(entry('k', 1), ticket);
  assert.equal(cache.getMeta('k', 0), undefined);

  const later = cache.ticket();
  cache.invalidate('other');
  cache.putMeta(entry('k', 2), later);
  assert.equal(cache.getMeta('k', 0)?.record.revision, 2);
});

test('dropping everything also refuses loads that started before', () => {
  const cache = new KeyCache(60_000);
  const ticket = cache.ticket();
  cache.dropAllMaterial();
  cache.putMeta(entry('k', 1), ticket);
  assert.equal(cache.getMeta('k', 0), undefined);
  cache.putMeta(entry('k', 2), cache.ticket());
  assert.equal(cache.getMeta('k', 0)?.record.revision, 2);
});

test('past the bound on remembered invalidations, loads older than the forgetting are refused', () => {
  const cache = new KeyCache(60_000);
  const ticket = cache.ticket();
  cache.invalidate('k');
  for (let i = 0; i < 10_000; i++) cache.invalidate(`other-${i}`);
  cache.putMeta(entry('k', 1), ticket);
  assert.equal(cache.getMeta('k', 0), undefined);
});
