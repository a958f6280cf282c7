// The repositories, written once on the Kysely query builder and shared by SQLite and PostgreSQL. The only
// dialect-specific piece is the label filter (jsonb containment vs json_each).
import { AsyncLocalStorage } from 'node:async_hooks';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { KeyState, Labels } from '../core/keys.ts';
import type { Database, DbDate, KeysTable, KeyVersionsTable } from './schema.ts';
import type { StoreDialect } from './migrations.ts';
import { announceChange, type ChangeFeed } from './changes.ts';
import {
  InvalidCursorError,
  StoreConflictError,
  type AuditChainHead,
  type AuditChainRepository,
  type CommitGuard,
  type KeyRecord,
  type KeyRepository,
  type KeyVersionRecord,
  type ListKeysQuery,
  type NewKey,
  type NewKeyVersion,
  type Page,
  type SealRecord,
  type SealRepository,
  type SettingsRepository,
  type Store,
} from './types.ts';

// Dates go in as ISO-8601 UTC text: SQLite compares them as text (fixed width, so order is chronological)
// and PostgreSQL casts the parameter to timestamptz.
const iso = (d: Date) => d.toISOString();
const date = (v: DbDate) => (v instanceof Date ? v : new Date(v));
const dateOrNull = (v: DbDate | null) => (v === null ? null : date(v));

/** Unique/primary-key violations, by driver code: SQLite extended result codes, PostgreSQL SQLSTATE. */
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;
export function isUniqueViolation(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const { code, errcode } = e as { code?: unknown; errcode?: unknown };
  if (code === '23505') return true;
  return code === 'ERR_SQLITE_ERROR' && (errcode === SQLITE_CONSTRAINT_PRIMARYKEY || errcode === SQLITE_CONSTRAINT_UNIQUE);
}

function toKey(r: Selectable<KeysTable>): KeyRecord {
  return {
    id: r.id,
    type: r.type as string,
    state: r.state as KeyState,
    labels: (typeof r.labels === 'string' ? JSON.parse(r.labels) : r.labels) as Labels,
    description: r.description,
    currentVersion: Number(r.current_version),
    revision: Number(r.revision),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
    destroyAt: dateOrNull(r.destroy_at),
    origin: r.origin as KeyRecord['origin'],
    provider: r.provider ?? 'software',
  };
}

function toVersion(r: Selectable<KeyVersionsTable>): KeyVersionRecord {
  return {
    keyId: r.key_id,
    version: Number(r.version),
    publicKeySpki: r.public_key_spki,
    fingerprint: r.fingerprint,
    sealedMaterial: r.sealed_material,
    providerRef: r.provider_ref ?? null,
    createdAt: date(r.created_at),
    destroyedAt: dateOrNull(r.destroyed_at),
  };
}

/**
 * A commit guard runs while its transaction holds the store's connection (SQLite has only one), so a guard that
 * calls back into the same store would wait forever on SQLite, and on PostgreSQL would write outside the
 * transaction. Such calls fail at once instead, on both dialects alike.
 */
class GuardScope {
  readonly #als = new AsyncLocalStorage<{ active: boolean }>();
  async run(guard: CommitGuard | undefined, rec: KeyRecord): Promise<void> {
    if (!guard) return;
    const scope = { active: true };
    try {
      await this.#als.run(scope, () => guard(rec));
    } finally {
      // Work the guard merely scheduled (timers, etc.) may use the store once the guard has settled.
      scope.active = false;
    }
  }
  check(): void {
    if (this.#als.getStore()?.active) {
      throw new Error('a commit guard must not call the store it guards (the transaction holds its connection)');
    }
  }
}

/**
 * Repositories reach the database only through `db`, which refuses a call made from inside a commit guard: the
 * check cannot be forgotten by a method added later.
 */
abstract class Repository {
  readonly #db: Kysely<Database>;
  protected readonly guards: GuardScope;
  constructor(db: Kysely<Database>, guards: GuardScope) {
    this.#db = db;
    this.guards = guards;
  }
  protected get db(): Kysely<Database> {
    this.guards.check();
    return this.#db;
  }
}

const encodeCursor = (id: string) => Buffer.from(id, 'utf8').toString('base64url');
/** A cursor is the base64url of the last key id of a page; anything else is refused rather than read as a position. */
const decodeCursor = (c: string) => {
  const id = Buffer.from(c, 'base64url').toString('utf8');
  if (!/^[A-Za-z0-9_-]+$/.test(c) || id === '' || Buffer.from(id, 'utf8').toString('base64url') !== c) {
    throw new InvalidCursorError('invalid cursor');
  }
  return id;
};

