// Which instance runs the background work that must happen once (the release sweeper, the identity provider's
// grant sweep), when several `keyward serve` share one PostgreSQL database: the one holding a session-level
// advisory lock, taken on a connection of its own and held while it leads. A leader that dies (kill -9, host
// down) loses its session and with it the lock; the others try again every few seconds, so one of them takes
// over within seconds. The jobs stay correct if two instances ever overlap (every write they make is revision
// checked), the lock only keeps them from doing the same work twice. SQLite has one process: it always leads.
import type pg from 'pg';
import type { Logger } from 'pino';
import { endSession, sessionClient, type SessionConfig } from './session.ts';

export interface Leadership {
  /** Whether this instance runs the once-only background work now. */
  readonly leader: boolean;
  close(): Promise<void>;
}

/** One process on the database (SQLite): always the leader. */
export const soleLeader: Leadership = { leader: true, close: async () => {} };

export type LeaderLeaseConfig = SessionConfig;

/** How often a follower asks for the lock, and a leader checks its connection. */
export const LEADER_RETRY_MS = 2000;

export class LeaderLease implements Leadership {
  readonly #cfg: LeaderLeaseConfig;
  readonly #name: string;
  readonly #logger: Logger;
  readonly #retryMs: number;
  #client: pg.Client | undefined;
  #leader = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> = Promise.resolve();

  private constructor(cfg: LeaderLeaseConfig, name: string, logger: Logger, retryMs: number) {
    this.#cfg = cfg;
    this.#name = name;
    this.#logger = logger;
    this.#retryMs = retryMs;
  }

  /** Starts competing for the lease named `name` (scoped to the schema); resolves after the first attempt. */
  static async start(cfg: LeaderLeaseConfig, name: string, logger: Logger, retryMs = LEADER_RETRY_MS): Promise<LeaderLease> {
    const lease = new LeaderLease(cfg, name, logger, retryMs);
    await lease.#attempt();
    lease.#schedule();
    return lease;
  }

  get leader(): boolean {
    return this.#leader;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#round = this.#attempt().finally(() => this.#schedule());
    }, this.#retryMs);
    this.#timer.unref();
  }

  async #attempt(): Promise<void> {
    try {
      const client = this.#client ?? (await this.#connect());
      if (this.#leader) {
        // A leader whose connection silently died must not go on believing it leads.
        await client.query('select 1');
        return;
      }
      const r = await client.query<{ ok: boolean }>(
        `select pg_try_advisory_lock(hashtextextended('keyward:' || coalesce($2::text, current_schema(), '') || ':leader:' || $1::text, 0)) as ok`,
        [this.#name, this.#cfg.schema ?? null],
      );
      if (r.rows[0]?.ok && !this.#closed && this.#client === client) {
        this.#leader = true;
        this.#logger.info({ lease: this.#name }, 'this instance now runs the background jobs (leader)');
      }
    } catch (e) {
      this.#drop(this.#client, (e as Error).message);
    }
  }

  async #connect(): Promise<pg.Client> {
    const client = await sessionClient(this.#cfg, `leader ${this.#name}`, (c, why) => this.#drop(c, why));
    try {
      await client.connect();
      if (this.#closed) throw new Error('closed');
    } catch (e) {
      await endSession(client);
      throw e;
    }
    this.#client = client;
    return client;
  }

  /** The session (and with it the lock, if held) is gone or no longer trusted: lead no more, start over. */
  #drop(client: pg.Client | undefined, why: string): void {
    if (client === undefined || this.#client !== client) return;
    this.#client = undefined;
    void endSession(client);
    if (this.#leader) {
      this.#leader = false;
      if (!this.#closed) this.#logger.warn({ lease: this.#name, why }, 'leader connection lost: background jobs stop here until the lease is taken again');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#round.catch(() => {});
    const c = this.#client;
    this.#leader = false;
    this.#client = undefined;
    // Ending the session releases the lock: another instance takes over at its next attempt.
    if (c) await endSession(c);
  }
}
