// A PostgreSQL connection of its own, outside the pool, for what lives as long as its session: the audit chain's
// writer lock, the leader lease, the invalidation listener. Each is named in pg_stat_activity for operators.
// `Session` holds the connection slot they share (connect, drop on loss, one retry timer, close); what a loss means
// (reconnect, the lock lost for good, leadership given up) is each owner's.
import type pg from 'pg';

export interface SessionConfig {
  url: string;
  schema?: string | undefined;
}

const TIMEOUT_MS = 5000;

/**
 * An unconnected client named `keyward <what>`, on the configured schema. `onLost` hears a dropped connection
 * (without an 'error' listener, one would crash the process). `queries: false` for a session that only listens.
 */
async function sessionClient(cfg: SessionConfig, what: string, onLost: (client: pg.Client, why: string) => void, opts: { queryTimeout?: boolean } = {}): Promise<pg.Client> {
  // The driver is loaded by the first session: a server on SQLite never loads it.
  const { default: driver } = await import('pg');
  const client = new driver.Client({
    connectionString: cfg.url,
    connectionTimeoutMillis: TIMEOUT_MS,
    ...(opts.queryTimeout === false ? {} : { query_timeout: TIMEOUT_MS }),
    // Notice a peer that vanished without closing the connection (a host down, a partition).
    keepAlive: true,
    application_name: `keyward ${what}`.slice(0, 63),
    ...(cfg.schema !== undefined ? { options: `-c search_path=${cfg.schema}` } : {}),
  });
  client.on('error', (e) => onLost(client, e.message));
  client.on('end', () => onLost(client, 'connection ended'));
  return client;
}

/** Closes a client without hearing about it as a loss. */
async function endSession(client: pg.Client): Promise<void> {
  client.removeAllListeners('end');
  await client.end().catch(() => {});
}

export interface SessionOptions {
  /** `false` for a session that only listens (no query runs long enough to need one). */
  queryTimeout?: boolean;
  /**
   * Runs on each fresh connection before it becomes the current one (LISTEN, take a lock). A throw ends that
   * connection and is rethrown by connect().
   */
  setup?: (client: pg.Client) => Promise<void>;
  /** The current connection was lost or given up (not on close, nor on end()); the owner decides whether to reconnect. */
  lost: (why: string) => void;
}

/**
 * The connection slot shared by the sessions above: at most one current connection, losses of any other (an old
 * one still closing) ignored, one pending timer for the owner's next attempt, and nothing new after close. What
 * to do on a loss (reconnect, lose a lock for good, stop leading) stays with the owner.
 */
export class Session {
  readonly #cfg: SessionConfig;
  readonly #what: string;
  readonly #opts: SessionOptions;
  #client: pg.Client | undefined;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(cfg: SessionConfig, what: string, opts: SessionOptions) {
    this.#cfg = cfg;
    this.#what = what;
    this.#opts = opts;
  }

  /** The current connection, if any. */
  get client(): pg.Client | undefined {
    return this.#client;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Opens a connection, runs setup on it and makes it the current one; on any failure it is ended and the error thrown. */
  async connect(): Promise<pg.Client> {
    const client = await sessionClient(this.#cfg, this.#what, (c, why) => this.drop(c, why), this.#opts.queryTimeout === false ? { queryTimeout: false } : {});
    try {
      await client.connect();
      await this.#opts.setup?.(client);
      // Closed meanwhile: nobody would end this connection (or release what setup took on it).
      if (this.#closed) throw new Error('closed');
    } catch (e) {
      await endSession(client);
      throw e;
    }
    this.#client = client;
    return client;
  }

  /** Gives up `client` if it is still the current connection: ends it and tells the owner why. */
  drop(client: pg.Client | undefined, why: string): void {
    if (client === undefined || this.#client !== client) return;
    this.#client = undefined;
    void endSession(client);
    this.#opts.lost(why);
  }

  /** Ends the current connection without telling the owner. */
  async end(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    if (c) await endSession(c);
  }

  /** Runs `fn` after `ms` (one pending at a time: a call while one is pending is ignored); never after close. */
  later(ms: number, fn: () => void): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      fn();
    }, ms);
    this.#timer.unref();
  }

  /** Nothing new from now on: the pending timer is cancelled, no connection becomes current. The current one stays. */
  stop(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async close(): Promise<void> {
    this.stop();
    await this.end();
  }
}
