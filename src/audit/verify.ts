// Verification of stored audit events: every signature, the hash chain, sequence gaps, duplicates,
// reordering, splices of other chains, and truncation against signed checkpoints.
import { verify as edVerify, type KeyObject } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { JetStreamClient } from '@nats-io/jetstream';
import { canonicalBytes, chainHash, GENESIS_HASH, SCHEMA_VERSION, signingInput, type AuditEvent } from './canonical.ts';
import { publicKeyInfo } from './keys.ts';
import { CHECKPOINT_SUFFIX } from './sinks/file.ts';
import { natsServers, streamSubjects } from './sinks/nats.ts';
import { IJsonError, parseIJson } from './strict-json.ts';

export type VerifyReason =
  | 'empty'
  | 'malformed'
  | 'torn_line'
  | 'schema'
  | 'chain_mismatch'
  | 'hash_mismatch'
  | 'wrong_key'
  | 'bad_signature'
  | 'missing_start'
  | 'chain_broken'
  | 'gap'
  | 'duplicate'
  | 'reordered'
  | 'checkpoint_invalid'
  | 'checkpoint_mismatch'
  | 'checkpoint_missing'
  | 'truncated';

export type VerifyWarning = 'torn_final_line' | 'missing_final_newline' | 'partial_start' | 'no_checkpoint';

export interface VerifyFinding<R extends string = VerifyReason> {
  reason: R;
  message: string;
  sequence?: number;
  /** `file:line` or `nats:<stream>#<stream sequence>` */
  location?: string;
}

export interface AuditLine {
  text: string;
  location: string;
}

/** One file (or stream) of JSON lines. `torn` is a final fragment that had no newline. */
export interface AuditLogSource {
  name: string;
  lines: AuditLine[];
  torn?: AuditLine | undefined;
}

export interface VerifyOptions {
  publicKey: KeyObject;
  /** Signed checkpoint events kept outside the log (the file sink's `<path>.checkpoint` sidecars). */
  checkpoints?: AuditLine[];
  /** Accept a log that starts after sequence 1 (older files pruned); the start is then reported as a warning. */
  allowPartialStart?: boolean;
  /** The input may interleave several chains (a shared NATS subject): verify each chain on its own. */
  multiChain?: boolean;
  /**
   * Whether every chain must be vouched for by a signed checkpoint given in `checkpoints` (without one, a cut tail
   * cannot be told from a log that simply ends). `'production'`: required for chains written in production mode
   * (an `audit.started` event with `metadata.mode: "production"`), a warning for the others. Default false: a
   * warning (`no_checkpoint`) for every chain without one.
   */
  requireCheckpoints?: boolean | 'production';
}

export interface ChainSummary {
  chain_id: string;
  first_sequence: number;
  last_sequence: number;
  last_hash: string;
  events: number;
  last_checkpoint_sequence: number | null;
  /** Whether a signed checkpoint from outside the log (a sidecar) vouched for this chain. */
  checkpointed: boolean;
  /** Whether an `audit.started` event of this chain says it was written in production mode. */
  production: boolean;
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  chains: ChainSummary[];
  warnings: VerifyFinding<VerifyWarning>[];
  error?: VerifyFinding;
}

/** Splits file content into lines; a last piece without '\n' is a torn line candidate. */
export function parseLogText(name: string, text: string): AuditLogSource {
  const parts = text.split('\n');
  const last = parts.pop() ?? '';
  const lines = parts.map((t, i) => ({ text: t, location: `${name}:${i + 1}` }));
  return { name, lines, torn: last.length > 0 ? { text: last, location: `${name}:${parts.length + 1}` } : undefined };
}

interface Entry {
  line: AuditLine;
  event?: AuditEvent;
  /** Why the line is not an event (when `event` is absent). */
  problem?: string;
}

