// Kysely's SqliteDialect expects a better-sqlite3-like database; this adapter presents node:sqlite's
// DatabaseSync in that shape so we need no native addon.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { SqliteAdapter, SqliteDialect } from 'kysely';
import type { DialectAdapter, SqliteDatabase, SqliteStatement } from 'kysely';
import type { Logger } from 'pino';
import { StoreCorruptError, StoreUnavailableError } from './errors.ts';

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

/**
 * SQLite result codes (primary, the low byte of the extended code) that are faults of the database rather than
 * of the statement, with what the caller is told. Constraint violations and the like pass through untouched.
 */
const UNAVAILABLE: Record<number, string> = {
  5: 'the database is locked by another process; retry', // SQLITE_BUSY (after busy_timeout)
  6: 'the database is locked; retry', // SQLITE_LOCKED
  7: 'the database ran out of memory', // SQLITE_NOMEM
  8: 'the database is read-only', // SQLITE_READONLY
  10: 'the database file could not be read or written', // SQLITE_IOERR
  13: 'the database or its disk is full', // SQLITE_FULL
  14: 'the database file cannot be opened', // SQLITE_CANTOPEN
  15: 'the database file lock failed', // SQLITE_PROTOCOL
};
const CORRUPT = new Set([11, 26]); // SQLITE_CORRUPT, SQLITE_NOTADB

/** The error a driver call raised, as the store reports it; `log` hears database faults (rate-limited). */
function translate(e: unknown, log: FaultLog): unknown {
  const { code, errcode } = (e ?? {}) as { code?: unknown; errcode?: unknown };
  if (code !== 'ERR_SQLITE_ERROR' || typeof errcode !== 'number') return e;
  const primary = errcode & 0xff;
  if (CORRUPT.has(primary)) {
    log(e, 'error');
    return new StoreCorruptError(e);
  }
  const detail = UNAVAILABLE[primary];
  if (detail === undefined) return e;
  log(e, primary === 5 || primary === 6 ? 'warn' : 'error');
  return new StoreUnavailableError(detail, e);
}

type FaultLog = (e: unknown, level: 'warn' | 'error') => void;

/** One log line per kind of fault per interval: a full disk under load would otherwise log every request. */
function faultLog(logger: Logger | undefined, intervalMs = 10_000): FaultLog {
  const last = new Map<number, number>();
  return (e, level) => {
    if (!logger) return;
    const { errcode, message } = e as { errcode: number; message?: unknown };
    const now = Date.now();
    if (now - (last.get(errcode) ?? -Infinity) < intervalMs) return;
    last.set(errcode, now);
    logger[level]({ err: { errcode, message } }, 'SQLite fault; requests needing storage are refused with a storage.* problem');
  };
}

class Statement implements SqliteStatement {
  readonly reader: boolean;
  readonly #stmt: StatementSync;
  readonly #log: FaultLog;
  constructor(stmt: StatementSync, log: FaultLog) {
    this.#stmt = stmt;
    this.#log = log;
    // A statement that yields columns (SELECT, PRAGMA, ... RETURNING) is read with all().
    this.reader = stmt.columns().length > 0;
  }
  all(parameters: ReadonlyArray<unknown>): unknown[] {
    try {
      return this.#stmt.all(...parameters.map(toParam)).map(fromRow);
    } catch (e) {
      throw translate(e, this.#log);
    }
  }
  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    try {
      return this.#stmt.run(...parameters.map(toParam));
    } catch (e) {
      throw translate(e, this.#log);
    }
  }
  *iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    try {
      for (const row of this.#stmt.iterate(...parameters.map(toParam))) yield fromRow(row);
    } catch (e) {
      throw translate(e, this.#log);
    }
  }
}

const STATEMENT_CACHE_MAX = 128;

export interface SqliteOptions {
  /** Hears database faults (rate-limited). */
  logger?: Logger | undefined;
  /** How long a statement waits for another connection's lock (synchronously) before SQLITE_BUSY; default 5 s. */
  busyTimeoutMs?: number | undefined;
}

export class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  // Kysely prepares every query anew; re-preparing the same SQL in a loop is measurable, so keep a few.
  readonly #cache = new Map<string, Statement>();
  readonly #log: FaultLog;

  constructor(path: string, opts: SqliteOptions = {}) {
    this.#log = faultLog(opts.logger);
    const busyTimeoutMs = Math.round(opts.busyTimeoutMs ?? 5000);
    try {
      this.#db = new DatabaseSync(path, { timeout: busyTimeoutMs });
      this.#db.exec('PRAGMA journal_mode = WAL');
      // FULL: a committed key version must survive power loss, not only a process crash.
      this.#db.exec('PRAGMA synchronous = FULL');
      this.#db.exec('PRAGMA foreign_keys = ON');
      this.#db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    } catch (e) {
      throw translate(e, this.#log);
    }
  }

  prepare(sql: string): SqliteStatement {
    // Kysely opens transactions with a deferred BEGIN. Under WAL a deferred transaction that later writes can
    // fail with SQLITE_BUSY without waiting when another process wrote first; IMMEDIATE takes the write lock up
    // front (every transaction here writes) so busy_timeout applies.
    if (/^\s*begin\s*$/i.test(sql)) sql = 'BEGIN IMMEDIATE';
    let stmt = this.#cache.get(sql);
    if (stmt === undefined) {
      try {
        stmt = new Statement(this.#db.prepare(sql), this.#log);
      } catch (e) {
        throw translate(e, this.#log);
      }
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
export function nodeSqliteDialect(path: string, opts: SqliteOptions = {}): SqliteDialect {
  return new NodeSqliteDialect({ database: async () => new NodeSqliteDatabase(path, opts) });
}
