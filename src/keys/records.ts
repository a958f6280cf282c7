// The store keeps a key's type as the string it wrote; the key service reads records back as the key types its
// families declare. A row of a type no family knows (written by a newer Keyward, or edited by hand) fails loudly
// (500 crypto.key_type_unknown) instead of being used as some other type.
import type { KeyState } from '../core/keys.ts';
import type { CommitGuard as StoredCommitGuard, KeyRecord as StoredKeyRecord, KeyRepository as StoredKeyRepository, KeyVersionRecord, ListKeysQuery, NewKey as StoredNewKey, NewKeyVersion, Page } from '../store/types.ts';
import { ProblemError } from '../core/problem.ts';
import { familyOf, type KeyType } from './families/index.ts';
import { PROVIDER_NAMES, type ProviderName } from './providers/types.ts';

export type { KeyVersionRecord, NewKeyVersion, ListKeysQuery, Page };
export type KeyRecord = Omit<StoredKeyRecord, 'type' | 'provider'> & { type: KeyType; provider: ProviderName };
export type NewKey = Omit<StoredNewKey, 'type' | 'provider'> & { type: KeyType; provider: ProviderName };
export type CommitGuard = (record: KeyRecord) => Promise<void>;

/** A stored record as the key service sees it: its type checked against the family registry, its provider known. */
export function typed(r: StoredKeyRecord): KeyRecord {
  familyOf(r.type as KeyType);
  if (!(PROVIDER_NAMES as readonly string[]).includes(r.provider)) {
    throw new ProblemError({ code: 'key.provider_unknown', detail: `key ${r.id} names provider ${JSON.stringify(r.provider)}, which this Keyward does not know` });
  }
  return r as KeyRecord;
}

const guarded = (guard: CommitGuard | undefined): StoredCommitGuard | undefined => (guard ? (r) => guard(typed(r)) : undefined);

/** The store's key repository with typed records: the one door between the key service and stored rows. */
export interface KeyRepository {
  create(key: NewKey, first: NewKeyVersion, opts: { overwrite: boolean; guard?: CommitGuard }): Promise<KeyRecord>;
  get(id: string): Promise<KeyRecord | undefined>;
  versions(id: string): Promise<KeyVersionRecord[]>;
  version(id: string, version: number): Promise<KeyVersionRecord | undefined>;
  list(q: ListKeysQuery): Promise<Page<KeyRecord>>;
  addVersion(id: string, expectedRevision: number, v: NewKeyVersion, guard?: CommitGuard): Promise<KeyRecord>;
  setState(id: string, expectedRevision: number, patch: { state: KeyState; destroyAt: Date | null; updatedAt: Date }, guard?: CommitGuard): Promise<KeyRecord>;
  destroy(id: string, expectedRevision: number, at: Date, guard?: CommitGuard): Promise<KeyRecord>;
  dueForDestruction(now: Date, limit: number): Promise<KeyRecord[]>;
}

export function typedKeyRepository(repo: StoredKeyRepository): KeyRepository {
  return {
    create: async (key, first, opts) => typed(await repo.create(key, first, { overwrite: opts.overwrite, guard: guarded(opts.guard) })),
    get: async (id) => {
      const r = await repo.get(id);
      return r && typed(r);
    },
    versions: (id) => repo.versions(id),
    version: (id, v) => repo.version(id, v),
    list: async (q) => {
      const page = await repo.list(q);
      return { items: page.items.map(typed), nextCursor: page.nextCursor };
    },
    addVersion: async (id, rev, v, guard) => typed(await repo.addVersion(id, rev, v, guarded(guard))),
    setState: async (id, rev, patch, guard) => typed(await repo.setState(id, rev, patch, guarded(guard))),
    destroy: async (id, rev, at, guard) => typed(await repo.destroy(id, rev, at, guarded(guard))),
    dueForDestruction: async (now, limit) => (await repo.dueForDestruction(now, limit)).map(typed),
  };
}
