// Which instance runs the background work that must happen once (the release sweeper, the identity provider's
// grant sweep), when several `keyward serve` share one PostgreSQL database: the one holding a session-level
// advisory lock, taken on a connection of its own and held while it leads. A leader that dies (kill -9, host
// down) loses its session and with it the lock; the others try again every few seconds, so one of them takes
// over within seconds. The jobs stay correct if two instances ever overlap (every write they make is revision
// checked), the lock only keeps them from doing the same work twice. SQLite has one process: it always leads.
import type { Logger } from 'pino';
import { Session, type SessionConfig } from './session.ts';

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
  readonly #session: Session;
  #leader = false;
  #round: Promise<void> = Promise.resolve();

  private constructor(cfg: LeaderLeaseConfig, name: string, logger: Logger, retryMs: number) {
    this.#cfg = cfg;
    this.#name = name;
    this.#logger = logger;
    this.#retryMs = retryMs;
    // The session (and with it the lock, if held) is gone or no longer trusted: lead no more; the next round starts over.
    this.#session = new Session(cfg, `leader ${name}`, {
      lost: (why) => {
        if (!this.#leader) return;
        this.#leader = false;
        if (!this.#session.closed) this.#logger.warn({ lease: this.#name, why }, 'leader connection lost: background jobs stop here until the lease is taken again');
      },
    });
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
    this.#session.later(this.#retryMs, () => {
      this.#round = this.#attempt().finally(() => this.#schedule());
    });
  }

  async #attempt(): Promise<void> {
    try {
      const client = this.#session.client ?? (await this.#session.connect());
      if (this.#leader) {
        // A leader whose connection silently died must not go on believing it leads.
        await client.query('select 1');
        return;
      }
      const r = await client.query<{ ok: boolean }>(
        `select pg_try_advisory_lock(hashtextextended('keyward:' || coalesce($2::text, current_schema(), '') || ':leader:' || $1::text, 0)) as ok`,
        [this.#name, this.#cfg.schema ?? null],
      );
      if (r.rows[0]?.ok && !this.#session.closed && this.#session.client === client) {
        this.#leader = true;
        this.#logger.info({ lease: this.#name }, 'this instance now runs the background jobs (leader)');
      }
    } catch (e) {
      this.#session.drop(this.#session.client, (e as Error).message);
    }
  }

  async close(): Promise<void> {
    this.#session.stop();
    await this.#round.catch(() => {});
    this.#leader = false;
    // Ending the session releases the lock: another instance takes over at its next attempt.
    await this.#session.end();
  }
}
