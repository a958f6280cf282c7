// JetStream publish with acknowledgement. Events of a batch are published one after the other, each only
// after the previous one was acked, so a failure can never leave a later event stored before an earlier
// one; the event id is the JetStream message id, so re-sending an event whose ack was lost is deduplicated.
//
// Several instances share one configured subject and stream: each publishes its own chain on
// `<subject>.<chain_id>`, so that the stream can say where each chain ends (last message by subject) and a new
// instance never mistakes another instance's events for its own tail.
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, StorageType, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { AuditEvent } from '../canonical.ts';
import type { NatsSinkConfig } from '../config.ts';
import { errInfo, parseEventLine } from './file.ts';
import type { AuditSink, PreparedEvent, SinkStats } from './types.ts';

export const DEFAULT_STREAM = 'KEYWARD_AUDIT';

/** The subject one chain is published on, below the configured subject. */
export const chainSubject = (subject: string, chainId: string) => `${subject}.${chainId}`;
/** What a stream must capture for every chain of `subject` (and events published on `subject` itself, before chains had their own). */
export const streamSubjects = (subject: string) => [subject, `${subject}.*`];

export class NatsSink implements AuditSink {
  readonly name: string;
  readonly durable = true;
  readonly stats: SinkStats = { writes: 0, fsyncs: 0, rotations: 0 };
  readonly #cfg: NatsSinkConfig;
  readonly #log: Logger;
  readonly #chainId: string;
  readonly #subject: string;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  #connecting: Promise<void> | undefined;
  #tail: AuditEvent | undefined;
  #closed = false;

  constructor(cfg: NatsSinkConfig, log: Logger, chainId: string) {
    this.#cfg = cfg;
    this.#log = log;
    this.#chainId = chainId;
    this.#subject = chainSubject(cfg.subject, chainId);
    this.name = `nats:${cfg.subject}`;
  }

  async open(): Promise<void> {
    try {
      await this.#ensure();
    } catch (e) {
      this.#log.error({ sink: this.name, err: errInfo(e) }, 'audit NATS sink unavailable at start; will retry on each write');
    }
  }

  async #ensure(): Promise<void> {
    if (this.#closed) throw new Error('audit NATS sink is closed');
    if (this.#nc && !this.#nc.isClosed()) return;
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    await this.#connecting;
  }

  async #connect(): Promise<void> {
    const cfg = this.#cfg;
    const nc = await connect({
      servers: cfg.url,
      name: 'keyward-audit',
      timeout: cfg.ack_timeout_ms,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    try {
      const jsm = await jetstreamManager(nc, { timeout: cfg.ack_timeout_ms });
      if (cfg.create_stream) {
        const name = cfg.stream ?? DEFAULT_STREAM;
        const info = await jsm.streams.info(name).catch(() => undefined);
        if (!info) {
          await jsm.streams.add({ name, subjects: streamSubjects(cfg.subject), storage: StorageType.File }).catch(async (e: unknown) => {
            // Another instance created it at the same moment.
            if (!(await jsm.streams.info(name).catch(() => undefined))) throw e;
          });
          this.#log.info({ sink: this.name, stream: name }, 'audit JetStream stream created');
        } else if (!info.config.subjects?.includes(`${cfg.subject}.*`) && !info.config.subjects?.includes(`${cfg.subject}.>`)) {
          // A stream made before each chain had its own subject captures only `subject`.
          const subjects = [...new Set([...(info.config.subjects ?? []), ...streamSubjects(cfg.subject)])];
          await jsm.streams.update(name, { subjects });
          this.#log.warn({ sink: this.name, stream: name, subjects }, 'audit JetStream stream now also captures the per-chain subjects');
        }
      }
      // The stream that will store this chain's events; JetStream refuses to guess when none captures the subject.
      const stream = await jsm.streams.find(this.#subject).catch(() => {
        throw new Error(`no JetStream stream captures ${this.#subject}: add ${cfg.subject}.* to the stream's subjects (or set create_stream)`);
      });
      if (cfg.stream && stream !== cfg.stream) throw new Error(`${this.#subject} is captured by stream ${stream}, not by the configured ${cfg.stream}`);
      const lastOf = async (subject: string) => {
        const m = await jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null);
        const e = m ? parseEventLine(Buffer.from(m.data).toString('utf8')) : undefined;
        return e?.chain_id === this.#chainId ? e : undefined;
      };
      // Events published on the bare subject (before chains had their own) still count for this chain's tail.
      const tail = (await lastOf(this.#subject)) ?? (await lastOf(cfg.subject));
      if (tail && (!this.#tail || tail.sequence > this.#tail.sequence)) this.#tail = tail;
      this.#js = jetstream(nc, { timeout: cfg.ack_timeout_ms });
    } catch (e) {
      await nc.close().catch(() => {});
      throw e;
    }
    this.#nc = nc;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') this.#log.warn({ sink: this.name, status: s.type }, 'audit NATS connection');
      }
    })().catch(() => {});
  }

  async tail(): Promise<AuditEvent | undefined> {
    return this.#tail;
  }

  async write(batch: PreparedEvent[]): Promise<void> {
    await this.#ensure();
    const js = this.#js!;
    const cfg = this.#cfg;
    for (const p of batch) {
      const tail = this.#tail;
      if (tail && p.event.sequence <= tail.sequence) continue;
      await js.publish(this.#subject, p.line, {
        msgID: p.event.event_id,
        timeout: cfg.ack_timeout_ms,
        ...(cfg.stream ? { expect: { streamName: cfg.stream } } : {}),
      });
      this.stats.writes++;
      this.#tail = p.event;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#connecting?.catch(() => {});
    const nc = this.#nc;
    this.#nc = undefined;
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }
}
