// The audit trail: builds, chains, signs and durably stores one event per operation.
//
// Appends are serialised per chain by a single pump: record() only queues; the pump takes everything queued
// (group commit), assigns consecutive sequences, signs, and hands the whole batch to every sink at once
// (one fsync per file sink per batch). Each record() settles once every sink has acknowledged its event.
import { randomUUID, verify, type KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { assembleEvents, draftEvent, sealEvents, type ChainHead, type ChainKey, type EventDraft, type Seal } from './seal.ts';
import type { Logger } from 'pino';
import { ProblemError } from '../core/problem.ts';
import { auditUnavailable } from './errors.ts';
import type { Clock } from '../core/clock.ts';
import type { AuditChainRepository, SettingsRepository } from '../store/types.ts';
import type { AuditEventInput, AuditRecorder } from './types.ts';
import {
  canonicalBytes,
  chainHash,
  GENESIS_HASH,
  signingInput,
  type AuditEvent,
} from './canonical.ts';
import type { AuditConfig } from './config.ts';
import { loadSigningKey, type AuditPublicKeyInfo, type AuditSigningKey } from './keys.ts';
import { assertNoSecrets } from './redact.ts';
import type { AuditAckState, AuditAckStore, RefusedRange } from './ack.ts';
import { errInfo } from './sinks/file.ts';
import { createSink } from './sinks/index.ts';
import type { AuditSink, PreparedEvent, SinkStats } from './sinks/types.ts';

export interface AuditTrail extends AuditRecorder {
  publicKey(): AuditPublicKeyInfo;
  /** Resolves once everything recorded so far is durably stored; rejects (audit.unavailable) if not. */
  flush(): Promise<void>;
  /** Emits a signed checkpoint event now and writes it to the file sinks' sidecars. */
  checkpoint(): Promise<{ chain_id: string; sequence: number; hash: string }>;
  /** This instance's chain id and the current head. */
  head(): { chain_id: string; sequence: number; hash: string };
  /** Per-sink counters (writes, fsyncs, rotations), for metrics and tests. */
  stats(): Record<string, SinkStats>;
  /** Checkpoint health, for metrics and readiness. */
  checkpoints(): CheckpointHealth;
}

export interface CheckpointHealth {
  /** Checkpoints whose sidecar could not be written, since start. */
  missed_total: number;
  /** Checkpoints missed since the last one written; at `audit.max_missed_checkpoints`, operations are refused. */
  missed_consecutive: number;
  last_written_sequence: number;
}

/** One writer per chain: the lock the composition root took before anything was written. */
export interface WriterLock {
  /** Why this process may no longer write the chain (the lock was lost), or undefined while it holds it. */
  lost(): string | undefined;
}

export interface AuditTrailDeps {
  config: AuditConfig;
  chain: AuditChainRepository;
  settings: SettingsRepository;
  clock: Clock;
  logger: Logger;
  production: boolean;
  /** Distinguishes instances sharing one database: each keeps its own chain id. */
  instanceId?: string;
  /** Where the stdout sink writes (default process.stdout). */
  stdout?: NodeJS.WritableStream;
  /** How often a degraded trail retries its owed events, and a missed checkpoint its sidecar (default 1000 ms). */
  retryIntervalMs?: number;
  /** Where the pump records what every sink acknowledged, before record() settles (see ack.ts). */
  ack?: AuditAckStore | undefined;
  /** While lost, nothing is written and every event is refused. */
  writerLock?: WriterLock | undefined;
}

const MAX_BATCH = 1024;
/** Under on_failure=continue, how many unstored events are kept for retry before the oldest are dropped. */
const MAX_OWED = 10_000;
const MAX_METADATA_BYTES = 16 * 1024;
const SYSTEM_PRINCIPAL = { id: 'keyward', type: 'system', auth_method: 'internal' } as const;

const chainConflict = (detail: string) => new ProblemError({ code: 'audit.chain_conflict', detail });

export function settingsNameForChainId(instanceId?: string): string {
  return instanceId ? `audit.chain_id:${instanceId}` : 'audit.chain_id';
}

/** Checks that an event is intact and signed by `publicKey` (used to adopt a sink's tail on restart). */
export function eventIsAuthentic(e: AuditEvent, publicKey: KeyObject): boolean {
  try {
    if (chainHash(e.prev_hash, canonicalBytes(e)) !== e.hash) return false;
    return verify(null, signingInput(e.chain_id, e.sequence, e.hash), publicKey, Buffer.from(e.signature, 'base64'));
  } catch {
    return false;
  }
}

/** Throws on a malformed or secret-bearing event; returns the metadata as JSON, which is what gets recorded. */
function validateInput(input: AuditEventInput): string {
  const str = (v: unknown, name: string, optional = false) => {
    if (optional && (v === undefined || v === null)) return;
    if (typeof v !== 'string' || v.length === 0 || v.length > 1024) throw new TypeError(`audit event ${name} must be a non-empty string`);
  };
  str(input.event_type, 'event_type');
  str(input.action, 'action');
  if (!['success', 'denied', 'error'].includes(input.outcome)) throw new TypeError('audit event outcome must be success, denied or error');
  if (input.principal) {
    str(input.principal.id, 'principal.id');
    str(input.principal.type, 'principal.type');
    str(input.principal.auth_method, 'principal.auth_method');
  }
  if (input.resource) {
    str(input.resource.type, 'resource.type');
    str(input.resource.id, 'resource.id', true);
    if (input.resource.version !== undefined && input.resource.version !== null && !Number.isSafeInteger(input.resource.version)) {
      throw new TypeError('audit event resource.version must be an integer');
    }
  }
  str(input.error_code, 'error_code', true);
  if (input.metadata !== undefined && (typeof input.metadata !== 'object' || input.metadata === null || Array.isArray(input.metadata))) {
    throw new TypeError('audit event metadata must be an object');
  }
  assertNoSecrets(input.metadata ?? {});
  const metadataJson = JSON.stringify(input.metadata ?? {});
  if (metadataJson.length > MAX_METADATA_BYTES) throw new TypeError(`audit event metadata too large (${metadataJson.length} bytes); keep it small`);
  if (input.principal) assertNoSecrets(input.principal, 'principal');
  return metadataJson;
}

interface Pending {
  input: AuditEventInput;
  /** The metadata as validated, so a caller changing its object afterwards cannot change what is recorded. */
  metadataJson?: string | undefined;
  /** The trail's own events (start, checkpoint, recovery): recorded even while missed checkpoints refuse operations. */
  system?: boolean;
  /** Told the sequence the event got. */
  onSealed?: (sequence: number) => void;
  resolve: (e: AuditEvent) => void;
  reject: (e: unknown) => void;
}

/** A refused range and, once one is sealed, the sequence of the audit.recovered event that reports it. */
type Unreported = RefusedRange & { reportedBy?: number };


interface Sealer {
  seal(head: ChainHead, drafts: EventDraft[]): Promise<{ prepared: PreparedEvent[]; head: ChainHead }>;
  close(): Promise<void>;
}

class LocalSealer implements Sealer {
  readonly #chain: ChainKey;
  constructor(chain: ChainKey) {
    this.#chain = chain;
  }
  async seal(head: ChainHead, drafts: EventDraft[]) {
    return sealEvents(this.#chain, head, drafts);
  }
  async close() {}
}

/**
 * Seals batches on a worker thread so hashing and signing do not compete with request handling on a multi-core
 * machine. Batches are sealed strictly one at a time (the trail's lock), so the chain order is the queue order.
 * If the worker dies, sealing continues on this thread (logged): the trail never stalls on it.
 */
class WorkerSealer implements Sealer {
  readonly #local: LocalSealer;
  readonly #chain: ChainKey;
  readonly #logger: Logger;
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve: (seals: Seal[]) => void; reject: (e: Error) => void }>();

  constructor(chain: ChainKey, logger: Logger) {
    this.#local = new LocalSealer(chain);
    this.#chain = chain;
    this.#logger = logger;
    const w = new Worker(new URL('./seal-worker.ts', import.meta.url), { workerData: chain });
    w.unref();
    w.on('message', (m: { id: number; seals?: Seal[]; error?: string }) => {
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.seals!);
    });
    const lost = (why: string) => {
      if (this.#worker !== w) return;
      this.#worker = undefined;
      this.#logger.error({ why }, 'audit sealing worker lost; sealing on the main thread from now on');
      for (const p of this.#pending.values()) p.reject(new Error(`audit sealing worker lost: ${why}`));
      this.#pending.clear();
    };
    w.on('error', (e) => lost(e.message));
    w.on('exit', (code) => lost(`exit ${code}`));
    this.#worker = w;
  }

  seal(head: ChainHead, drafts: EventDraft[]) {
    const w = this.#worker;
    if (!w) return this.#local.seal(head, drafts);
    return new Promise<Seal[]>((resolve, reject) => {
      const id = ++this.#next;
      this.#pending.set(id, { resolve, reject });
      w.postMessage({ id, head, drafts });
    }).then((seals) => assembleEvents(this.#chain, head, drafts, seals));
  }

  async close() {
    const w = this.#worker;
    this.#worker = undefined;
    await w?.terminate();
  }
}

class Trail implements AuditTrail {
  readonly #deps: AuditTrailDeps;
  readonly #key: AuditSigningKey;
  readonly #sinks: AuditSink[];
  readonly #chainId: string;
  #head: ChainHead;
  /** The last event every sink acknowledged. */
  #acked: ChainHead;
  #queue: Pending[] = [];
  /** Events built (sequenced and signed) that not every sink has acknowledged yet, oldest first. */
  #owed: PreparedEvent[] = [];
  #lock: Promise<void> = Promise.resolve();
  #busy = false;
  #scheduled = false;
  #degraded = false;
  #failure: { first: number; last: number; attempts: number; refused: number; reason: string } | undefined;
  /** Earlier failures whose audit.recovered has not been acknowledged yet (kept in the ack state until it is). */
  #unreported: Unreported[];
  #ackWarned = false;
  #lastCheckpoint = 0;
  #missedTotal = 0;
  #missedInRow = 0;
  /** The latest checkpoint whose sidecar could not be written; retried until it is (or a newer one is). */
  #pendingSidecar: PreparedEvent | undefined;
  #sidecarWritten = 0;
  #sidecarChain: Promise<void> = Promise.resolve();
  #sidecarTimer: NodeJS.Timeout | undefined;
  #timers: NodeJS.Timeout[] = [];
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #sealer: Sealer;

  constructor(deps: AuditTrailDeps, key: AuditSigningKey, sinks: AuditSink[], chainId: string, head: ChainHead, acked: ChainHead, unreported: RefusedRange[]) {
    this.#deps = deps;
    this.#key = key;
    this.#sinks = sinks;
    this.#chainId = chainId;
    this.#head = head;
    this.#acked = acked;
    this.#unreported = unreported.map((r) => ({ ...r }));
    const chain = { chainId, keyId: key.info.key_id, privateKey: key.privateKey };
    this.#sealer = deps.config.seal_in_worker ? new WorkerSealer(chain, deps.logger) : new LocalSealer(chain);
    const every = deps.config.checkpoint_interval;
    if (every > 0) {
      const t = setInterval(() => {
        if (this.#head.sequence > this.#lastCheckpoint && !this.#degraded) {
          this.checkpoint().catch((e) => deps.logger.error({ err: errInfo(e) }, 'audit checkpoint failed'));
        }
      }, every * 1000);
      t.unref();
      this.#timers.push(t);
    }
  }

  publicKey(): AuditPublicKeyInfo {
    return this.#key.info;
  }

  head() {
    return { chain_id: this.#chainId, ...this.#head };
  }

  stats(): Record<string, SinkStats> {
    return Object.fromEntries(this.#sinks.map((s) => [s.name, { ...s.stats }]));
  }

  checkpoints(): CheckpointHealth {
    return { missed_total: this.#missedTotal, missed_consecutive: this.#missedInRow, last_written_sequence: this.#lastCheckpoint };
  }

  ready(): boolean {
    // A missed checkpoint makes the instance unready at once, before operations are refused: truncation
    // protection has lapsed and someone should know.
    return !this.#closed && !this.#degraded && this.#missedInRow === 0 && this.#deps.writerLock?.lost() === undefined;
  }

  async record(input: AuditEventInput): Promise<void> {
    const metadataJson = validateInput(input); // a programming error: throws before anything touches the chain
    await this.#enqueue(input, metadataJson);
  }

  #enqueue(input: AuditEventInput, metadataJson?: string, own?: Pick<Pending, 'system' | 'onSealed'>): Promise<AuditEvent> {
    if (this.#closed) return Promise.reject(auditUnavailable('the audit trail is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ input, metadataJson, ...own, resolve, reject });
      this.#schedule();
    });
  }

  // Deferred to the next turn of the event loop so that concurrent callers share one batch.
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      void this.#exclusive(async () => {
        this.#scheduled = false;
        await this.#run();
      });
    });
  }

  /** Everything that touches the head, the owed list or the sinks runs one at a time. */
  #exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.#lock.then(async () => {
      this.#busy = true;
      try {
        await fn();
      } finally {
        this.#busy = false;
      }
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  async #run(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      try {
        await this.#runBatch(batch);
      } catch (e) {
        // Not a sink failure (those are handled inside): a bug. Never leave callers hanging.
        this.#deps.logger.error({ err: errInfo(e) }, 'audit trail internal error');
        for (const p of batch) p.reject(auditUnavailable('audit trail internal error'));
      }
    }
  }

  async #runBatch(all: Pending[]): Promise<void> {
    const lost = this.#deps.writerLock?.lost();
    if (lost !== undefined) {
      // Another process may be writing this chain now: writing here could fork it.
      for (const p of all) p.reject(auditUnavailable(`this instance no longer holds the audit chain's writer lock: ${lost}`));
      return;
    }
    let batch = all;
    const max = this.#deps.config.max_missed_checkpoints;
    if (this.#missedInRow >= max) {
      batch = all.filter((p) => p.system);
      const detail = `${this.#missedInRow} audit checkpoints in a row could not be written (audit.max_missed_checkpoints ${max})`;
      for (const p of all) if (!p.system) p.reject(auditUnavailable(detail));
      if (batch.length === 0) return;
    }
    const deny = this.#deps.config.on_failure === 'deny';
    if (this.#owed.length > 0) {
      // Earlier events are still owed to a sink: they must land first, or the chain would have a hole.
      const err = await this.#deliver();
      if (err !== undefined && deny) {
        if (this.#failure) this.#failure.refused += batch.length;
        await this.#persistAck();
        for (const p of batch) p.reject(auditUnavailable(`audit sink unavailable: ${err}`));
        return;
      }
    }
    const now = this.#deps.clock.now();
    const sealed = await this.#sealer.seal(this.#head, batch.map((p) => draftEvent(p.input, now, p.metadataJson)));
    const built = sealed.prepared;
    this.#head = sealed.head;
    batch.forEach((p, i) => p.onSealed?.(built[i]!.event.sequence));
    this.#owed.push(...built);
    const err = await this.#deliver();
    if (err === undefined) {
      batch.forEach((p, i) => p.resolve(built[i]!.event));
      return;
    }
    this.#failure ??= { first: built[0]!.event.sequence, last: 0, attempts: 1, refused: 0, reason: err };
    this.#failure.last = built[built.length - 1]!.event.sequence;
    // Before anyone is told: after a crash, these events are known to have been refused, not merely unconfirmed.
    await this.#persistAck();
    if (deny) {
      for (const p of batch) p.reject(auditUnavailable(`audit sink unavailable: ${err}`));
      return;
    }
    this.#deps.logger.error(
      { audit_failure: err, sequences: [built[0]!.event.sequence, built[built.length - 1]!.event.sequence] },
      'AUDIT EVENTS NOT DURABLY RECORDED: on_failure=continue lets these operations proceed unaudited; they stay queued for retry',
    );
    if (this.#owed.length > MAX_OWED) {
      const dropped = this.#owed.splice(0, this.#owed.length - MAX_OWED);
      this.#deps.logger.error(
        { dropped_first: dropped[0]!.event.sequence, dropped_last: dropped[dropped.length - 1]!.event.sequence },
        'AUDIT EVENTS DROPPED: the retry buffer is full; the chain will show a gap',
      );
    }
    batch.forEach((p, i) => p.resolve(built[i]!.event));
  }

  #outcome(): RefusedRange['outcome'] {
    return this.#deps.config.on_failure === 'deny' ? 'refused_503' : 'proceeded_unaudited';
  }

  /** What is known for certain now: acknowledged through #acked, and the refused ranges not yet reported. */
  #ackState(): AuditAckState {
    this.#unreported = this.#unreported.filter((r) => r.reportedBy === undefined || r.reportedBy > this.#acked.sequence);
    const f = this.#failure;
    return {
      chain_id: this.#chainId,
      sequence: this.#acked.sequence,
      hash: this.#acked.hash,
      refused: [
        ...this.#unreported.map(({ reportedBy: _r, ...range }) => range),
        ...(f ? [{ first: f.first, last: f.last, outcome: this.#outcome(), refused_unsequenced: f.refused, attempts: f.attempts, reason: f.reason }] : []),
      ],
    };
  }

  async #persistAck(): Promise<void> {
    const ack = this.#deps.ack;
    if (!ack) return;
    try {
      await ack.write(this.#ackState());
      this.#ackWarned = false;
    } catch (e) {
      // The events are stored: callers are still answered. After a crash these would be reported as unconfirmed.
      if (!this.#ackWarned) this.#deps.logger.error({ err: errInfo(e) }, 'audit acknowledgement state could not be persisted');
      this.#ackWarned = true;
    }
  }

  /** Sends every owed event to every sink that lacks it; undefined on success, else a reason. */
  async #deliver(): Promise<string | undefined> {
    const batch = this.#owed;
    if (batch.length === 0) return undefined;
    const results = await Promise.allSettled(this.#sinks.map((s) => s.write(batch)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${this.#sinks[i]!.name}: ${errInfo(r.reason).code ?? errInfo(r.reason).message}`] : []));
    if (failed.length > 0) {
      const reason = failed.join('; ');
      if (!this.#degraded) this.#deps.logger.error({ audit_failure: reason }, 'audit trail degraded: a sink refused events');
      this.#degraded = true;
      if (this.#failure) this.#failure.attempts++;
      this.#armRetry();
      return reason;
    }
    this.#owed = this.#owed.slice(batch.length);
    const last = batch[batch.length - 1]!.event;
    this.#acked = { sequence: last.sequence, hash: last.hash };
    let recovered: Unreported | undefined;
    if (this.#degraded) {
      this.#degraded = false;
      this.#disarmRetry();
      const f = this.#failure;
      this.#failure = undefined;
      this.#deps.logger.warn({ failure: f }, 'audit trail recovered');
      if (f) {
        recovered = { first: f.first, last: f.last, outcome: this.#outcome(), refused_unsequenced: f.refused, attempts: f.attempts, reason: f.reason };
        this.#unreported.push(recovered);
      }
    }
    // Group commit of the acknowledgement: persisted with the batch, before any caller of it is answered.
    await this.#persistAck();
    try {
      await this.#deps.chain.put({ chainId: this.#chainId, sequence: last.sequence, hash: last.hash });
    } catch (e) {
      // The sinks hold the events; on restart the newest authentic sink tail wins over a stale head.
      this.#deps.logger.warn({ err: errInfo(e) }, 'audit chain head could not be persisted');
    }
    // Tell the log itself that the events in [first, last] were stored late and their callers were refused.
    if (recovered) this.#report(recovered, false);
    return undefined;
  }

  /** Queues the audit.recovered event for a refused range: first in line, or after the start event after a restart. */
  #report(r: Unreported, afterRestart: boolean): void {
    this.#queue[afterRestart ? 'push' : 'unshift']({
      input: {
        event_type: 'audit.recovered',
        action: 'audit:Recover',
        principal: SYSTEM_PRINCIPAL,
        resource: { type: 'audit_chain', id: this.#chainId },
        outcome: 'success',
        metadata: {
          late_first_sequence: r.first,
          late_last_sequence: r.last,
          late_events_outcome: r.outcome,
          refused_unsequenced_count: r.refused_unsequenced,
          failed_attempts: r.attempts,
          failure_reason: r.reason.slice(0, 300),
          // The process stopped before the sinks recovered: these events may be missing from a sink for good.
          ...(afterRestart ? { reported_after_restart: true } : {}),
        },
      },
      system: true,
      onSealed: (sequence) => (r.reportedBy = sequence),
      resolve: () => {},
      reject: (e) => this.#deps.logger.error({ err: errInfo(e) }, 'audit recovery event not recorded'),
    });
    this.#schedule();
  }

  #armRetry(): void {
    if (this.#retryTimer || this.#closed) return;
    this.#retryTimer = setInterval(() => {
      if (this.#busy || this.#owed.length === 0) return;
      void this.#exclusive(async () => {
        await this.#deliver();
      });
    }, this.#deps.retryIntervalMs ?? 1000);
    this.#retryTimer.unref();
  }

  #disarmRetry(): void {
    if (this.#retryTimer) clearInterval(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  async flush(): Promise<void> {
    await this.#exclusive(async () => {
      await this.#run();
      if (this.#owed.length > 0) await this.#deliver();
    });
    if (this.#owed.length > 0) throw auditUnavailable(`${this.#owed.length} audit events not yet durably stored`);
  }

  async checkpoint(): Promise<{ chain_id: string; sequence: number; hash: string }> {
    const ev = await this.#enqueue(
      {
        event_type: 'audit.checkpoint',
        action: 'audit:Checkpoint',
        principal: SYSTEM_PRINCIPAL,
        resource: { type: 'audit_chain', id: this.#chainId },
        outcome: 'success',
        metadata: { previous_checkpoint_sequence: this.#lastCheckpoint },
      },
      undefined,
      { system: true },
    );
    if (this.#owed.some((p) => p.event.sequence <= ev.sequence)) {
      throw auditUnavailable('checkpoint not durably stored'); // on_failure=continue resolved it without storing
    }
    const prepared = { event: ev, line: JSON.stringify(ev) };
    try {
      await this.#writeSidecars(prepared);
    } catch (e) {
      this.#missedCheckpoint(prepared, e);
      throw auditUnavailable(`checkpoint sidecar not written: ${errInfo(e).code ?? errInfo(e).message}`);
    }
    return { chain_id: ev.chain_id, sequence: ev.sequence, hash: ev.hash };
  }

  /** Writes a checkpoint to every sink's sidecar, one write at a time and never replacing a newer checkpoint. */
  #writeSidecars(cp: PreparedEvent): Promise<void> {
    const run = this.#sidecarChain.then(async () => {
      if (cp.event.sequence > this.#sidecarWritten) {
        await Promise.all(this.#sinks.map((s) => s.checkpoint?.(cp)));
        this.#sidecarWritten = cp.event.sequence;
      }
      this.#checkpointWritten(cp.event.sequence);
    });
    this.#sidecarChain = run.catch(() => {});
    return run;
  }

  #checkpointWritten(sequence: number): void {
    this.#lastCheckpoint = Math.max(this.#lastCheckpoint, sequence);
    if (this.#pendingSidecar && this.#pendingSidecar.event.sequence <= sequence) this.#pendingSidecar = undefined;
    if (this.#pendingSidecar) return;
    if (this.#missedInRow > 0) this.#deps.logger.warn({ missed: this.#missedInRow, sequence }, 'audit checkpoints written again');
    this.#missedInRow = 0;
    if (this.#sidecarTimer) clearInterval(this.#sidecarTimer);
    this.#sidecarTimer = undefined;
  }

  #missedCheckpoint(cp: PreparedEvent, e: unknown): void {
    this.#missedTotal++;
    this.#missedInRow++;
    if (!this.#pendingSidecar || this.#pendingSidecar.event.sequence < cp.event.sequence) this.#pendingSidecar = cp;
    const max = this.#deps.config.max_missed_checkpoints;
    this.#deps.logger.error(
      { err: errInfo(e), sequence: cp.event.sequence, missed_in_a_row: this.#missedInRow, max_missed_checkpoints: max },
      this.#missedInRow >= max
        ? 'AUDIT CHECKPOINTS NOT WRITTEN: refusing operations until a checkpoint sidecar can be written'
        : 'audit checkpoint sidecar not written: truncation of the log tail is not detectable until it is (not ready)',
    );
    if (this.#sidecarTimer || this.#closed) return;
    // Retry the same checkpoint quickly, so that operations resume as soon as the sidecar can be written again.
    this.#sidecarTimer = setInterval(() => {
      const pending = this.#pendingSidecar;
      if (pending) this.#writeSidecars(pending).catch(() => {});
    }, this.#deps.retryIntervalMs ?? 1000);
    this.#sidecarTimer.unref();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const t of this.#timers) clearInterval(t);
    try {
      await this.flush();
      if (this.#deps.config.checkpoint_interval > 0 && this.#head.sequence > this.#lastCheckpoint) await this.checkpoint();
    } catch (e) {
      this.#deps.logger.error({ err: errInfo(e), owed: this.#owed.length }, 'audit trail closed with events not durably stored');
    }
    this.#closed = true;
    this.#disarmRetry();
    if (this.#sidecarTimer) clearInterval(this.#sidecarTimer);
    for (const p of this.#queue.splice(0)) p.reject(auditUnavailable('the audit trail is closed'));
    await Promise.all(this.#sinks.map((s) => s.close().catch(() => {})));
    await this.#sealer.close();
    await this.#deps.ack?.close().catch(() => {});
  }

  /** Called once at start: records that the trail (re)started and from where, then reports refused ranges left over. */
  async started(resumedFrom: string, persistedWas: number): Promise<void> {
    // Past the acknowledged event and every known refused range, a sink may hold events whose record() never
    // settled: the process stopped (or a sink failed) before their operations were confirmed.
    const known = Math.max(this.#acked.sequence, ...this.#unreported.map((r) => r.last));
    const pending = this.#enqueue(
      {
        event_type: 'audit.started',
        action: 'audit:Start',
        principal: SYSTEM_PRINCIPAL,
        resource: { type: 'audit_chain', id: this.#chainId },
        outcome: 'success',
        metadata: {
          // Tells a verifier that this chain must be vouched for by a checkpoint sidecar (--require-checkpoints).
          mode: this.#deps.production ? 'production' : 'dev',
          resumed_from: resumedFrom,
          resumed_sequence: this.#head.sequence,
          persisted_head_sequence: persistedWas,
          acknowledged_sequence: this.#acked.sequence,
          ...(this.#head.sequence > known ? { unconfirmed_first_sequence: known + 1, unconfirmed_last_sequence: this.#head.sequence } : {}),
        },
      },
      undefined,
      { system: true },
    );
    for (const r of this.#unreported) this.#report(r, true);
    await pending;
  }
}

class DisabledTrail implements AuditTrail {
  async record(input: AuditEventInput): Promise<void> {
    validateInput(input);
  }
  ready = () => true;
  close = async () => {};
  flush = async () => {};
  publicKey(): AuditPublicKeyInfo {
    throw new ProblemError({ code: 'audit.disabled', detail: 'audit is disabled' });
  }
  async checkpoint(): Promise<never> {
    throw new ProblemError({ code: 'audit.disabled', detail: 'audit is disabled' });
  }
  head = () => ({ chain_id: '', sequence: 0, hash: GENESIS_HASH });
  stats = () => ({});
  checkpoints = () => ({ missed_total: 0, missed_consecutive: 0, last_written_sequence: 0 });
}

export async function createAuditTrail(deps: AuditTrailDeps): Promise<AuditTrail> {
  const { config, logger } = deps;
  if (!config.enabled) {
    logger.warn('audit trail DISABLED: operations are not recorded');
    return new DisabledTrail();
  }
  if (deps.production && config.on_failure === 'continue') {
    throw new ProblemError({ code: 'config.invalid', detail: "audit.on_failure 'continue' is not allowed in production" });
  }
  if (!config.signing_key_path) {
    throw new ProblemError({ code: 'config.invalid', detail: 'audit.signing_key_path is required' });
  }
  if (config.on_failure === 'continue') {
    logger.warn('AUDIT on_failure=continue: operations will proceed even when their audit event cannot be recorded (never use in production)');
  }
  const key = await loadSigningKey(config.signing_key_path, { strict: deps.production, warn: (m) => logger.warn(m) });
  const chainId = await deps.settings.putIfAbsent(settingsNameForChainId(deps.instanceId), randomUUID());
  const stored = await deps.chain.get(chainId);
  const ackState = await deps.ack?.read(chainId).catch((e: unknown) => {
    logger.error({ err: errInfo(e) }, 'audit acknowledgement state unreadable at start; events past the persisted head will be reported unconfirmed');
    return undefined;
  });
  // What every sink acknowledged: the ack state when there is one (written before each caller was answered), else
  // the persisted head (which may lag).
  const acked: ChainHead = ackState ?? (stored ? { sequence: stored.sequence, hash: stored.hash } : { sequence: 0, hash: GENESIS_HASH });
  if (ackState && stored && stored.sequence === ackState.sequence && stored.hash !== ackState.hash) {
    throw chainConflict(`the persisted head and the acknowledgement state disagree at sequence ${stored.sequence}`);
  }
  let head = stored && stored.sequence > acked.sequence ? { sequence: stored.sequence, hash: stored.hash } : { sequence: acked.sequence, hash: acked.hash };
  let resumedFrom = stored || ackState ? 'store' : 'genesis';

  const sinks = config.sinks.map((s) => createSink(s, { clock: deps.clock, logger: deps.logger, stdout: deps.stdout, chainId }));
  await Promise.all(sinks.map((s) => s.open()));
  // Source of truth on restart: the persisted head, unless a sink holds a newer authentic event of this chain
  // (the process died after the sink acknowledged and before the head was saved). A sink behind the head has
  // lost events: that is reported (and stays visible to verify as a gap), never papered over.
  for (const sink of sinks) {
    let tail: AuditEvent | undefined;
    try {
      tail = await sink.tail();
    } catch (e) {
      logger.error({ sink: sink.name, err: errInfo(e) }, 'audit sink tail unreadable at start');
      continue;
    }
    if (!tail) continue;
    if (tail.chain_id !== chainId) {
      await Promise.all(sinks.map((s) => s.close()));
      throw chainConflict(`${sink.name} ends with an event of chain ${tail.chain_id}, not this instance's chain ${chainId}; move it aside`);
    }
    if (!eventIsAuthentic(tail, key.publicKey)) {
      await Promise.all(sinks.map((s) => s.close()));
      throw chainConflict(`${sink.name} ends with an event (sequence ${tail.sequence}) that does not verify with the audit key`);
    }
    if (tail.sequence > head.sequence) {
      head = { sequence: tail.sequence, hash: tail.hash };
      resumedFrom = `sink:${sink.name}`;
    } else if (tail.sequence === head.sequence && tail.hash !== head.hash) {
      await Promise.all(sinks.map((s) => s.close()));
      throw chainConflict(`${sink.name} and the persisted head disagree at sequence ${head.sequence}`);
    }
  }
  for (const sink of sinks) {
    const tail = await sink.tail().catch(() => undefined);
    if (sink.durable && tail && tail.sequence < head.sequence) {
      logger.error({ sink: sink.name, sink_sequence: tail.sequence, head_sequence: head.sequence }, 'AUDIT SINK IS MISSING EVENTS: it is behind the chain head');
    }
  }
  if (!stored || stored.sequence !== head.sequence) await deps.chain.put({ chainId, sequence: head.sequence, hash: head.hash });

  const trail = new Trail(deps, key, sinks, chainId, head, { sequence: acked.sequence, hash: acked.hash }, ackState?.refused ?? []);
  await trail.started(resumedFrom, stored?.sequence ?? 0).catch((e) => {
    logger.error({ err: errInfo(e) }, 'audit trail started but its start event could not be recorded');
  });
  return trail;
}
