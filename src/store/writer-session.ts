// One writer per audit chain on PostgreSQL: a session-level advisory lock, held on a connection of its own for the
// life of the process. The same connection reads and writes the few settings that must not go through the pool
// (the audit trail's acknowledgement state: the key writes' transactions hold pool connections while they wait
// for their audit event, so the pump that answers them cannot queue behind them).
//
// A session lock ends with its connection. If the connection drops, the session reconnects and takes the lock
// again; it then checks that every setting it wrote still holds what it wrote (another writer of the chain would
// have changed them). If the lock is taken or a value changed, the chain may have a second writer: lost() says so
// for good and the trail stops writing.
import type pg from 'pg';
import type { Logger } from 'pino';
import { Session, type SessionConfig } from './session.ts';

export class WriterLockHeldError extends Error {
  constructor(name: string) {
    super(`${name} is in use by another running Keyward (PostgreSQL advisory lock held)`);
    this.name = 'WriterLockHeldError';
  }
}

export type WriterSessionConfig = SessionConfig;

const RECONNECT_MS = 1000;

export class WriterSession {
  readonly #cfg: WriterSessionConfig;
  readonly #name: string;
  readonly #logger: Logger;
  readonly #session: Session;
  #lockKey = '';
  #lost: string | undefined;
  /**
   * What this session wrote, to tell after a reconnect whether anyone else wrote since: the last value known to be
   * stored, and one being written (which may or may not have landed when a connection dropped).
   */
  readonly #written = new Map<string, { stored?: string; attempted?: string }>();

  private constructor(cfg: WriterSessionConfig, name: string, logger: Logger) {
    this.#cfg = cfg;
    this.#name = name;
    this.#logger = logger;
    this.#session = new Session(cfg, `writer ${name}`, {
      setup: (client) => this.#lock(client),
      lost: (why) => {
        if (this.#session.closed) return;
        this.#logger.warn({ lock: this.#lockKey, why }, 'audit writer lock connection lost; reconnecting');
        this.#reconnectSoon();
      },
    });
  }

  /**
   * Connects and takes the lock named `name` (scoped to the schema); throws WriterLockHeldError if it is still
   * taken after `waitMs` (a session of a process killed a moment ago may take that long to be reaped).
   */
  static async open(cfg: WriterSessionConfig, name: string, logger: Logger, waitMs = 3000): Promise<WriterSession> {
    const s = new WriterSession(cfg, name, logger);
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        await s.#session.connect();
        return s;
      } catch (e) {
        if (!(e instanceof WriterLockHeldError) || Date.now() >= deadline) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  async #lock(client: pg.Client): Promise<void> {
    // Advisory locks are per database, not per schema: the schema is part of the name (the configured one, which
    // may not exist yet on a first start).
    const r = await client.query<{ ok: boolean; schema: string }>(
      `select pg_try_advisory_lock(hashtextextended('keyward:' || s.schema || ':' || $1::text, 0)) as ok, s.schema
         from (select coalesce($2::text, current_schema(), '') as schema) s`,
      [this.#name, this.#cfg.schema ?? null],
    );
    if (!r.rows[0]?.ok) throw new WriterLockHeldError(this.#name);
    this.#lockKey = `${r.rows[0].schema}:${this.#name}`;
  }

  #reconnectSoon(): void {
    if (this.#lost !== undefined) return;
    this.#session.later(RECONNECT_MS, () => void this.#reconnect());
  }

  async #reconnect(): Promise<void> {
    let client: pg.Client;
    try {
      client = await this.#session.connect();
    } catch (e) {
      if (e instanceof WriterLockHeldError) {
        this.#lose('another process took the lock while this one was disconnected');
        return;
      }
      this.#reconnectSoon();
      return;
    }
    for (const [name, value] of this.#written) {
      let now: string | undefined;
      try {
        now = await this.get(name);
      } catch {
        this.#session.drop(client, 'check after reconnect failed');
        return;
      }
      if (now === undefined || (now !== value.stored && now !== value.attempted)) {
        this.#lose(`${name} changed while this process was disconnected: another process wrote this chain`);
        return;
      }
    }
    this.#logger.warn({ lock: this.#lockKey }, 'audit writer lock taken again');
  }

  #lose(why: string): void {
    this.#lost = why;
    this.#logger.error({ lock: this.#lockKey, why }, 'AUDIT WRITER LOCK LOST: this instance stops writing its audit chain; restart it');
    void this.#session.end();
  }

  /** Why this process may no longer write (for good), or undefined. A connection being re-established is not a loss. */
  lost(): string | undefined {
    return this.#lost;
  }

  #live(): pg.Client {
    if (this.#lost !== undefined) throw new Error(`audit writer lock lost: ${this.#lost}`);
    const client = this.#session.client;
    if (!client) throw new Error('audit writer lock connection is down');
    return client;
  }

  async get(name: string): Promise<string | undefined> {
    const r = await this.#live().query<{ value: string }>('select value from settings where name = $1', [name]);
    return r.rows[0]?.value;
  }

  async put(name: string, value: string): Promise<void> {
    const client = this.#live();
    const w = this.#written.get(name) ?? {};
    this.#written.set(name, { ...w, attempted: value });
    try {
      await client.query('insert into settings (name, value) values ($1, $2) on conflict (name) do update set value = excluded.value', [name, value]);
    } catch (e) {
      // Whether it landed is unknown: start over on a fresh connection, which re-checks what was written.
      this.#session.drop(client, (e as Error).message);
      throw e;
    }
    this.#written.set(name, { stored: value });
  }

  async close(): Promise<void> {
    await this.#session.close();
  }
}
