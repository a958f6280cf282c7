// Kysely's SqliteDialect expects a better-sqlite3-like database; this adapter presents node:sqlite's
// DatabaseSync in that shape so we need no native addon.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { SqliteAdapter, SqliteDialect } from 'kysely';
import type { DialectAdapter, SqliteDatabase, SqliteStatement } from 'kysely';

type SqlValue = null | number | bigint | string | Uint8Array;

/** node:sqlite binds neither Date nor undefined; Buffers go through as Uint8Array. */
function toParam(v: unknown): SqlValue {
  if (v === undefined || v === null) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' || v instanceof Uint8Array) return v;
  throw new TypeError(`cannot bind a ${typeof v} to SQLite`);
}

/** node:sqlite returns BLOBs as Uint8Array; the repositories promise Buffer. */
function fromRow(row: unknown): unknown {
  const r = row as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    const v = r[k];
    if (v instanceof Uint8Array && !Buffer.isBuffer(v)) r[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }
  return r;
}

class Statement implements SqliteStatement {
  readonly reader: boolean;
  readonly #stmt: StatementSync;
  constructor(stmt: StatementSync) {
    this.#stmt = stmt;
    // A statement that yields columns (SELECT, PRAGMA, ... RETURNING) is read with all().
    this.reader = stmt.columns().length > 0;
  }
  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#stmt.all(...parameters.map(toParam)).map(fromRow);
  }
  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.#stmt.run(...parameters.map(toParam));
  }
  *iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    for (const row of this.#stmt.iterate(...parameters.map(toParam))) yield fromRow(row);
  }
}

const STATEMENT_CACHE_MAX = 128;

export class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  // Kysely prepares every query anew; re-preparing the same SQL in a loop is measurable, so keep a few.
  readonly #cache = new Map<string, Statement>();

  constructor(path: string) {
    this.#db = new DatabaseSync(path, { timeout: 5000 });
    this.#db.exec('PRAGMA journal_mode = WAL');
    // FULL: a committed key version must survive power loss, not only a process crash.
    this.#db.exec('PRAGMA synchronous = FULL');
    this.#db.exec('PRAGMA foreign_keys = ON');
    this.#db.exec('PRAGMA busy_timeout = 5000');
  }

  prepare(sql: string): SqliteStatement {
    // Kysely opens transactions with a deferred BEGIN. Under WAL a deferred transaction that later writes can
    // fail with SQLITE_BUSY without waiting when another process wrote first; IMMEDIATE takes the write lock up
    // front (every transaction here writes) so busy_timeout applies.
    if (/^\s*begin\s*$/i.test(sql)) sql = 'BEGIN IMMEDIATE';
    let stmt = this.#cache.get(sql);
    if (stmt === undefined) {
      stmt = new Statement(this.#db.prepare(sql));
      if (this.#cache.size >= STATEMENT_CACHE_MAX) {
        const oldest = this.#cache.keys().next().value;
        if (oldest !== undefined) this.#cache.delete(oldest);
      }
      this.#cache.set(sql, stmt);
    }
    return stmt;
  }

  close(): void {
    this.#cache.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

// SQLite does run DDL inside transactions; Kysely's adapter says it does not only to be conservative. Saying so
// makes the Migrator run each migration (and its bookkeeping) in one BEGIN IMMEDIATE transaction, so two
// processes opening a fresh file at once serialize instead of both creating the tables.
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class NodeSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** A Kysely dialect over node:sqlite. The file is opened lazily, on the first query. */
export function nodeSqliteDialect(path: string): SqliteDialect {
  return new NodeSqliteDialect({ database: async () => new NodeSqliteDatabase(path) });
}
