// JetStream publish with acknowledgement. Events of a batch are published one after the other, each only
// after the previous one was acked, so a failure can never leave a later event stored before an earlier
// one; the event id is the JetStream message id, so re-sending an event whose ack was lost is deduplicated.
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, StorageType, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { AuditEvent } from '../canonical.ts';
import type { NatsSinkConfig } from '../config.ts';
import { errInfo, parseEventLine } from './file.ts';
import type { AuditSink, PreparedEvent, SinkStats } from './types.ts';

export const DEFAULT_STREAM = 'KEYWARD_AUDIT';

export class NatsSink implements AuditSink {
  readonly name: string;
  readonly durable = true;
  readonly stats: SinkStats = { writes: 0, fsyncs: 0, rotations: 0 };
  readonly #cfg: NatsSinkConfig;
  readonly #log: Logger;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  #connecting: Promise<void> | undefined;
  #tail: AuditEvent | undefined;
  #closed = false;

  constructor(cfg: NatsSinkConfig, log: Logger) {
    this.#cfg = cfg;
    this.#log = log;
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
        const exists = await jsm.streams.info(name).then(
          () => true,
          () => false,
        );
        if (!exists) {
          await jsm.streams.add({ name, subjects: [cfg.subject], storage: StorageType.File });
          this.#log.info({ sink: this.name, stream: name }, 'audit JetStream stream created');
        }
      }
      const stream = cfg.stream ?? (cfg.create_stream ? DEFAULT_STREAM : await jsm.streams.find(cfg.subject));
      const last = await jsm.streams.getMessage(stream, { last_by_subj: cfg.subject }).catch(() => null);
      const tail = last ? parseEventLine(Buffer.from(last.data).toString('utf8')) : undefined;
      if (tail && (!this.#tail || (tail.chain_id === this.#tail.chain_id && tail.sequence > this.#tail.sequence))) this.#tail = tail;
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
      if (tail && tail.chain_id === p.event.chain_id && p.event.sequence <= tail.sequence) continue;
      await js.publish(cfg.subject, p.line, {
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
