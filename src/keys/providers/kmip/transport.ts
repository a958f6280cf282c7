// KMIP over TLS with client certificates: a small pool of connections, one request in flight per connection.
// A connection that fails in any way (error, close, timeout, a malformed or unsolicited frame) is destroyed and never
// reused, because a late or partial reply would desynchronise the stream; the next request dials a new one, which is
// how the client recovers when the server comes back. Requests are never retried here: Create, Register and
// Activate are not idempotent, so whether to retry is the caller's decision.
import { isIP } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect } from 'node:tls';
import { KmipProtocolError, KmipUnavailableError } from './errors.ts';
import { Tag } from './tags.ts';
import { HEADER_BYTES, ItemType, readHeader } from './ttlv.ts';

export interface KmipTlsOptions {
  host: string;
  port: number;
  /** PEM CA certificate(s) the server certificate must chain to. */
  ca: string | Buffer | (string | Buffer)[];
  /** PEM client certificate (KMIP servers require one; PyKMIP also requires the clientAuth extended key usage). */
  cert: string | Buffer;
  /** PEM private key of the client certificate. */
  key: string | Buffer;
  /** Name the server certificate must carry; defaults to `host`. */
  servername?: string;
}

export interface KmipTransportOptions extends KmipTlsOptions {
  /** TCP connect plus TLS handshake (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Waiting for a free connection plus the request/response exchange (default 10000 ms). */
  requestTimeoutMs?: number;
  /** Connections kept at most (default 2). */
  poolSize?: number;
  /** An unused connection is closed after this long (default 30000 ms). */
  idleTimeoutMs?: number;
  /** Largest response accepted, header included (default 1 MiB). */
  maxResponseBytes?: number;
}

const DEFAULTS = { connectTimeoutMs: 5000, requestTimeoutMs: 10000, poolSize: 2, idleTimeoutMs: 30000, maxResponseBytes: 1024 * 1024 };

class Connection {
  readonly socket: TLSSocket;
  #closed = false;
  #chunks: Buffer[] = [];
  #received = 0;
  #expected: number | undefined;
  #maxBytes: number;
  #pending: { resolve: (b: Buffer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  #idleTimer: NodeJS.Timeout | undefined;

  private constructor(socket: TLSSocket, maxBytes: number) {
    this.socket = socket;
    this.#maxBytes = maxBytes;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e) => this.#fail(new KmipUnavailableError('closed', 'KMIP connection failed', e)));
    socket.on('close', () => this.#fail(new KmipUnavailableError('closed', 'KMIP server closed the connection')));
  }

  get closed(): boolean {
    return this.#closed;
  }

  static open(opts: KmipTlsOptions, timeoutMs: number, maxBytes: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const tlsOpts: ConnectionOptions = {
        host: opts.host,
        port: opts.port,
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        // SNI carries host names only (RFC 6066); the certificate is still checked against an IP host.
        ...(opts.servername !== undefined ? { servername: opts.servername } : isIP(opts.host) ? {} : { servername: opts.host }),
        minVersion: 'TLSv1.2',
      };
      let tcpUp = false;
      const socket = connect(tlsOpts);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new KmipUnavailableError('timeout', `KMIP connect to ${opts.host}:${opts.port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        tcpUp = true;
      });
      const onError = (e: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(
          tcpUp
            ? new KmipUnavailableError('tls', `KMIP TLS handshake with ${opts.host}:${opts.port} failed`, e)
            : new KmipUnavailableError('connect', `KMIP server ${opts.host}:${opts.port} is not reachable`, e),
        );
      };
      socket.once('error', onError);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new Connection(socket, maxBytes));
      });
    });
  }

  request(message: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new KmipUnavailableError('closed', 'KMIP connection is closed'));
    if (this.#pending) return Promise.reject(new Error('KMIP connection already has a request in flight'));
    this.#clearIdle();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new KmipUnavailableError('timeout', `KMIP server did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending = { resolve, reject, timer };
      this.socket.write(message);
    });
  }

