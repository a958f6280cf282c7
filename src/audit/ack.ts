// What the trail knows for certain about its own chain, persisted by its pump before any record() call settles:
// the last event every sink acknowledged, and the ranges of events that reached some sink but whose callers were
// refused (or, under on_failure=continue, let through unaudited) and that no audit.recovered event reports yet.
//
// It cannot live in the database the key writes use: the trail records events inside their commit guards, where
// that store must not be called (SQLite has one connection, held by the transaction that waits for the event).
// So it goes to a small file beside the SQLite database, or over the dedicated PostgreSQL connection that holds
// the chain's writer lock. On restart, events past the acknowledged one (and outside every refused range) are the
// only ones reported as unconfirmed: an operation that was acknowledged never is.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

export interface RefusedRange {
  first: number;
  last: number;
  /** `refused_503` (on_failure deny) or `proceeded_unaudited` (continue). */
  outcome: 'refused_503' | 'proceeded_unaudited';
  /** Events refused while degraded without taking a sequence number. */
  refused_unsequenced: number;
  attempts: number;
  reason: string;
}

export interface AuditAckState {
  chain_id: string;
  /** The last event that every sink acknowledged. */
  sequence: number;
  hash: string;
  /** Refused ranges not yet reported by an acknowledged audit.recovered event, oldest first. */
  refused: RefusedRange[];
}

export interface AuditAckStore {
  read(chainId: string): Promise<AuditAckState | undefined>;
  /** Resolves once the state is stored where a crash of this process cannot lose it. */
  write(state: AuditAckState): Promise<void>;
  close(): Promise<void>;
}

/** At most this many refused ranges are kept; older ones are merged (so the file stays one page). */
const MAX_RANGES = 16;
/** One page: a write of it is never torn by the process being killed. */
const FILE_BYTES = 4096;

export function compactRanges(ranges: RefusedRange[]): RefusedRange[] {
  const out = ranges.map((r) => ({ ...r, reason: r.reason.slice(0, 120) }));
  while (out.length > MAX_RANGES) {
    const [a, b] = out.splice(0, 2) as [RefusedRange, RefusedRange];
    out.unshift({
      first: Math.min(a.first, b.first),
      last: Math.max(a.last, b.last),
      outcome: a.outcome === b.outcome ? a.outcome : 'refused_503',
      refused_unsequenced: a.refused_unsequenced + b.refused_unsequenced,
      attempts: a.attempts + b.attempts,
      reason: a.reason,
    });
  }
  return out;
}

export function parseAckState(text: string, chainId: string): AuditAckState | undefined {
  try {
    const v = JSON.parse(text) as AuditAckState;
    if (v.chain_id !== chainId || !Number.isSafeInteger(v.sequence) || typeof v.hash !== 'string' || !Array.isArray(v.refused)) return undefined;
    return v;
  } catch {
    return undefined;
  }
}

/**
 * The state in one file, rewritten in place at offset 0 with one write of one page. The page cache survives the
 * process being killed, so no fsync is needed for what this guards against; after a power loss the file may lag,
 * which only makes events look unconfirmed, never the reverse (the events themselves were fsynced first).
 */
export class AckFile implements AuditAckStore {
  readonly path: string;
  #fd: number | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  static open(path: string): AckFile {
    closeSync(openSync(path, 'a', 0o600)); // create if absent, never truncate
    return new AckFile(path, openSync(path, 'r+'));
  }

  async read(chainId: string): Promise<AuditAckState | undefined> {
    const fd = this.#fd;
    if (fd === undefined) return undefined;
    const buf = Buffer.alloc(Math.min(fstatSync(fd).size, 64 * 1024));
    const n = readSync(fd, buf, 0, buf.length, 0);
    return parseAckState(buf.subarray(0, n).toString('utf8').trim(), chainId);
  }

  async write(state: AuditAckState): Promise<void> {
    const fd = this.#fd;
    if (fd === undefined) throw new Error('audit acknowledgement file is closed');
    const json = JSON.stringify({ ...state, refused: compactRanges(state.refused) });
    if (Buffer.byteLength(json) >= FILE_BYTES) throw new Error('audit acknowledgement state too large');
    const buf = Buffer.alloc(FILE_BYTES, 0x20);
    buf.write(json, 0, 'utf8');
    buf[FILE_BYTES - 1] = 0x0a;
    // Synchronous on purpose: a page-cache write of one page, on the pump's path between the sinks' ack and the
    // callers being told; an async write would only add a thread-pool round trip.
    writeSync(fd, buf, 0, FILE_BYTES, 0);
  }

  async close(): Promise<void> {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }
}

/** The state as one value in a key-value store that does not go through a commit guard (PostgreSQL: the writer lock's own connection). */
export function ackStoreOn(kv: { get(name: string): Promise<string | undefined>; put(name: string, value: string): Promise<void> }): AuditAckStore {
  const name = (chainId: string) => `audit.ack:${chainId}`;
  return {
    async read(chainId) {
      const v = await kv.get(name(chainId));
      return v === undefined ? undefined : parseAckState(v, chainId);
    },
    async write(state) {
      await kv.put(name(state.chain_id), JSON.stringify({ ...state, refused: compactRanges(state.refused) }));
    },
    async close() {},
  };
}
