// JetStream publish with acknowledgement. Events of a batch are published one after the other, each only
// after the previous one was acked, so a failure can never leave a later event stored before an earlier
// one; the event id is the JetStream message id, so re-sending an event whose ack was lost is deduplicated.
//
// Several instances share one configured subject and stream: each publishes its own chain on
// `<subject>.<chain_id>`, so that the stream can say where each chain ends (last message by subject) and a new
// instance never mistakes another instance's events for its own tail.
//
// On a JetStream cluster a replicated stream survives the loss of one server, but not without a pause: the
// client moves to another server, and when the lost server led the stream, the others elect a new leader
// (seconds; publishes get no responder meanwhile). A write therefore re-publishes an unacknowledged event for
// up to `publish_retry_ms` before giving up, so that callers wait through an election instead of being refused.
// Once a write has used up that time, later writes try once until one succeeds: an outage (two servers of
// three lost, no quorum) is refused quickly rather than holding every caller for the whole retry time.
import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.ts';
import type { AuditEvent } from '../canonical.ts';
import { z } from 'zod';
import { errInfo, parseEventLine } from './file.ts';
import type { AuditSink, PreparedEvent, SinkDescriptor, SinkStats } from './types.ts';

export const natsSinkSchema = z
  .object({
    type: z.literal('nats'),
    /** A server, or a cluster's servers separated by commas (the client also learns the others from the first it reaches). */
    url: z.string().min(1).default('nats://127.0.0.1:4222'),
    subject: z.string().min(1).default('keyward.audit'),
    /** Stream that captures `subject`; looked up by subject when absent. */
    stream: z.string().min(1).optional(),
    /** Create the stream (named `stream`, default KEYWARD_AUDIT) if it does not exist. */
    create_stream: z.boolean().default(false),
    ack_timeout_ms: z.number().int().positive().default(5000),
    /**
     * How long one write keeps re-publishing an event that was not acknowledged (the connection moved to another
     * server, the stream is electing a leader) before the trail refuses it. Re-sends reuse the event id, so
     * JetStream stores the event once. 0: one attempt.
     */
    publish_retry_ms: z.number().int().nonnegative().default(15_000),
    /** Replicas of the stream `create_stream` creates (3 on a three-node JetStream cluster); an existing stream keeps its own. */
    replicas: z.number().int().min(1).max(5).default(1),
  })
  .strict();
export type NatsSinkConfig = z.infer<typeof natsSinkSchema>;

export const DEFAULT_STREAM = 'KEYWARD_AUDIT';

/** The subject one chain is published on, below the configured subject. */
export const chainSubject = (subject: string, chainId: string) => `${subject}.${chainId}`;
/** What a stream must capture for every chain of `subject` (and events published on `subject` itself, before chains had their own). */
export const streamSubjects = (subject: string) => [subject, `${subject}.*`];
/** The servers named by a sink's `url`: one URL or several separated by commas. */
export const natsServers = (url: string) => url.split(',').map((u) => u.trim()).filter((u) => u.length > 0);

/** The NATS client, loaded when a sink first connects: a server without a NATS sink never loads it. */
async function natsClient() {
  const [{ connect }, { JetStreamApiError, jetstream, jetstreamManager, StorageType }] = await Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')]);
  return { connect, JetStreamApiError, jetstream, jetstreamManager, StorageType };
}
type NatsClient = Awaited<ReturnType<typeof natsClient>>;

/**
 * A refusal that a re-send cannot change: JetStream said the request itself is wrong (another stream than the
 * configured one captures the subject, the message is too large). Timeouts, missing responders (no stream
 * leader), lost connections and server-side 5xx errors may pass.
 */
function isPermanent(e: unknown, client: NatsClient): boolean {
  return e instanceof client.JetStreamApiError && e.status >= 400 && e.status < 500;
}

export class NatsSink implements AuditSink {
  readonly name: string;
  readonly durable = true;
  readonly stats: SinkStats = { writes: 0, fsyncs: 0, rotations: 0 };
  readonly #cfg: NatsSinkConfig;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #chainId: string;
  readonly #subject: string;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  #client: NatsClient | undefined;
  #connecting: Promise<void> | undefined;
  #tail: AuditEvent | undefined;
  #closed = false;
  /** A write used up its retry time and nothing was acknowledged since: try once per event until something is. */
  #exhausted = false;

