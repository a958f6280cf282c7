// Cache invalidation between instances sharing one PostgreSQL database, over LISTEN/NOTIFY. A write announces what
// it changed with pg_notify inside its own transaction: PostgreSQL delivers the notification only if, and once,
// the transaction commits, so no instance drops its cache for a write that rolled back, and none misses one that
// committed while its listening connection is up. Each instance listens on a connection of its own and drops the
// cached entry it hears about. While that connection is down, the caches' TTL (keys.cache_ttl) is the bound again;
// on reconnecting, every cached entry is dropped, since announcements made meanwhile were missed.
import { randomUUID } from 'node:crypto';
import { PostgresAdapter, sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import { Session, type SessionConfig } from './session.ts';

/** One channel per database; the schema travels in the payload (channel names are too short to carry it). */
export const CHANGE_CHANNEL = 'keyward_changes';

/** `key`: a key's state, versions or metadata; `realm`: the identity provider's tables of one realm. */
export type ChangeKind = 'key' | 'realm';

export interface Change {
  kind: ChangeKind;
  id: string;
}

/** What a listener hears: one change, or `undefined` when anything may have changed (announcements were missed). */
export type ChangeListener = (change: Change | undefined) => void;

const isPostgres = (db: Kysely<any>) => db.getExecutor().adapter instanceof PostgresAdapter;

/**
 * Announces a change from inside the transaction that makes it (delivered on commit). A no-op on SQLite, where
 * one process owns the database. `origin` lets the announcing process skip its own announcements.
 */
export async function announceChange(db: Kysely<any>, change: Change, origin?: string): Promise<void> {
  if (!isPostgres(db)) return;
  const body = JSON.stringify({ k: change.kind, i: change.id, ...(origin !== undefined ? { o: origin } : {}) });
  await sql`select pg_notify(${CHANGE_CHANNEL}, current_schema() || ' ' || ${body}::text)`.execute(db);
}

export type ChangeFeedConfig = SessionConfig;

const RECONNECT_MS = 1000;

/** The changes other instances announce in this schema. Created idle; `start()` opens the listening connection. */
export class ChangeFeed {
  /** Stamped on this process's own announcements (the store's writes), which its listener then skips. */
  readonly origin = randomUUID();
  readonly #cfg: ChangeFeedConfig;
  readonly #listeners = new Set<ChangeListener>();
  readonly #session: Session;
  #logger: Logger | undefined;
  #schema = '';
  #started = false;
  #everConnected = false;

  constructor(cfg: ChangeFeedConfig) {
    this.#cfg = cfg;
    // An idle listener runs no queries after LISTEN: no query timeout, keepalives notice a dead peer.
    this.#session = new Session(cfg, `changes ${cfg.schema ?? ''}`.trim(), {
      queryTimeout: false,
      setup: async (client) => {
        client.on('notification', (m) => {
          if (m.channel === CHANGE_CHANNEL && this.#session.client === client) this.#received(m.payload);
        });
        const r = await client.query<{ s: string | null }>('select current_schema() as s');
        await client.query(`listen ${CHANGE_CHANNEL}`);
        this.#schema = this.#cfg.schema ?? r.rows[0]?.s ?? '';
      },
      lost: (why) => {
        if (this.#session.closed) return;
        this.#logger?.warn({ why }, 'cache invalidation listener lost its connection; caches expire after keys.cache_ttl until it is back');
        this.#retry();
      },
    });
  }

  /** Whether announcements are being received now (otherwise the caches' TTL bounds staleness). */
  get listening(): boolean {
    return this.#session.client !== undefined;
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Opens the listening connection (resolves after the first attempt; a failed one is retried every second). */
  async start(logger: Logger): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#logger = logger;
    await this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#session.closed) return;
    try {
      await this.#session.connect();
    } catch (e) {
      if (!this.#session.closed) this.#logger?.warn({ err: (e as Error).message }, `cache invalidation listener cannot connect; caches expire after keys.cache_ttl meanwhile; retrying in ${RECONNECT_MS} ms`);
      this.#retry();
      return;
    }
    if (this.#everConnected) {
      this.#logger?.warn('cache invalidation listener reconnected; cached entries dropped');
      this.#emit(undefined);
    }
    this.#everConnected = true;
  }

  #retry(): void {
    this.#session.later(RECONNECT_MS, () => void this.#connect());
  }

  #received(payload: string | undefined): void {
    if (payload === undefined) return;
    const space = payload.indexOf(' ');
    if (space < 0 || payload.slice(0, space) !== this.#schema) return;
    let body: { k?: unknown; i?: unknown; o?: unknown };
    try {
      body = JSON.parse(payload.slice(space + 1)) as typeof body;
    } catch {
      return;
    }
    if (body.o === this.origin) return;
    if ((body.k === 'key' || body.k === 'realm') && typeof body.i === 'string') this.#emit({ kind: body.k, id: body.i });
  }

  #emit(change: Change | undefined): void {
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  async close(): Promise<void> {
    await this.#session.close();
  }
}
