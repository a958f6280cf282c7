// A small pool of ldapts connections to one directory: each connection is opened (TLS from the first byte for
// ldaps://, StartTLS for ldap:// when asked), optionally bound, reused while healthy and dropped on any transport
// error or timeout. A connection is never re-opened behind the pool's back: ldapts reconnects transparently on the
// next operation after a drop, which would run unbound and, after StartTLS, in the clear; the socket factories
// below refuse a second socket per client, so such an operation fails and the pool opens a fresh, checked one.
import net from 'node:net';
import tls from 'node:tls';
import { Client, ResultCodeError } from 'ldapts';

export interface LdapPoolOptions {
  url: URL;
  startTls: boolean;
  /** TLS settings for ldaps:// and StartTLS (CA, client certificate, minimum version). */
  tls: tls.ConnectionOptions;
  timeoutMs: number;
  size: number;
  /** Bind every new connection as this DN (the service account); absent: connections stay anonymous until the user of the lease binds. */
  bind?: { dn: string; password: string } | undefined;
}

type SocketFactory = (...args: any[]) => net.Socket;

/** Wraps a socket factory so it yields one socket per client; a second call gets a socket that fails at once. */
function oneShot<F extends SocketFactory>(factory: F): F {
  let used = false;
  return ((...args: unknown[]) => {
    if (!used) {
      used = true;
      return factory(...args);
    }
    const dead = new net.Socket();
    process.nextTick(() => dead.destroy(new Error('the LDAP connection was lost (pooled connections are not re-opened in place)')));
    return dead;
  }) as F;
}

export class LdapPoolClosedError extends Error {
  override name = 'LdapPoolClosedError';
}
export class LdapPoolTimeoutError extends Error {
  override name = 'LdapPoolTimeoutError';
}

export class LdapPool {
  readonly #opts: LdapPoolOptions;
  readonly #idle: Client[] = [];
  /** Leased plus being opened. */
  #active = 0;
  readonly #waiters: Array<() => void> = [];
  #closed = false;

  constructor(opts: LdapPoolOptions) {
    this.#opts = opts;
  }

  /** Runs `fn` on a healthy connection; a connection that failed below the LDAP protocol level is dropped. */
  async use<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.#acquire();
    let healthy = true;
    try {
      return await fn(client);
    } catch (e) {
      // An LDAP result (wrong password, no such entry) leaves the connection usable; anything else does not.
      if (!(e instanceof ResultCodeError)) healthy = false;
      throw e;
    } finally {
      this.#release(client, healthy);
    }
  }

  /** Connections open now (idle and leased); for tests and metrics. */
  get size(): number {
    return this.#idle.length + this.#active;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const idle = this.#idle.splice(0);
    await Promise.all(idle.map((c) => c.unbind().catch(() => {})));
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #usable(c: Client): boolean {
    return c.isConnected && (this.#opts.bind === undefined || c.isBound);
  }

  async #acquire(): Promise<Client> {
    const deadline = Date.now() + this.#opts.timeoutMs;
    for (;;) {
      if (this.#closed) throw new LdapPoolClosedError('the directory connection pool is closed');
      const idle = this.#idle.pop();
      if (idle) {
        if (this.#usable(idle)) {
          this.#active++;
          return idle;
        }
        void idle.unbind().catch(() => {});
        continue;
      }
      if (this.#active < this.#opts.size) {
        this.#active++;
        try {
          return await this.#open();
        } catch (e) {
          this.#active--;
          this.#wakeOne();
          throw e;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new LdapPoolTimeoutError(`no directory connection became free within ${this.#opts.timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          const i = this.#waiters.indexOf(wake);
          if (i >= 0) this.#waiters.splice(i, 1);
          resolve();
        }, left);
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        this.#waiters.push(wake);
      });
    }
  }

  #release(client: Client, healthy: boolean): void {
    this.#active--;
    if (healthy && !this.#closed && this.#usable(client)) this.#idle.push(client);
    else void client.unbind().catch(() => {});
    this.#wakeOne();
  }

  #wakeOne(): void {
    this.#waiters.shift()?.();
  }

  async #open(): Promise<Client> {
    const { url, timeoutMs } = this.#opts;
    const secure = url.protocol === 'ldaps:';
    const tlsOptions: tls.ConnectionOptions = { minVersion: 'TLSv1.2', ...this.#opts.tls };
    const client = new Client({
      url: `${url.protocol}//${url.host}`,
      timeout: timeoutMs,
      connectTimeout: timeoutMs,
      ...(secure ? { tlsOptions } : {}),
      createConnection: oneShot(net.connect as SocketFactory) as typeof net.connect,
      createSecureConnection: oneShot(tls.connect as SocketFactory) as typeof tls.connect,
    });
    try {
      // The certificate is checked against the URL's host (tls.connect over an existing socket knows no host otherwise).
      if (this.#opts.startTls) await client.startTLS({ ...tlsOptions, host: url.hostname.replace(/^\[|\]$/g, '') });
      if (this.#opts.bind) await client.bind(this.#opts.bind.dn, this.#opts.bind.password);
      return client;
    } catch (e) {
      await client.unbind().catch(() => {});
      throw e;
    }
  }
}