  constructor(cfg: NatsSinkConfig, log: Logger, chainId: string, clock: Clock) {
    this.#cfg = cfg;
    this.#log = log;
    this.#clock = clock;
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
    const { connect, jetstream, jetstreamManager, StorageType } = (this.#client ??= await natsClient());
    const nc = await connect({
      servers: natsServers(cfg.url),
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
          await jsm.streams.add({ name, subjects: streamSubjects(cfg.subject), storage: StorageType.File, num_replicas: cfg.replicas }).catch(async (e: unknown) => {
            // Another instance created it at the same moment.
            if (!(await jsm.streams.info(name).catch(() => undefined))) throw e;
          });
          this.#log.info({ sink: this.name, stream: name, replicas: cfg.replicas }, 'audit JetStream stream created');
        } else if ((info.config.num_replicas ?? 1) < cfg.replicas) {
          // Changing a stream's replication is the operator's call (it moves data between servers): say so, go on.
          this.#log.warn({ sink: this.name, stream: name, replicas: info.config.num_replicas, configured: cfg.replicas }, 'audit JetStream stream has fewer replicas than configured');
        }
        if (info && !info.config.subjects?.includes(`${cfg.subject}.*`) && !info.config.subjects?.includes(`${cfg.subject}.>`)) {
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
      await this.#publish(js, p);
      this.stats.writes++;
      this.#tail = p.event;
    }
  }

  /** Publishes one event until JetStream acknowledges it, within the retry time; throws the last error otherwise. */
  async #publish(js: JetStreamClient, p: PreparedEvent): Promise<void> {
    const cfg = this.#cfg;
    // The retry time runs on the injected clock (the system's in a server), like every other deadline of the trail.
    const now = () => this.#clock.now().getTime();
    const deadline = now() + (this.#exhausted ? 0 : cfg.publish_retry_ms);
    for (let attempt = 0; ; attempt++) {
      // A re-send waits no longer than the retry time left; a single attempt waits the whole ack timeout.
      const left = deadline - now();
      try {
        await js.publish(this.#subject, p.line, {
          msgID: p.event.event_id,
          timeout: left > 0 ? Math.min(cfg.ack_timeout_ms, Math.max(left, 100)) : cfg.ack_timeout_ms,
          ...(cfg.stream ? { expect: { streamName: cfg.stream } } : {}),
        });
        if (this.#exhausted || attempt > 0) this.#log.warn({ sink: this.name, attempts: attempt + 1 }, 'audit NATS publish acknowledged again');
        this.#exhausted = false;
        return;
      } catch (e) {
        const pause = Math.min(500, 50 * 2 ** attempt);
        // Connected before publishing: the client is loaded.
        const permanent = isPermanent(e, this.#client!);
        if (this.#closed || permanent || now() + pause >= deadline) {
          if (!permanent && !this.#exhausted) {
            this.#exhausted = true;
            this.#log.error({ sink: this.name, attempts: attempt + 1, err: errInfo(e) }, 'audit NATS publish not acknowledged within publish_retry_ms');
          }
          throw e;
        }
        this.#log.debug({ sink: this.name, sequence: p.event.sequence, attempt: attempt + 1, err: errInfo(e) }, 'audit NATS publish not acknowledged; sending it again');
        await sleep(pause);
      }
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

/** A server the client can dial: nats://host:port, tls://host:port, or host:port. */
function badServer(u: string): boolean {
  try {
    const url = new URL(u.includes('://') ? u : `nats://${u}`);
    return !['nats:', 'tls:'].includes(url.protocol) || url.hostname === '';
  } catch {
    return true;
  }
}

export const natsSinkDescriptor: SinkDescriptor<NatsSinkConfig, z.input<typeof natsSinkSchema>> = {
  type: 'nats',
  title: 'a JetStream stream, acknowledged per event',
  configSchema: natsSinkSchema,
  durable: true,
  create: (cfg, deps) => new NatsSink(cfg, deps.logger, deps.chainId, deps.clock),
  preflight(cfg, _ctx, at) {
    const servers = natsServers(cfg.url);
    if (servers.length === 0) return [{ path: `${at}.url`, message: 'names no server' }];
    return servers.filter(badServer).map((u) => ({ path: `${at}.url`, message: `${u} is not a NATS server address (nats://host:port, tls://host:port or host:port)` }));
  },
};