class Keys extends Repository implements KeyRepository {
  readonly #dialect: StoreDialect;
  readonly #origin: string | undefined;
  constructor(db: Kysely<Database>, dialect: StoreDialect, guards: GuardScope, origin: string | undefined) {
    super(db, guards);
    this.#dialect = dialect;
    this.#origin = origin;
  }

  /** Inside the write's transaction, before its guard: other instances drop their cached view on commit only. */
  #announce(trx: Transaction<Database>, id: string): Promise<void> {
    return announceChange(trx, { kind: 'key', id }, this.#origin);
  }

  async create(key: NewKey, first: NewKeyVersion, opts: { overwrite: boolean; guard?: CommitGuard }): Promise<KeyRecord> {
    const row = {
      id: key.id,
      type: key.type,
      state: 'enabled',
      labels: JSON.stringify(key.labels),
      description: key.description,
      current_version: 1,
      revision: 1,
      created_at: iso(key.createdAt),
      updated_at: iso(key.createdAt),
      destroy_at: null,
      origin: key.origin,
      provider: key.provider ?? 'software',
    };
    return await this.db.transaction().execute(async (trx) => {
      let inserted: Selectable<KeysTable>;
      if (opts.overwrite) {
        const { id: _id, revision: _revision, ...rest } = row;
        // Replace in place and keep counting revisions, so a writer holding a revision of the old key cannot
        // succeed against the new one. The upsert also locks the row against a concurrent overwrite.
        inserted = await trx
          .insertInto('keys')
          .values(row)
          .onConflict((oc) => oc.column('id').doUpdateSet({ ...rest, revision: sql<number>`keys.revision + 1` }))
          .returningAll()
          .executeTakeFirstOrThrow();
        await trx.deleteFrom('key_versions').where('key_id', '=', key.id).execute();
      } else {
        try {
          inserted = await trx.insertInto('keys').values(row).returningAll().executeTakeFirstOrThrow();
        } catch (e) {
          if (isUniqueViolation(e)) throw new StoreConflictError('key_exists', `key ${key.id} exists`);
          throw e;
        }
      }
      await trx
        .insertInto('key_versions')
        .values({
          key_id: key.id,
          version: 1,
          public_key_spki: first.publicKeySpki,
          fingerprint: first.fingerprint,
          sealed_material: first.sealedMaterial,
          provider_ref: first.providerRef ?? null,
          created_at: iso(first.createdAt),
          destroyed_at: null,
        })
        .execute();
      const rec = toKey(inserted);
      await this.#announce(trx, key.id);
      await this.guards.run(opts.guard, rec);
      return rec;
    });
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    const r = await this.db.selectFrom('keys').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toKey(r);
  }

  async versions(id: string): Promise<KeyVersionRecord[]> {
    const rows = await this.db.selectFrom('key_versions').selectAll().where('key_id', '=', id).orderBy('version').execute();
    return rows.map(toVersion);
  }

  async version(id: string, version: number): Promise<KeyVersionRecord | undefined> {
    const r = await this.db
      .selectFrom('key_versions')
      .selectAll()
      .where('key_id', '=', id)
      .where('version', '=', version)
      .executeTakeFirst();
    return r && toVersion(r);
  }

  async list(q: ListKeysQuery): Promise<Page<KeyRecord>> {
    const limit = Math.max(1, Math.floor(q.limit));
    let query = this.db.selectFrom('keys').selectAll().orderBy('id').limit(limit + 1);
    if (q.cursor) query = query.where('id', '>', decodeCursor(q.cursor));
    if (q.state) query = query.where('state', '=', q.state);
    if (q.provider) query = query.where('provider', '=', q.provider);
    // substr rather than LIKE: LIKE folds case in SQLite and treats `_` as a wildcard.
    if (q.excludeIdPrefix) query = query.where(sql<boolean>`substr(id, 1, ${q.excludeIdPrefix.length}) <> ${q.excludeIdPrefix}`);
    const labels = Object.entries(q.labels ?? {});
    if (labels.length > 0) {
      if (this.#dialect === 'postgres') {
        query = query.where(sql<boolean>`labels @> ${JSON.stringify(Object.fromEntries(labels))}::jsonb`);
      } else {
        for (const [k, v] of labels) {
          // json_each rather than a JSON path: label keys contain '.' and '/', which paths would interpret.
          query = query.where(
            sql<boolean>`exists (select 1 from json_each(keys.labels) as l where l.key = ${k} and l.value = ${v})`,
          );
        }
      }
    }
    const rows = await query.execute();
    const items = rows.slice(0, limit).map(toKey);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
  }

