import type { AuditEvent } from '../canonical.ts';

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
