// Opening a store: configuration fragment, connection, migrations.
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { z } from 'zod';
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
    })
    .strict(),
  z
    .object({
      type: z.literal('postgres'),
      url: z.string().min(1),
      schema: z.string().regex(SCHEMA_NAME_RE, 'a lower-case SQL identifier').optional(),
      pool_max: z.number().int().min(1).max(1000).optional(),
    })
    .strict(),
]);

export type StoreConfig =
  | { type: 'sqlite'; path: string }
  | { type: 'postgres'; url: string; schema?: string | undefined; pool_max?: number | undefined };

export async function openStore(cfg: StoreConfig): Promise<Store> {
  let db: Kysely<Database>;
  let migrationSchema: string | undefined;
  if (cfg.type === 'sqlite') {
    if (cfg.path !== ':memory:') await mkdir(dirname(resolve(cfg.path)), { recursive: true });
    db = new Kysely<Database>({ dialect: nodeSqliteDialect(cfg.path) });
  } else {
    if (cfg.schema !== undefined && !SCHEMA_NAME_RE.test(cfg.schema)) {
      throw new TypeError('storage.schema must be a lower-case SQL identifier');
    }
    const pool = new pg.Pool({
      connectionString: cfg.url,
      max: cfg.pool_max ?? 10,
      ...(cfg.schema !== undefined ? { options: `-c search_path=${cfg.schema}` } : {}),
    });
    // An idle client that loses its connection emits 'error' on the pool; unhandled, that would crash the
    // process. The pool drops the client and the next query reconnects or fails where it can be handled.
    pool.on('error', () => {});
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  try {
    if (cfg.type === 'postgres') migrationSchema = await preparePostgresSchema(db, cfg.schema);
    await migrate(db, cfg.type, migrationSchema);
  } catch (e) {
    await db.destroy().catch(() => {});
    throw e;
  }
  return new KyselyStore(db, cfg.type);
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