  async addVersion(id: string, expectedRevision: number, v: NewKeyVersion, guard?: CommitGuard): Promise<KeyRecord> {
    return await this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('keys')
        .set({
          current_version: sql<number>`current_version + 1`,
          revision: sql<number>`revision + 1`,
          updated_at: iso(v.createdAt),
        })
        .where('id', '=', id)
        .where('revision', '=', expectedRevision)
        .returningAll()
        .executeTakeFirst();
      if (!updated) throw await conflict(trx, id);
      await trx
        .insertInto('key_versions')
        .values({
          key_id: id,
          version: Number(updated.current_version),
          public_key_spki: v.publicKeySpki,
          fingerprint: v.fingerprint,
          sealed_material: v.sealedMaterial,
          provider_ref: v.providerRef ?? null,
          created_at: iso(v.createdAt),
          destroyed_at: null,
        })
        .execute();
      const rec = toKey(updated);
      await this.#announce(trx, id);
      await this.guards.run(guard, rec);
      return rec;
    });
  }

  async setState(
    id: string,
    expectedRevision: number,
    patch: { state: KeyState; destroyAt: Date | null; updatedAt: Date },
    guard?: CommitGuard,
  ): Promise<KeyRecord> {
    return await this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('keys')
        .set({
          state: patch.state,
          destroy_at: patch.destroyAt && iso(patch.destroyAt),
          updated_at: iso(patch.updatedAt),
          revision: sql<number>`revision + 1`,
        })
        .where('id', '=', id)
        .where('revision', '=', expectedRevision)
        .returningAll()
        .executeTakeFirst();
      if (!updated) throw await conflict(trx, id);
      const rec = toKey(updated);
      await this.#announce(trx, id);
      await this.guards.run(guard, rec);
      return rec;
    });
  }

  async destroy(id: string, expectedRevision: number, at: Date, guard?: CommitGuard): Promise<KeyRecord> {
    return await this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('keys')
        .set({ state: 'destroyed', destroy_at: null, updated_at: iso(at), revision: sql<number>`revision + 1` })
        .where('id', '=', id)
        .where('revision', '=', expectedRevision)
        .returningAll()
        .executeTakeFirst();
      if (!updated) throw await conflict(trx, id);
      await trx
        .updateTable('key_versions')
        .set({ sealed_material: null, destroyed_at: sql<DbDate>`coalesce(destroyed_at, ${iso(at)})` })
        .where('key_id', '=', id)
        .execute();
      const rec = toKey(updated);
      await this.#announce(trx, id);
      await this.guards.run(guard, rec);
      return rec;
    });
  }

  async dueForDestruction(now: Date, limit: number): Promise<KeyRecord[]> {
    const rows = await this.db
      .selectFrom('keys')
      .selectAll()
      .where('state', '=', 'released')
      .where('destroy_at', 'is not', null)
      .where('destroy_at', '<=', iso(now))
      .orderBy('destroy_at')
      .orderBy('id')
      .limit(Math.max(1, Math.floor(limit)))
      .execute();
    return rows.map(toKey);
  }
}

/** Why a revision-checked update matched no row. */
async function conflict(trx: Transaction<Database>, id: string): Promise<StoreConflictError> {
  const exists = await trx.selectFrom('keys').select('id').where('id', '=', id).executeTakeFirst();
  return exists
    ? new StoreConflictError('revision_mismatch', `key ${id} was changed concurrently`)
    : new StoreConflictError('not_found', `key ${id} not found`);
}

