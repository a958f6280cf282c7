// The PostgreSQL connection pool as Kysely sees it, made to survive the database going away. pg emits 'error' on
// a client whose connection drops (server shutdown, crash, network); on a client that is checked out, no one
// listens, and an unhandled 'error' ends the process. Here every client has a listener, a client that lost its
// connection is marked (pg-pool drops it on release), and failures to connect or of a lost connection become
// StoreUnavailableError (503 storage.unavailable). Answers from a live server (constraint violations and the
// like) pass through unchanged. The pool reconnects on demand, so service resumes once the server is back.
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import { StoreUnavailableError } from './errors.ts';

/**
 * SQLSTATEs that mean the server cannot do work now rather than that the statement is wrong: connection
 * exceptions (class 08), shutting down or starting up (57P01-57P03), too many connections (53300).
 */
function isUnavailableSqlState(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300');
}

/** Socket-level failures a query can end with. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

export interface ResilientPoolOptions {
  connectionString: string;
  max: number;
  /** libpq-style options (search_path). */
  options?: string | undefined;
  /** How long to wait for a new connection before answering storage.unavailable. */
  connectTimeoutMs: number;
  logger?: Logger | undefined;
}

export class ResilientPool implements PostgresPool {
  readonly #pool: pg.Pool;
  readonly #logger: Logger | undefined;
  /** Clients whose connection failed; their later query errors are about that, not about the statement. */
  readonly #lost = new WeakSet<pg.PoolClient>();
  readonly #wrapped = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  #available = true;

  constructor(o: ResilientPoolOptions) {
    this.#logger = o.logger;
    this.#pool = new pg.Pool({
      connectionString: o.connectionString,
      max: o.max,
      connectionTimeoutMillis: o.connectTimeoutMs,
      // Notice a peer that vanished without closing the connection (a host down, a partition).
      keepAlive: true,
      ...(o.options !== undefined ? { options: o.options } : {}),
    });
    // An idle client that loses its connection emits 'error' on the pool, which drops it.
    this.#pool.on('error', (e) => this.#down(e));
    // A checked-out one emits on itself: listen on every client from its birth.
    this.#pool.on('connect', (client) => {
      client.on('error', (e) => {
        this.#lost.add(client);
        this.#down(e);
      });
    });
  }

  async connect(): Promise<PostgresPoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      this.#down(e);
      throw new StoreUnavailableError('the database cannot be reached', e);
    }
    let wrapped = this.#wrapped.get(client);
    if (!wrapped) {
      wrapped = {
        query: ((sql: string, params: ReadonlyArray<unknown>) =>
          client.query(sql, params as unknown[]).then(
            (r) => (this.#up(), r),
            (e: unknown) => {
              throw this.#classify(client, e);
            },
          )) as unknown as PostgresPoolClient["query"],
        release: () => client.release(),
      };
      this.#wrapped.set(client, wrapped);
    }
    return wrapped;
  }

  end(): Promise<void> {
    return this.#pool.end();
  }

  #classify(client: pg.PoolClient, e: unknown): unknown {
    if (e instanceof pg.DatabaseError) {
      if (!isUnavailableSqlState(e.code)) return e;
    } else {
      const code = (e as { code?: unknown } | null)?.code;
      // pg reports a dropped connection with a plain Error (no code); the client's 'error' event marked it.
      if (!this.#lost.has(client) && !(typeof code === 'string' && NETWORK_CODES.has(code))) return e;
    }
    this.#lost.add(client);
    this.#down(e);
    return new StoreUnavailableError('the database connection was lost', e);
  }

  /** Logs the transitions only, not every failed request. */
  #down(e: unknown): void {
    if (!this.#available) return;
    this.#available = false;
    const err = e as { code?: unknown; message?: unknown };
    this.#logger?.error({ err: { code: err?.code, message: err?.message } }, 'PostgreSQL unavailable; requests needing storage get 503 storage.unavailable until it is back');
  }

  #up(): void {
    if (this.#available) return;
    this.#available = true;
    this.#logger?.warn('PostgreSQL reachable again');
  }
}
