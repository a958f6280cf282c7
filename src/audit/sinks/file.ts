// Append-only JSON lines, fsynced before acknowledging, rotated by size and age without breaking the chain:
// a rotated file is renamed to `<path>.<first sequence>-<last sequence>` (12 digits each) and the next event,
// whose prev_hash is the last hash of the rotated file, starts the new active file.
import { accessSync, constants, statSync } from 'node:fs';
import { mkdir, open, readdir, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import type { ConfigProblem } from '../../core/preflight.ts';
import type { AuditEvent } from '../canonical.ts';
import type { AuditSink, PreparedEvent, SinkDescriptor, SinkStats } from './types.ts';

export const fileSinkSchema = z
  .object({
    type: z.literal('file'),
    path: z.string().min(1),
    /** Rotate before a write would make the active file larger than this (0 = never by size). */
    max_bytes: z.number().int().nonnegative().default(100 * 1024 * 1024),
    /** Rotate once the active file's first event is older than this (0 = never by age). */
    max_age_seconds: z.number().int().nonnegative().default(86_400),
    /** Always true: an event is acknowledged only after fsync. Present so configs can say it explicitly. */
    fsync: z.literal(true).default(true),
  })
  .strict();
export type FileSinkConfig = z.infer<typeof fileSinkSchema>;
import { parseIJson } from '../strict-json.ts';

export const ROTATED_SUFFIX = /\.(\d{12})-(\d{12})$/;
export const CHECKPOINT_SUFFIX = '.checkpoint';

const pad = (n: number) => String(n).padStart(12, '0');

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** Offset just past the last '\n' at or before `end` (0 if none). */
async function lastNewlineBefore(fh: FileHandle, end: number): Promise<number> {
  let window = 64 * 1024;
  for (;;) {
    const start = Math.max(0, end - window);
    const chunk = await readAt(fh, start, end - start);
    const i = chunk.lastIndexOf(0x0a);
    if (i >= 0) return start + i + 1;
    if (start === 0) return 0;
    window *= 4;
  }
}

async function firstLine(fh: FileHandle, size: number): Promise<string | undefined> {
  let window = 64 * 1024;
  for (;;) {
    const chunk = await readAt(fh, 0, Math.min(size, window));
    const i = chunk.indexOf(0x0a);
    if (i >= 0) return chunk.subarray(0, i).toString('utf8');
    if (chunk.length >= size) return undefined;
    window *= 4;
  }
}

export function parseEventLine(line: string): AuditEvent | undefined {
  try {
    const v = parseIJson(line) as AuditEvent;
    if (v && typeof v === 'object' && typeof v.sequence === 'number' && typeof v.hash === 'string' && typeof v.signature === 'string') {
      return v;
    }
  } catch {
    // not an event
  }
  return undefined;
}

async function fsyncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export class FileSink implements AuditSink {
  readonly name: string;
  readonly durable = true;
  readonly stats: SinkStats = { writes: 0, fsyncs: 0, rotations: 0 };
  readonly #cfg: FileSinkConfig;
  readonly #clock: Clock;
  readonly #log: Logger;
  #fh: FileHandle | undefined;
  #broken = true;
  #regular = false;
  #size = 0;
  #firstSeq: number | null = null;
  #firstTime: number | null = null;
  #tail: AuditEvent | undefined;
  /** The open file's identity: it cannot change while the handle is open, so each batch stats only the path. */
  #identity: { ino: number; dev: number } | undefined;

  constructor(cfg: FileSinkConfig, clock: Clock, log: Logger) {
    this.#cfg = cfg;
    this.#clock = clock;
    this.#log = log;
    this.name = `file:${cfg.path}`;
  }

  async open(): Promise<void> {
    try {
      await this.#open();
    } catch (e) {
      this.#broken = true;
      this.#log.error({ sink: this.name, err: errInfo(e) }, 'audit file sink cannot be opened');
    }
  }

  async #open(): Promise<void> {
    await this.#closeHandle();
    const path = this.#cfg.path;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const fh = await open(path, 'a+', 0o600);
    try {
      const st = await fh.stat();
      this.#identity = { ino: st.ino, dev: st.dev };
      this.#regular = st.isFile();
      this.#size = this.#regular ? st.size : 0;
      this.#firstSeq = null;
      this.#firstTime = null;
      this.#tail = undefined;
      if (this.#regular && this.#size > 0) {
        await this.#repairTornTail(fh);
        const first = this.#size > 0 ? parseEventLine((await firstLine(fh, this.#size)) ?? '') : undefined;
        if (first) {
          this.#firstSeq = first.sequence;
          this.#firstTime = Date.parse(first.time);
        }
        if (this.#size > 0) {
          const start = await lastNewlineBefore(fh, this.#size - 1);
          this.#tail = parseEventLine((await readAt(fh, start, this.#size - 1 - start)).toString('utf8'));
        }
      }
      if (this.#regular && !this.#tail) this.#tail = await this.#rotatedTail();
    } catch (e) {
      await fh.close().catch(() => {});
      throw e;
    }
    this.#fh = fh;
    this.#broken = false;
  }

  /**
   * A process killed mid-write can leave a final line without its newline. Such bytes were never
   * acknowledged (acknowledgement follows the fsync of whole lines). A complete event just missing its
   * newline is kept and terminated; anything else is cut off so that new events do not follow garbage.
   */
  async #repairTornTail(fh: FileHandle): Promise<void> {
    const last = await readAt(fh, this.#size - 1, 1);
    if (last[0] === 0x0a) return;
    const start = await lastNewlineBefore(fh, this.#size);
    const fragment = (await readAt(fh, start, this.#size - start)).toString('utf8');
    if (parseEventLine(fragment)) {
      await fh.write('\n');
      this.#size += 1;
      this.#log.warn({ sink: this.name }, 'audit file ended without a newline after a complete event; terminated it');
    } else {
      // Kept aside, not thrown away: if the line was in fact acknowledged (the file was damaged after the fact),
      // the bytes are evidence. A dot-file, so that verifying the directory still reads only the log.
      const aside = join(dirname(this.#cfg.path), `.${basename(this.#cfg.path)}.torn-${this.#clock.now().getTime()}`);
      await writeFile(aside, await readAt(fh, start, this.#size - start), { mode: 0o600 });
      await fh.truncate(start);
      this.#log.warn(
        { sink: this.name, discarded_bytes: this.#size - start, kept_in: aside },
        'audit file ended with a torn (partially written) line; moved it aside',
      );
      this.#size = start;
    }
    await fh.sync();
    this.stats.fsyncs++;
  }

  async #rotatedTail(): Promise<AuditEvent | undefined> {
    const dir = dirname(this.#cfg.path);
    const base = basename(this.#cfg.path);
    let best: { last: number; name: string } | undefined;
    for (const name of await readdir(dir)) {
      if (!name.startsWith(base + '.')) continue;
      const m = ROTATED_SUFFIX.exec(name.slice(base.length));
      if (!m || name.slice(base.length).length !== m[0].length) continue;
      const last = Number(m[2]);
      if (!best || last > best.last) best = { last, name };
    }
    if (!best) return undefined;
    const fh = await open(join(dir, best.name), 'r');
    try {
      const size = (await fh.stat()).size;
      if (size === 0) return undefined;
      const start = await lastNewlineBefore(fh, size - 1);
      return parseEventLine((await readAt(fh, start, size - 1 - start)).toString('utf8'));
    } finally {
      await fh.close();
    }
  }

  async tail(): Promise<AuditEvent | undefined> {
    if (this.#broken) await this.#open();
    return this.#tail;
  }

  async write(batch: PreparedEvent[]): Promise<void> {
    if (this.#broken || !this.#fh) await this.#open();
    await this.#assertStillAtPath();
    const tail = this.#tail;
    const todo = batch.filter((p) => !tail || p.event.chain_id !== tail.chain_id || p.event.sequence > tail.sequence);
    if (todo.length === 0) return;
    try {
      let chunk: PreparedEvent[] = [];
      let chunkBytes = 0;
      for (const p of todo) {
        const bytes = Buffer.byteLength(p.line) + 1;
        if (this.#shouldRotate(chunkBytes + bytes, chunk.length > 0, chunk[0] ?? p)) {
          await this.#append(chunk);
          await this.#rotate();
          chunk = [];
          chunkBytes = 0;
        }
        chunk.push(p);
        chunkBytes += bytes;
      }
      await this.#append(chunk);
    } catch (e) {
      // Drop whatever part of the failed write reached the file, so that the retry does not duplicate it.
      if (this.#regular) await this.#fh?.truncate(this.#size).catch(() => {});
      this.#broken = true;
      await this.#closeHandle();
      throw e;
    }
  }

  /**
   * Events written to a file that was deleted or replaced under us would be acknowledged and lost. The batch fails
   * instead (503 for its callers), the sink reopens the path on the next attempt, and the trail records the outage
   * (audit.recovered) in the new file.
   */
  async #assertStillAtPath(): Promise<void> {
    if (!this.#regular || !this.#fh) return;
    const atPath = await stat(this.#cfg.path).catch(() => undefined);
    if (atPath && this.#identity && atPath.ino === this.#identity.ino && atPath.dev === this.#identity.dev) return;
    this.#log.error({ sink: this.name, path: this.#cfg.path }, 'AUDIT FILE REMOVED OR REPLACED while open: events acknowledged into it are gone from the path');
    this.#broken = true;
    await this.#closeHandle();
    throw Object.assign(new Error('the active audit file was removed or replaced'), { code: 'EAUDITFILEGONE' });
  }

  #shouldRotate(pendingBytes: number, hasPending: boolean, next: PreparedEvent): boolean {
    if (!this.#regular || (this.#size === 0 && !hasPending)) return false; // never rotate an empty file
    if (this.#cfg.max_bytes > 0 && this.#size + pendingBytes > this.#cfg.max_bytes) return true;
    const first = this.#firstTime ?? Date.parse(next.event.time);
    return this.#cfg.max_age_seconds > 0 && this.#clock.now().getTime() - first >= this.#cfg.max_age_seconds * 1000;
  }

  async #append(chunk: PreparedEvent[]): Promise<void> {
    if (chunk.length === 0) return;
    const fh = this.#fh!;
    const buf = Buffer.from(chunk.map((p) => p.line + '\n').join(''), 'utf8');
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
    this.stats.writes++;
    await fh.sync();
    this.stats.fsyncs++;
    this.#size += buf.length;
    if (this.#firstSeq === null) {
      this.#firstSeq = chunk[0]!.event.sequence;
      this.#firstTime = Date.parse(chunk[0]!.event.time);
    }
    this.#tail = chunk[chunk.length - 1]!.event;
  }

  async #rotate(): Promise<void> {
    const path = this.#cfg.path;
    const target = `${path}.${pad(this.#firstSeq ?? 0)}-${pad(this.#tail?.sequence ?? 0)}`;
    await this.#closeHandle();
    await rename(path, target);
    await fsyncDir(dirname(path));
    const fh = await open(path, 'a+', 0o600);
    this.#fh = fh;
    const st = await fh.stat();
    this.#identity = { ino: st.ino, dev: st.dev };
    this.#size = 0;
    this.#firstSeq = null;
    this.#firstTime = null;
    this.stats.rotations++;
    this.#log.info({ sink: this.name, rotated_to: target }, 'audit file rotated');
  }

  async checkpoint(cp: PreparedEvent): Promise<void> {
    if (!this.#regular) return;
    const final = this.#cfg.path + CHECKPOINT_SUFFIX;
    const tmp = final + '.tmp';
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(cp.line + '\n');
      await fh.sync();
      this.stats.fsyncs++;
    } finally {
      await fh.close();
    }
    await rename(tmp, final);
    await fsyncDir(dirname(final));
  }

  async #closeHandle(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    if (fh) await fh.close().catch(() => {});
  }

  async close(): Promise<void> {
    await this.#closeHandle();
    this.#broken = true;
  }
}

export function errInfo(e: unknown): { code?: string; message: string } {
  const err = e as NodeJS.ErrnoException;
  return { ...(err?.code ? { code: err.code } : {}), message: err?.message ?? String(e) };
}

const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? 'error';

/** Whether the sink could open `path` now: the file writable, or the nearest existing directory (open creates the rest). */
function fileSinkPreflight(path: string, field: string): ConfigProblem[] {
  const problem = (message: string) => [{ path: field, message }];
  try {
    if (statSync(path).isDirectory()) return problem(`${path} is a directory`);
    accessSync(path, constants.W_OK);
    return [];
  } catch (e) {
    // ENOTDIR: something on the way is a file; the walk below names it.
    if (code(e) !== 'ENOENT' && code(e) !== 'ENOTDIR') return problem(`${path} is not writable (${code(e)})`);
  }
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    try {
      if (!statSync(dir).isDirectory()) return problem(`${dir} is not a directory, so ${path} cannot be created`);
      accessSync(dir, constants.W_OK | constants.X_OK);
      return [];
    } catch (e) {
      if ((code(e) !== 'ENOENT' && code(e) !== 'ENOTDIR') || dirname(dir) === dir) return problem(`cannot create ${path}: ${dir} is not writable (${code(e)})`);
    }
  }
}

export const fileSinkDescriptor: SinkDescriptor<FileSinkConfig, z.input<typeof fileSinkSchema>> = {
  type: 'file',
  title: 'append-only JSON lines, fsynced before acknowledging, rotated',
  configSchema: fileSinkSchema,
  durable: true,
  create: (cfg, deps) => new FileSink(cfg, deps.clock, deps.logger),
  preflight: (cfg, _ctx, at) => fileSinkPreflight(cfg.path, `${at}.path`),
  claim: (cfg) => cfg.path,
};
