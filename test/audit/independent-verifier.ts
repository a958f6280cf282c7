// A second verifier written from src/audit/README.md alone; it deliberately imports nothing from src/audit.
import canonicalize from 'canonicalize';
import { blake3 } from '@noble/hashes/blake3.js';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { visit } from 'jsonc-parser';

/** I-JSON: no object may name a member twice (JSON.parse would silently keep the last). */
function hasDuplicateMember(text: string): boolean {
  const stack: Array<Set<string>> = [];
  let dup = false;
  visit(text, {
    onObjectBegin: () => void stack.push(new Set()),
    onObjectEnd: () => void stack.pop(),
    onObjectProperty: (name) => {
      const top = stack.at(-1)!;
      if (top.has(name)) dup = true;
      top.add(name);
    },
  });
  return dup;
}

export interface IndependentResult {
  ok: boolean;
  count: number;
  problem?: string;
}

/** `lines`: the event lines in chain order (already ordered across rotated files). */
export function independentVerify(lines: string[], publicKeyPem: string, checkpointLine?: string): IndependentResult {
  const pub = createPublicKey(publicKeyPem);
  const spki = pub.export({ type: 'spki', format: 'der' });
  const raw = spki.subarray(spki.length - 32);
  const keyId = createHash('sha256').update(raw).digest().subarray(0, 16).toString('hex');
  const hashes = new Map<number, string>();
  let prevHash = '0'.repeat(64);
  let prevSeq = 0;
  let chain: string | undefined;

  const check = (ev: Record<string, unknown>): string | undefined => {
    const { hash, signature, ...rest } = ev;
    const c = Buffer.from(canonicalize(rest)!, 'utf8');
    const h = Buffer.from(blake3(Buffer.concat([Buffer.from(String(rest.prev_hash), 'hex'), c]))).toString('hex');
    if (h !== hash) return 'hash';
    if (rest.key_id !== keyId) return 'key id';
    const msg = Buffer.from(`keyward-audit-v1:${String(rest.chain_id)}:${String(rest.sequence)}:${h}`, 'utf8');
    if (!verify(null, msg, pub, Buffer.from(String(signature), 'base64'))) return 'signature';
    return undefined;
  };

  for (const [i, line] of lines.entries()) {
    let ev: Record<string, unknown>;
    try {
      ev = JSON.parse(line);
    } catch {
      return { ok: false, count: i, problem: `line ${i + 1}: not JSON` };
    }
    if (hasDuplicateMember(line)) return { ok: false, count: i, problem: `line ${i + 1}: duplicate member name` };
    const bad = check(ev);
    if (bad) return { ok: false, count: i, problem: `line ${i + 1}: ${bad}` };
    chain ??= String(ev.chain_id);
    if (ev.chain_id !== chain) return { ok: false, count: i, problem: `line ${i + 1}: chain` };
    if (ev.sequence !== prevSeq + 1) return { ok: false, count: i, problem: `line ${i + 1}: sequence ${String(ev.sequence)} after ${prevSeq}` };
    if (ev.prev_hash !== prevHash) return { ok: false, count: i, problem: `line ${i + 1}: prev_hash` };
    prevSeq = ev.sequence as number;
    prevHash = ev.hash as string;
    hashes.set(prevSeq, prevHash);
  }
  if (checkpointLine !== undefined) {
    const cp = JSON.parse(checkpointLine) as Record<string, unknown>;
    const bad = check(cp);
    if (bad) return { ok: false, count: lines.length, problem: `checkpoint: ${bad}` };
    if (cp.chain_id !== chain) return { ok: false, count: lines.length, problem: 'checkpoint: chain' };
    if (hashes.get(cp.sequence as number) !== cp.hash) return { ok: false, count: lines.length, problem: 'checkpoint: not in log (truncated?)' };
  }
  return { ok: lines.length > 0, count: lines.length, ...(lines.length === 0 ? { problem: 'empty' } : {}) };
}