class Seal extends Repository implements SealRepository {
  async get(): Promise<SealRecord | undefined> {
    const r = await this.db.selectFrom('seal').selectAll().where('id', '=', 1).executeTakeFirst();
    if (!r) return undefined;
    return {
      shares: Number(r.shares),
      threshold: Number(r.threshold),
      wrappedRootKey: r.wrapped_root_key,
      shareDigests: JSON.parse(r.share_digests) as string[],
      createdAt: date(r.created_at),
      kind: r.kind ?? 'shamir',
      hsmWrappedRootKey: r.hsm_wrapped_root_key ?? null,
      hsmKeyRef: r.hsm_key_ref ?? null,
    };
  }
  async init(rec: SealRecord): Promise<void> {
    try {
      await this.db
        .insertInto('seal')
        .values({
          id: 1,
          shares: rec.shares,
          threshold: rec.threshold,
          wrapped_root_key: rec.wrappedRootKey,
          share_digests: JSON.stringify(rec.shareDigests),
          created_at: iso(rec.createdAt),
          kind: rec.kind ?? 'shamir',
          hsm_wrapped_root_key: rec.hsmWrappedRootKey ?? null,
          hsm_key_ref: rec.hsmKeyRef ?? null,
        })
        .execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw new StoreConflictError('already_initialized', 'the seal is already initialized');
      throw e;
    }
  }
  async rewrap(expected: SealRecord, next: Pick<SealRecord, 'kind' | 'hsmWrappedRootKey' | 'hsmKeyRef'>): Promise<void> {
    // Compare-and-set on the wrapping the caller started from: two instances recovering at once cannot both win.
    let q = this.db
      .updateTable('seal')
      .set({ kind: next.kind ?? 'shamir', hsm_wrapped_root_key: next.hsmWrappedRootKey ?? null, hsm_key_ref: next.hsmKeyRef ?? null })
      .where('id', '=', 1)
      .where('kind', '=', expected.kind ?? 'shamir');
    q = expected.hsmKeyRef ? q.where('hsm_key_ref', '=', expected.hsmKeyRef) : q.where('hsm_key_ref', 'is', null);
    const r = await q.executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) throw new StoreConflictError('revision_mismatch', 'the seal was changed concurrently');
  }
}

class AuditChain extends Repository implements AuditChainRepository {
  async get(chainId: string): Promise<AuditChainHead | undefined> {
    const r = await this.db.selectFrom('audit_chain_heads').selectAll().where('chain_id', '=', chainId).executeTakeFirst();
    return r && { chainId: r.chain_id, sequence: Number(r.sequence), hash: r.hash };
  }
  async put(head: AuditChainHead): Promise<void> {
    await this.db
      .insertInto('audit_chain_heads')
      .values({ chain_id: head.chainId, sequence: head.sequence, hash: head.hash })
      .onConflict((oc) => oc.column('chain_id').doUpdateSet({ sequence: head.sequence, hash: head.hash }))
      .execute();
  }
}

class Settings extends Repository implements SettingsRepository {
  async get(name: string): Promise<string | undefined> {
    const r = await this.db.selectFrom('settings').select('value').where('name', '=', name).executeTakeFirst();
    return r?.value;
  }
  async putIfAbsent(name: string, value: string): Promise<string> {
    await this.db.insertInto('settings').values({ name, value }).onConflict((oc) => oc.column('name').doNothing()).execute();
    const stored = await this.get(name);
    // Only a concurrent delete could get here, and nothing deletes settings.
    if (stored === undefined) throw new Error(`setting ${name} vanished`);
    return stored;
  }
  async put(name: string, value: string): Promise<void> {
    await this.db
      .insertInto('settings')
      .values({ name, value })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value }))
      .execute();
  }
}

export class KyselyStore implements Store {
  readonly dialect: StoreDialect;
  readonly keys: KeyRepository;
  readonly seal: SealRepository;
  readonly auditChain: AuditChainRepository;
  readonly settings: SettingsRepository;
  readonly changes: ChangeFeed | undefined;
  readonly #db: Kysely<Database>;
  readonly #guards = new GuardScope();

  constructor(db: Kysely<Database>, dialect: StoreDialect, changes?: ChangeFeed) {
    this.#db = db;
    this.dialect = dialect;
    this.changes = changes;
    this.keys = new Keys(db, dialect, this.#guards, changes?.origin);
    this.seal = new Seal(db, this.#guards);
    this.auditChain = new AuditChain(db, this.#guards);
    this.settings = new Settings(db, this.#guards);
  }

  get kysely(): Kysely<any> {
    return this.#db as Kysely<any>;
  }

  async ping(): Promise<void> {
    this.#guards.check();
    await sql`select 1`.execute(this.#db);
  }

  async close(): Promise<void> {
    await this.changes?.close();
    await this.#db.destroy();
  }
}
