// JSON lines on stdout, for log shippers. Not durable: a pipe accepts bytes, not responsibility.
import { z } from 'zod';
import type { AuditSink, PreparedEvent, SinkDescriptor, SinkStats } from './types.ts';

export const stdoutSinkSchema = z.object({ type: z.literal('stdout') }).strict();

export class StdoutSink implements AuditSink {
  readonly name = 'stdout';
  readonly durable = false;
  readonly stats: SinkStats = { writes: 0, fsyncs: 0, rotations: 0 };
  readonly #out: NodeJS.WritableStream;

  constructor(out: NodeJS.WritableStream = process.stdout) {
    this.#out = out;
  }
  async open(): Promise<void> {}
  async tail(): Promise<undefined> {
    return undefined;
  }
  write(batch: PreparedEvent[]): Promise<void> {
    if (batch.length === 0) return Promise.resolve();
    this.stats.writes++;
    const text = batch.map((p) => p.line + '\n').join('');
    return new Promise((resolve, reject) => {
      this.#out.write(text, (err) => (err ? reject(err) : resolve()));
    });
  }
  async close(): Promise<void> {}
}

export const stdoutSinkDescriptor: SinkDescriptor<z.infer<typeof stdoutSinkSchema>, z.input<typeof stdoutSinkSchema>> = {
  type: 'stdout',
  title: 'JSON lines on standard output, for log shippers',
  configSchema: stdoutSinkSchema,
  durable: false,
  create: (_cfg, deps) => new StdoutSink(deps.stdout),
};
