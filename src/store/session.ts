// A PostgreSQL connection of its own, outside the pool, for what lives as long as its session: the audit chain's
// writer lock, the leader lease, the invalidation listener. Each is named in pg_stat_activity for operators.
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
export async function sessionClient(cfg: SessionConfig, what: string, onLost: (client: pg.Client, why: string) => void, opts: { queryTimeout?: boolean } = {}): Promise<pg.Client> {
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
export async function endSession(client: pg.Client): Promise<void> {
  client.removeAllListeners('end');
  await client.end().catch(() => {});
}