function parse(line: AuditLine): Entry {
  try {
    const v = parseIJson(line.text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return { line, event: v as AuditEvent };
    return { line, problem: 'not a JSON object' };
  } catch (e) {
    return { line, problem: e instanceof IJsonError ? `not I-JSON: ${e.message}` : 'line is not valid JSON' };
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
const isStrOrNull = (v: unknown) => v === null || typeof v === 'string';

function schemaProblem(e: AuditEvent): string | undefined {
  if (e.schema_version !== SCHEMA_VERSION) return `unsupported schema_version ${String(e.schema_version)}`;
  for (const k of ['event_id', 'time', 'chain_id', 'event_type', 'action', 'outcome', 'key_id', 'prev_hash', 'hash', 'signature'] as const) {
    if (typeof e[k] !== 'string') return `field ${k} missing or not a string`;
  }
  if (!Number.isSafeInteger(e.sequence) || e.sequence < 1) return 'sequence must be a positive integer';
  if (!HEX64.test(e.prev_hash) || !HEX64.test(e.hash)) return 'prev_hash and hash must be 64 lowercase hex digits';
  for (const k of ['error_code', 'request_id', 'source_ip', 'user_agent'] as const) if (!isStrOrNull(e[k])) return `field ${k} must be a string or null`;
  if (e.principal !== null && typeof e.principal !== 'object') return 'principal must be an object or null';
  if (e.resource !== null && typeof e.resource !== 'object') return 'resource must be an object or null';
  if (typeof e.metadata !== 'object' || e.metadata === null) return 'metadata must be an object';
  return undefined;
}

class Failure extends Error {
  readonly finding: VerifyFinding;
  constructor(finding: VerifyFinding) {
    super(finding.message);
    this.finding = finding;
  }
}

const fail = (reason: VerifyReason, message: string, entry?: Entry, sequence?: number): never => {
  throw new Failure({
    reason,
    message,
    ...(sequence !== undefined ? { sequence } : entry?.event && Number.isSafeInteger(entry.event.sequence) ? { sequence: entry.event.sequence } : {}),
    ...(entry ? { location: entry.line.location } : {}),
  });
};

/** Hash and signature of one event; throws a Failure. */
function checkEvent(entry: Entry, publicKey: KeyObject, keyId: string): AuditEvent {
  const e = entry.event;
  if (!e) return fail('malformed', entry.problem ?? 'not a JSON object', entry);
  const bad = schemaProblem(e);
  if (bad) fail('schema', bad, entry);
  let computed: string;
  try {
    computed = chainHash(e.prev_hash, canonicalBytes(e));
  } catch {
    return fail('schema', 'event cannot be canonicalised', entry);
  }
  if (computed !== e.hash) fail('hash_mismatch', `content does not hash to the recorded hash (computed ${computed})`, entry);
  if (e.key_id !== keyId) fail('wrong_key', `signed by key ${e.key_id}, expected ${keyId}`, entry);
  let sigOk = false;
  try {
    sigOk = edVerify(null, signingInput(e.chain_id, e.sequence, e.hash), publicKey, Buffer.from(e.signature, 'base64'));
  } catch {
    sigOk = false;
  }
  if (!sigOk) fail('bad_signature', 'Ed25519 signature does not verify with the audit public key', entry);
  return e;
}

const isProductionStart = (e: AuditEvent) =>
  e.event_type === 'audit.started' && (e.metadata as Record<string, unknown> | null)?.['mode'] === 'production';

function verifyChain(entries: Entry[], opts: VerifyOptions, keyId: string, warnings: VerifyFinding<VerifyWarning>[]): ChainSummary & { hashes: Map<number, string> } {
  const laterSeqs = new Map<number, number>(); // sequence -> how many entries still ahead carry it
  for (const en of entries) {
    const s = en.event?.sequence;
    if (typeof s === 'number') laterSeqs.set(s, (laterSeqs.get(s) ?? 0) + 1);
  }
  const seen = new Map<number, string>();
  let prev: AuditEvent | undefined;
  let chainId: string | undefined;
  let lastCheckpoint: number | null = null;
  let production = false;
  for (const entry of entries) {
    const s = entry.event?.sequence;
    if (typeof s === 'number') laterSeqs.set(s, (laterSeqs.get(s) ?? 1) - 1);
    const e = checkEvent(entry, opts.publicKey, keyId);
    chainId ??= e.chain_id;
    if (e.chain_id !== chainId) fail('chain_mismatch', `event of chain ${e.chain_id} inside chain ${chainId} (spliced logs)`, entry);
    if (!prev) {
      if (e.sequence !== 1 || e.prev_hash !== GENESIS_HASH) {
        if (!opts.allowPartialStart) fail('missing_start', `the log starts at sequence ${e.sequence}, not at the genesis event 1`, entry);
        warnings.push({ reason: 'partial_start', message: `the log starts at sequence ${e.sequence}`, sequence: e.sequence, location: entry.line.location });
      }
    } else {
      const expected = prev.sequence + 1;
      if (e.sequence === expected) {
        if (e.prev_hash !== prev.hash) fail('chain_broken', `prev_hash does not match the hash of sequence ${prev.sequence}`, entry);
      } else if (seen.has(e.sequence)) {
        fail('duplicate', seen.get(e.sequence) === e.hash ? `sequence ${e.sequence} appears twice` : `a different event with sequence ${e.sequence} appeared earlier`, entry);
      } else if (e.sequence < expected || (laterSeqs.get(expected) ?? 0) > 0) {
        fail('reordered', `sequence ${e.sequence} where ${expected} was expected (it appears out of order)`, entry);
      } else {
        fail('gap', `sequence ${e.sequence} follows ${prev.sequence}: ${e.sequence - expected} event(s) missing`, entry);
      }
    }
    if (e.event_type === 'audit.checkpoint') lastCheckpoint = e.sequence;
    if (isProductionStart(e)) production = true;
    seen.set(e.sequence, e.hash);
    prev = e;
  }
  if (!prev || !chainId) return fail('empty', 'no audit events');
  return {
    chain_id: chainId,
    first_sequence: entries[0]!.event!.sequence,
    last_sequence: prev.sequence,
    last_hash: prev.hash,
    events: entries.length,
    last_checkpoint_sequence: lastCheckpoint,
    checkpointed: false,
    production,
    hashes: seen,
  };
}

export function verifyAuditLog(sources: AuditLogSource[], opts: VerifyOptions): VerifyResult {
  const warnings: VerifyFinding<VerifyWarning>[] = [];
  const chains: ChainSummary[] = [];
  let events = 0;
  try {
    const keyId = publicKeyInfo(opts.publicKey).key_id;
    // Order sources by the chain (first sequence they hold), not by name.
    const parsed = sources.map((src) => {
      const entries = src.lines.map(parse);
      const first = entries.find((e) => typeof e.event?.sequence === 'number')?.event?.sequence ?? Number.MAX_SAFE_INTEGER;
      return { src, entries, first };
    });
    parsed.sort((a, b) => a.first - b.first);
    const all: Entry[] = [];
    parsed.forEach(({ src, entries }, i) => {
      // One file can hold over a hundred thousand events: more than a spread's arguments can carry.
      for (const e of entries) all.push(e);
      if (!src.torn) return;
      const torn = parse(src.torn);
      if (i !== parsed.length - 1 && !opts.multiChain) fail('torn_line', 'a line without its newline in the middle of the log', torn);
      if (torn.event && typeof torn.event.sequence === 'number' && typeof torn.event.signature === 'string') {
        warnings.push({ reason: 'missing_final_newline', message: 'the last event has no trailing newline', location: src.torn.location });
        all.push(torn);
      } else {
        warnings.push({
          reason: 'torn_final_line',
          message: `torn final line (${src.torn.text.length} bytes, a write interrupted before it was acknowledged) ignored`,
          location: src.torn.location,
        });
      }
    });
    for (const en of all) if (!en.event) fail('malformed', en.problem ?? 'line is not valid JSON', en);
    let groups: Entry[][];
    if (opts.multiChain) {
      const byChain = new Map<string, Entry[]>();
      for (const en of all) {
        const id = String(en.event!.chain_id);
        byChain.set(id, [...(byChain.get(id) ?? []), en]);
      }
      groups = [...byChain.values()];
    } else {
      groups = [all];
    }
    if (all.length === 0) {
      if ((opts.checkpoints ?? []).length > 0) fail('truncated', 'the log is empty but a signed checkpoint exists');
      fail('empty', 'no audit events');
    }
    const verified = groups.map((g) => verifyChain(g, opts, keyId, warnings));
    for (const c of verified) {
      const { hashes: _h, ...summary } = c;
      chains.push(summary);
      events += c.events;
    }
    const summaryOf = (id: string) => chains.find((c) => c.chain_id === id)!;
    for (const line of opts.checkpoints ?? []) {
      const entry = parse(line);
      let cp: AuditEvent;
      try {
        cp = checkEvent(entry, opts.publicKey, keyId);
      } catch (e) {
        if (e instanceof Failure) fail('checkpoint_invalid', `checkpoint: ${e.finding.reason}: ${e.finding.message}`, entry);
        throw e;
      }
      const chain = verified.find((c) => c.chain_id === cp.chain_id);
      if (!chain) return fail('checkpoint_mismatch', `checkpoint of chain ${cp.chain_id}, which is not in the log`, entry);
      if (chain.last_sequence < cp.sequence) {
        fail('truncated', `the log ends at sequence ${chain.last_sequence} but a signed checkpoint vouches for sequence ${cp.sequence}`, entry, chain.last_sequence);
      }
      if (chain.hashes.get(cp.sequence) !== cp.hash) fail('checkpoint_mismatch', `the event at sequence ${cp.sequence} differs from the signed checkpoint`, entry);
      chain.last_checkpoint_sequence = Math.max(chain.last_checkpoint_sequence ?? 0, cp.sequence);
      const summary = summaryOf(cp.chain_id);
      summary.last_checkpoint_sequence = chain.last_checkpoint_sequence;
      summary.checkpointed = true;
    }
    for (const c of chains) {
      if (c.checkpointed) continue;
      const required = opts.requireCheckpoints === true || (opts.requireCheckpoints === 'production' && c.production);
      const message = `chain ${c.chain_id} is not vouched for by a signed checkpoint sidecar: had events been cut off its end, nothing would show it`;
      if (required) fail('checkpoint_missing', message, undefined, c.last_sequence);
      warnings.push({ reason: 'no_checkpoint', message, sequence: c.last_sequence });
    }
    return { ok: true, events, chains, warnings };
  } catch (e) {
    if (e instanceof Failure) return { ok: false, events, chains, warnings, error: e.finding };
    throw e;
  }
}

/** Reads files and directories (every rotated file of a directory; `*.checkpoint` sidecars as checkpoints). */
export async function readAuditPaths(paths: string[]): Promise<{ sources: AuditLogSource[]; checkpoints: AuditLine[] }> {
  const files = new Set<string>();
  const cps = new Set<string>();
  for (const p of paths) {
    const st = await stat(p);
    if (st.isDirectory()) {
      for (const name of (await readdir(p)).sort()) {
        if (name.startsWith('.') || name.endsWith('.tmp')) continue;
        const full = join(p, name);
        if (!(await stat(full)).isFile()) continue;
        if (name.endsWith(CHECKPOINT_SUFFIX)) cps.add(full);
        else files.add(full);
      }
    } else if (p.endsWith(CHECKPOINT_SUFFIX)) {
      cps.add(p);
    } else {
      files.add(p);
      const side = p + CHECKPOINT_SUFFIX;
      if (await stat(side).then((s) => s.isFile(), () => false)) cps.add(side);
    }
  }
  const sources = await Promise.all([...files].map(async (f) => parseLogText(f, await readFile(f, 'utf8'))));
  const checkpoints = await Promise.all(
    [...cps].map(async (f) => ({ text: (await readFile(f, 'utf8')).replace(/\n$/, ''), location: `${f}:1` })),
  );
  return { sources, checkpoints };
}

/**
 * Reads every event of `subject` from its JetStream stream, in stream order: the per-chain subjects
 * `<subject>.<chain_id>` and the bare subject (events published before each chain had its own subject).
 */
/**
 * An ordered (ephemeral) consumer on `stream`. On a cluster, NATS 2.9 may place it on a replica that is down;
 * creating it then times out, and another try is placed again: a few tries, then the timeout stands.
 */
async function orderedConsumer(js: JetStreamClient, stream: string, filter: string, timeoutError: new (...args: never[]) => Error) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await js.consumers.get(stream, { filter_subjects: filter });
    } catch (e) {
      if (attempt >= 5 || !(e instanceof timeoutError)) throw e;
    }
  }
}

