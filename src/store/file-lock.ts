// An exclusive lock on a file, held for the life of the process: one Keyward per data directory and per audit file.
//
// Node has no flock(2). SQLite's locking is the same kind of thing, and node:sqlite ships with Node: an
// `BEGIN EXCLUSIVE` transaction left open on an empty database file holds POSIX advisory locks on it, which the
// kernel drops when the process ends, however it ends (kill -9 included). So there is no stale lock to detect
// and no pid-file race: another process (or another connection in this process) gets SQLITE_BUSY at once. The
// file is never written to (it stays empty) and is never deleted (deleting a lock file races with its next taker).
// A lock file that is removed or replaced while held stops protecting anything: lost() notices and re-locks the
// new file if it can.
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/** Thrown when another process (or another Keyward in this process) holds the lock. */
export class LockHeldError extends Error {
  readonly path: string;
  constructor(path: string, what: string) {
    super(`${what} is in use by another running Keyward (lock ${path} is held)`);
    this.name = 'LockHeldError';
    this.path = path;
  }
}

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

function lock(path: string, what: string): { db: DatabaseSync; ino: number } {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Created 0600 here (SQLite would use 0644), without ever closing a descriptor of an existing lock file: closing
  // any descriptor of a file drops every POSIX lock this process holds on it.
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const db = new DatabaseSync(path, { timeout: 0 });
  try {
    db.exec('PRAGMA journal_mode = MEMORY'); // no journal file beside the lock
    db.exec('BEGIN EXCLUSIVE');
  } catch (e) {
    db.close();
    const errcode = (e as { errcode?: unknown }).errcode;
    if (errcode === SQLITE_BUSY || errcode === SQLITE_LOCKED) throw new LockHeldError(path, what);
    throw e;
  }
  return { db, ino: statSync(path).ino };
}

export class FileLock {
  readonly path: string;
  readonly what: string;
  #db: DatabaseSync | undefined;
  #ino: number;
  #lost: string | undefined;

  private constructor(path: string, what: string, held: { db: DatabaseSync; ino: number }) {
    this.path = path;
    this.what = what;
    this.#db = held.db;
    this.#ino = held.ino;
  }

  /** Takes the lock or throws LockHeldError; `what` names the thing protected, for the message. */
  static acquire(path: string, what: string): FileLock {
    return new FileLock(path, what, lock(path, what));
  }

  /** Why the lock no longer protects `what` (undefined while it does). Cheap: one stat. */
  lost(): string | undefined {
    if (this.#lost !== undefined || !this.#db) return this.#lost ?? 'released';
    let ino: number | undefined;
    try {
      ino = statSync(this.path).ino;
    } catch {
      ino = undefined;
    }
    if (ino === this.#ino) return undefined;
    // The file was removed or replaced: whoever locks the new one would be a second writer. Lock it first.
    try {
      const held = lock(this.path, this.what);
      this.#db.close();
      this.#db = held.db;
      this.#ino = held.ino;
      return undefined;
    } catch (e) {
      this.#lost = e instanceof LockHeldError ? `lock file ${this.path} was replaced and another process locked it` : `lock file ${this.path} was removed or replaced`;
      return this.#lost;
    }
  }

  release(): void {
    const db = this.#db;
    this.#db = undefined;
    if (!db) return;
    try {
      db.exec('ROLLBACK');
    } finally {
      db.close();
    }
  }
}
