// A bounded pool of PKCS#11 sessions for one token. A session runs one operation at a time (C_SignInit then
// C_Sign belong together), so each operation borrows one exclusively; opening is cheap but not free (a network
// HSM answers over the wire), so sessions are kept and reused. Callers wait in order when all are busy.
import { HsmUnavailableError } from './errors.ts';

export interface SessionPoolOptions<S> {
  size: number;
  /** How long acquire() waits for a free session before giving up with hsm.unavailable (busy). */
  acquireTimeoutMs: number;
  /** Opens (and logs in) a new session; throws when it cannot. */
  open: () => S;
  /** Closes a session that is still valid; best effort. */
  close: (s: S) => void;
}

interface Waiter<S> {
  resolve: (s: S) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

export class SessionPool<S> {
  readonly #o: SessionPoolOptions<S>;
  readonly #idle: S[] = [];
  readonly #waiters: Waiter<S>[] = [];
  #open = 0;
  #closedWith: (() => unknown) | undefined;

  constructor(options: SessionPoolOptions<S>) {
    if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError('session pool size must be a positive integer');
    this.#o = options;
  }

  stats(): { size: number; open: number; idle: number; waiting: number } {
    return { size: this.#o.size, open: this.#open, idle: this.#idle.length, waiting: this.#waiters.length };
  }

  acquire(): Promise<S> {
    if (this.#closedWith) return Promise.reject(this.#closedWith());
    const idle = this.#idle.pop();
    if (idle !== undefined) return Promise.resolve(idle);
    if (this.#open < this.#o.size) {
      try {
        return Promise.resolve(this.#openOne());
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise<S>((resolve, reject) => {
      const waiter: Waiter<S> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(new HsmUnavailableError('busy', `no PKCS#11 session became free within ${this.#o.acquireTimeoutMs} ms`));
        }, this.#o.acquireTimeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Takes an idle session without opening a new one, or undefined when none is idle. */
  takeIdle(): S | undefined {
    return this.#idle.pop();
  }

  /** Gives back a session that is fine to reuse. */
  release(s: S): void {
    if (this.#closedWith) {
      this.#open--;
      this.#safeClose(s);
      return;
    }
    const w = this.#waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(s);
    } else {
      this.#idle.push(s);
    }
  }

  /**
   * Forgets a session that must not be reused. `close`: whether its handle is still ours to close (false when the
   * token already dropped it: the handle number may since name another session).
   */
  discard(s: S, close: boolean): void {
    this.#open--;
    if (close) this.#safeClose(s);
    this.#serveWaiter();
  }

  /**
   * Ends the pool: idle sessions are closed (when `closeIdle`), waiters and later acquires fail with `error()`,
   * and busy sessions are dropped as they come back.
   */
  shutdown(error: () => unknown, closeIdle: boolean): void {
    if (this.#closedWith) return;
    this.#closedWith = error;
    for (const s of this.#idle.splice(0)) {
      this.#open--;
      if (closeIdle) this.#safeClose(s);
    }
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(error());
    }
  }

  #openOne(): S {
    this.#open++;
    try {
      return this.#o.open();
    } catch (e) {
      this.#open--;
      throw e;
    }
  }

  #serveWaiter(): void {
    if (this.#closedWith || this.#open >= this.#o.size) return;
    const w = this.#waiters.shift();
    if (!w) return;
    clearTimeout(w.timer);
    try {
      w.resolve(this.#openOne());
    } catch (e) {
      w.reject(e);
    }
  }

  #safeClose(s: S): void {
    try {
      this.#o.close(s);
    } catch {
      // The session may already be gone with its token; nothing else to do.
    }
  }
}
