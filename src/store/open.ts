// Opening a store: configuration fragment, connection, migrations.
import { mkdir, open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import type { Logger } from 'pino';
import { z } from 'zod';
import { duration } from '../core/duration.ts';
import { ChangeFeed } from './changes.ts';
import { KyselyStore } from './kysely-store.ts';
import { migrationProvider, type StoreDialect } from './migrations.ts';
import type { Database } from './schema.ts';
import { nodeSqliteDialect } from './sqlite-dialect.ts';
import type { Store } from './types.ts';

/** Plain lower-case identifiers only: the name goes into a connection option and into DDL unquoted. */
const SCHEMA_NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export const storageConfigSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('sqlite'),
      path: z.string().min(1).default('./data/keyward.db'),
      /**
       * How long a write waits for another process's lock before it is answered 503 storage.unavailable. node:sqlite
       * waits synchronously: the whole process stalls meanwhile, so keep it short.
       */
      busy_timeout: duration().prefault('5s'),
    })
    .strict(),
  z
    .object({
      type: z.literal('postgres'),
      url: z.string().min(1),
      schema: z.string().regex(SCHEMA_NAME_RE, 'a lower-case SQL identifier').optional(),
      pool_max: z.number().int().min(1).max(1000).optional(),
      /** How long a request waits for a new connection before it is answered 503 storage.unavailable. */
      connect_timeout: duration().prefault('5s'),
    })
    .strict(),
]);

/** A database URL without its password, for messages and logs. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

export type StoreConfig =
  | { type: 'sqlite'; path: string; busy_timeout?: number | undefined }
  | { type: 'postgres'; url: string; schema?: string | undefined; pool_max?: number | undefined; connect_timeout?: number | undefined };

/**
 * `logger` hears when PostgreSQL becomes unavailable and when it is back (once per transition). `existing`: a reader
 * of a store something else made (an export): nothing is created or migrated, not the file, schema or tables.
 */
export async function openStore(cfg: StoreConfig, opts: { logger?: Logger | undefined; existing?: boolean | undefined } = {}): Promise<Store> {
  let db: Kysely<Database>;
  let migrationSchema: string | undefined;
  if (cfg.type === 'sqlite') {
    if (cfg.path !== ':memory:' && !opts.existing) {
      // Key material (sealed) and metadata: owner only, like the audit key and the trail. The file is created
      // before SQLite opens it because SQLite would create it 0644 and gives its -wal and -shm files the database
      // file's mode. Existing files and directories keep the mode an operator gave them.
      await mkdir(dirname(resolve(cfg.path)), { recursive: true, mode: 0o700 });
      await (await open(cfg.path, 'a', 0o600)).close();
    }
    db = new Kysely<Database>({ dialect: nodeSqliteDialect(cfg.path, { logger: opts.logger, busyTimeoutMs: cfg.busy_timeout }) });
  } else {
    if (cfg.schema !== undefined && !SCHEMA_NAME_RE.test(cfg.schema)) {
      throw new TypeError('storage.schema must be a lower-case SQL identifier');
    }
    // pg is loaded only for a PostgreSQL store.
    const { ResilientPool } = await import('./pg-pool.ts');
    const pool = new ResilientPool({
      connectionString: cfg.url,
      max: cfg.pool_max ?? 10,
      connectTimeoutMs: cfg.connect_timeout ?? 5000,
      options: cfg.schema !== undefined ? `-c search_path=${cfg.schema}` : undefined,
      logger: opts.logger,
    });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  try {
    if (!opts.existing) {
      if (cfg.type === 'postgres') migrationSchema = await preparePostgresSchema(db, cfg.schema);
      await migrate(db, cfg.type, migrationSchema);
    }
  } catch (e) {
    await db.destroy().catch(() => {});
    throw e;
  }
  return new KyselyStore(db, cfg.type, cfg.type === 'postgres' ? new ChangeFeed({ url: cfg.url, schema: cfg.schema }) : undefined);
}

/** Creates the configured schema if needed; returns the schema the tables live in. */
async function preparePostgresSchema(db: Kysely<Database>, schema: string | undefined): Promise<string> {
  if (schema !== undefined) {
    try {
      await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
    } catch (e) {
      // Concurrent "if not exists" can still collide on the catalog's unique index; the schema exists then.
      if ((e as { code?: unknown }).code !== '23505') throw e;
    }
    return schema;
  }
  // Kysely's Migrator looks for its own tables in every schema unless told which one; pin it to ours.
  const r = await sql<{ s: string | null }>`select current_schema() as s`.execute(db);
  const current = r.rows[0]?.s;
  if (!current) throw new Error('PostgreSQL search_path names no existing schema');
  return current;
}

async function migrate(db: Kysely<Database>, dialect: StoreDialect, schema: string | undefined): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider(dialect),
    ...(schema !== undefined ? { migrationTableSchema: schema } : {}),
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
}