  idleFor(ms: number, onClose: () => void): void {
    this.#clearIdle();
    this.#idleTimer = setTimeout(() => {
      this.destroy();
      onClose();
    }, ms);
    this.#idleTimer.unref();
  }

  destroy(): void {
    this.#fail(new KmipUnavailableError('closed', 'KMIP connection closed by the client'));
  }

  #clearIdle() {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #onData(chunk: Buffer) {
    if (!this.#pending) {
      this.#fail(new KmipProtocolError('KMIP server sent data with no request in flight'));
      return;
    }
    this.#chunks.push(chunk);
    this.#received += chunk.length;
    if (this.#expected === undefined && this.#received >= HEADER_BYTES) {
      const head = readHeader(Buffer.concat(this.#chunks).subarray(0, HEADER_BYTES));
      if (head.tag !== Tag.ResponseMessage || head.type !== ItemType.Structure) {
        this.#fail(new KmipProtocolError('KMIP server reply does not start with a Response Message structure'));
        return;
      }
      const total = HEADER_BYTES + head.length;
      if (total > this.#maxBytes) {
        this.#fail(new KmipProtocolError(`KMIP response of ${total} bytes exceeds the ${this.#maxBytes}-byte limit`));
        return;
      }
      this.#expected = total;
    }
    if (this.#expected === undefined || this.#received < this.#expected) return;
    if (this.#received > this.#expected) {
      this.#fail(new KmipProtocolError('KMIP server sent more bytes than its response announced'));
      return;
    }
    const frame = Buffer.concat(this.#chunks, this.#received);
    this.#chunks = [];
    this.#received = 0;
    this.#expected = undefined;
    const p = this.#pending;
    this.#pending = undefined;
    clearTimeout(p.timer);
    p.resolve(frame);
  }

  #fail(err: Error) {
    const p = this.#pending;
    this.#pending = undefined;
    this.#clearIdle();
    if (!this.#closed) {
      this.#closed = true;
      this.socket.destroy();
    }
    this.#chunks = [];
    if (p) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}

interface Slot {
  conn: Connection | undefined;
}

export class KmipTransport {
  readonly #opts: KmipTlsOptions & typeof DEFAULTS;
  #free: Slot[];
  #waiters: { resolve: (s: Slot) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  #closed = false;
  #all: Slot[];

  constructor(opts: KmipTransportOptions) {
    this.#opts = { ...DEFAULTS, ...opts };
    if (!Number.isInteger(this.#opts.poolSize) || this.#opts.poolSize < 1) throw new RangeError('poolSize must be a positive integer');
    this.#all = Array.from({ length: this.#opts.poolSize }, () => ({ conn: undefined }));
    this.#free = [...this.#all];
  }

  /** Sends one encoded Request Message and returns the raw bytes of the one Response Message. */
  async send(message: Buffer): Promise<Buffer> {
    const deadline = Date.now() + this.#opts.requestTimeoutMs;
    const slot = await this.#acquire(this.#opts.requestTimeoutMs);
    try {
      if (!slot.conn || slot.conn.closed) {
        slot.conn = undefined;
        const opened = await Connection.open(this.#opts, this.#opts.connectTimeoutMs, this.#opts.maxResponseBytes);
        // Closed while dialling: the new connection must not outlive the client, nor carry a request.
        if (this.#closed) {
          opened.destroy();
          throw new KmipUnavailableError('pool_closed', 'KMIP client is closed');
        }
        slot.conn = opened;
      }
      const conn = slot.conn;
      try {
        return await conn.request(message, Math.max(1, deadline - Date.now()));
      } catch (e) {
        conn.destroy();
        slot.conn = undefined;
        throw e;
      }
    } finally {
      this.#release(slot);
    }
  }

  /** Closes every connection; later and waiting requests fail with KmipUnavailableError (pool_closed). */
  close(): void {
    this.#closed = true;
    for (const s of this.#all) {
      s.conn?.destroy();
      s.conn = undefined;
    }
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new KmipUnavailableError('pool_closed', 'KMIP client is closed'));
    }
  }

  #acquire(timeoutMs: number): Promise<Slot> {
    if (this.#closed) return Promise.reject(new KmipUnavailableError('pool_closed', 'KMIP client is closed'));
    const slot = this.#free.pop();
    if (slot) return Promise.resolve(slot);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          reject(new KmipUnavailableError('timeout', `no KMIP connection became free within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  #release(slot: Slot) {
    if (this.#closed) {
      slot.conn?.destroy();
      slot.conn = undefined;
      return;
    }
    const w = this.#waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(slot);
      return;
    }
    slot.conn?.idleFor(this.#opts.idleTimeoutMs, () => {
      slot.conn = undefined;
    });
    this.#free.push(slot);
  }
}
