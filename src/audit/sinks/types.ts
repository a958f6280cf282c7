import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import type { ConfigProblem, PreflightContext } from '../../core/preflight.ts';
import type { AuditEvent } from '../canonical.ts';
import type { SinkType } from './index.ts';

/** One prepared event: the object and the exact line (RFC 8785 JSON, no trailing newline) the sinks store. */
export interface PreparedEvent {
  event: AuditEvent;
  line: string;
}

export interface SinkStats {
  writes: number;
  fsyncs: number;
  rotations: number;
}

export interface AuditSink {
  readonly name: string;
  /** Whether an acknowledged write survives a crash (stdout: no). */
  readonly durable: boolean;
  readonly stats: SinkStats;
  /** Connects/opens. Never throws for a sink that is merely unavailable: write() reports that. */
  open(): Promise<void>;
  /** The newest event this sink holds, when it can tell (for resuming the chain after a restart). */
  tail(): Promise<AuditEvent | undefined>;
  /**
   * Stores the events, in order, durably; resolves only once they are (file: fsynced; NATS: acked).
   * Events this sink already holds (sequence at or below its known tail) are skipped, so a retry is safe.
   */
  write(batch: PreparedEvent[]): Promise<void>;
  /** Records the latest checkpoint out of band (file: fsynced sidecar). */
  checkpoint?(cp: PreparedEvent): Promise<void>;
  close(): Promise<void>;
}


export interface SinkDeps {
  clock: Clock;
  logger: Logger;
  /** Where the stdout sink writes (default process.stdout). */
  stdout?: NodeJS.WritableStream | undefined;
  /** This instance's chain (a shared NATS stream keeps one subject per chain). */
  chainId: string;
}

/**
 * One sink kind: one file exporting this and one line in the registry (index.ts). `at` is where its configuration
 * sits (`audit.sinks.<i>`); every problem names a field below it.
 */
export interface SinkDescriptor<C extends { type: SinkType } = { type: SinkType }, I = unknown> {
  readonly type: C['type'];
  /** Where the events go, for documentation and the doctor: 'JSON lines on stdout', 'a JetStream stream'. */
  readonly title: string;
  readonly configSchema: z.ZodType<C, I>;
  /** Whether an acknowledged write survives a crash; production needs at least one durable sink. */
  readonly durable: boolean;
  /** Opens nothing: the trail calls open(), and a sink that is unavailable then reports it on write. */
  create(config: C, deps: SinkDeps): AuditSink;
  /**
   * Checks that need no network (the file's directory writable, the URLs well formed), run by `config check`.
   * `serve` starts regardless: a sink that cannot be written at start leaves the trail unready until it can.
   */
  preflight?(config: C, ctx: PreflightContext, at: string): ConfigProblem[];
  /** What production mode refuses in this sink's configuration, each as "<path>: <message>". */
  production?(config: C, at: string): string[];
  /**
   * The local file this sink writes alone (a file sink's path): two sinks with the same claim are refused, and the
   * server locks it against a second instance.
   */
  claim?(config: C): string | undefined;
}

/** Any kind's descriptor, as the registry lists them (its configuration typed by the caller). */
export type AnySinkDescriptor = Omit<SinkDescriptor<any, any>, 'type'> & { readonly type: SinkType };
