import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { auditConfigSchema, type AuditConfig } from '../../src/audit/config.ts';
import { generateSigningKeyFile } from '../../src/audit/keys.ts';
import { createAuditTrail, type AuditTrail } from '../../src/audit/trail.ts';
import type { AuditEventInput } from '../../src/audit/types.ts';
import type { AuditChainHead, AuditChainRepository, SettingsRepository } from '../../src/store/types.ts';
import { ManualClock } from '../support/clock.ts';

export class MemoryChain implements AuditChainRepository {
  heads = new Map<string, AuditChainHead>();
  puts = 0;
  async get(id: string) {
    return this.heads.get(id);
  }
  async put(h: AuditChainHead) {
    this.puts++;
    this.heads.set(h.chainId, { ...h });
  }
}

export class MemorySettings implements SettingsRepository {
  values = new Map<string, string>();
  async get(n: string) {
    return this.values.get(n);
  }
  async putIfAbsent(n: string, v: string) {
    if (!this.values.has(n)) this.values.set(n, v);
    return this.values.get(n)!;
  }
  async put(n: string, v: string) {
    this.values.set(n, v);
  }
}

/** A JSON-file key-value map, so chain heads and settings survive a process restart in tests. */
class JsonMap {
  readonly path: string;
  constructor(path: string) {
    this.path = path;
  }
  async load(): Promise<Record<string, unknown>> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8'));
    } catch {
      return {};
    }
  }
  async save(d: Record<string, unknown>): Promise<void> {
    await writeFile(this.path + '.tmp', JSON.stringify(d));
    await rename(this.path + '.tmp', this.path);
  }
}

export class JsonChain implements AuditChainRepository {
  readonly #m: JsonMap;
  constructor(path: string) {
    this.#m = new JsonMap(path);
  }
  async get(id: string) {
    return (await this.#m.load())[id] as AuditChainHead | undefined;
  }
  async put(h: AuditChainHead) {
    const d = await this.#m.load();
    d[h.chainId] = h;
    await this.#m.save(d);
  }
}

export class JsonSettings implements SettingsRepository {
  readonly #m: JsonMap;
  constructor(path: string) {
    this.#m = new JsonMap(path);
  }
  async get(n: string) {
    return (await this.#m.load())[n] as string | undefined;
  }
  async putIfAbsent(n: string, v: string) {
    const d = await this.#m.load();
    if (!(n in d)) {
      d[n] = v;
      await this.#m.save(d);
    }
    return d[n] as string;
  }
  async put(n: string, v: string) {
    const d = await this.#m.load();
    d[n] = v;
    await this.#m.save(d);
  }
}

export interface CapturedLogger {
  logger: pino.Logger;
  lines: Array<Record<string, unknown>>;
}

export function captureLogger(): CapturedLogger {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'keyward-audit-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function newKey(dir: string, name = 'audit.key'): Promise<string> {
  const p = join(dir, name);
  await generateSigningKeyFile(p);
  return p;
}

export function config(over: Record<string, unknown>): AuditConfig {
  return auditConfigSchema.parse({ checkpoint_interval: 0, ...over });
}

export async function makeTrail(opts: {
  config: AuditConfig;
  chain?: AuditChainRepository;
  settings?: SettingsRepository;
  clock?: ManualClock;
  production?: boolean;
  log?: CapturedLogger;
  retryIntervalMs?: number;
  instanceId?: string;
}): Promise<{ trail: AuditTrail; chain: AuditChainRepository; settings: SettingsRepository; clock: ManualClock; log: CapturedLogger }> {
  const chain = opts.chain ?? new MemoryChain();
  const settings = opts.settings ?? new MemorySettings();
  const clock = opts.clock ?? new ManualClock();
  const log = opts.log ?? captureLogger();
  const trail = await createAuditTrail({
    config: opts.config,
    chain,
    settings,
    clock,
    logger: log.logger,
    production: opts.production ?? false,
    ...(opts.instanceId ? { instanceId: opts.instanceId } : {}),
    retryIntervalMs: opts.retryIntervalMs ?? 50,
  });
  return { trail, chain, settings, clock, log };
}

export function sampleEvent(i: number, over: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    event_type: 'key.sign',
    action: 'kms:Sign',
    principal: { id: `svc-${i % 3}`, type: 'service', auth_method: 'api_key' },
    resource: { type: 'key', id: `key-${i}`, version: 1 },
    outcome: 'success',
    request_id: `req-${i}`,
    source_ip: '10.0.0.1',
    user_agent: 'test/1.0',
    metadata: { algorithm: 'ED25519_PURE', n: i },
    ...over,
  };
}

export async function readLines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l.length > 0);
}