export async function readAuditNats(opts: { url: string; subject: string; stream?: string | undefined; timeoutMs?: number }): Promise<AuditLogSource> {
  const timeout = opts.timeoutMs ?? 5000;
  // The NATS client only for a trail read from NATS: verifying a file does not load it.
  const [{ connect, TimeoutError }, { jetstream, jetstreamManager }] = await Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')]);
  const nc = await connect({ servers: natsServers(opts.url), timeout, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc, { timeout });
    const subjects = streamSubjects(opts.subject);
    let stream = opts.stream;
    for (const s of subjects) stream ??= await jsm.streams.find(s).catch(() => undefined);
    if (!stream) throw new Error(`no JetStream stream captures ${subjects.join(' or ')}`);
    const js = jetstream(nc, { timeout });
    const messages: Array<{ seq: number; text: string }> = [];
    // One consumer per filter: several filter subjects on one consumer need NATS 2.10.
    for (const filter of subjects) {
      const consumer = await orderedConsumer(js, stream, filter, TimeoutError);
      const info = await consumer.info().catch(() => undefined);
      let remaining = info?.num_pending ?? 0;
      while (remaining > 0) {
        const iter = await consumer.fetch({ max_messages: Math.min(remaining, 1000), expires: timeout });
        let got = 0;
        for await (const m of iter) {
          messages.push({ seq: m.seq, text: m.string() });
          got++;
          remaining = m.info.pending;
          if (remaining === 0) iter.stop();
        }
        if (got === 0) break;
      }
      await consumer.delete().catch(() => {});
    }
    messages.sort((a, b) => a.seq - b.seq);
    return { name: `nats:${stream}`, lines: messages.map((m) => ({ text: m.text, location: `nats:${stream}#${m.seq}` })) };
  } finally {
    await nc.close();
  }
}
