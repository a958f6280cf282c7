// Turning queued inputs into chained, signed events. Drafting (ids, time, normalised fields) happens where
// record() was called; sealing (canonical bytes, BLAKE3 chain, Ed25519 signature) is the CPU-heavy part and can
// run on a worker thread (seal-worker.ts). Both use these functions, so there is one construction.
import { randomUUID, sign, type KeyObject } from 'node:crypto';
import { canonicalBytes, chainHash, SCHEMA_VERSION, signingInput, type AuditEvent, type UnsignedAuditEvent } from './canonical.ts';
import type { PreparedEvent } from './sinks/types.ts';
import type { AuditEventInput } from './types.ts';

/** The event before it joins the chain: no chain id, sequence, key id or hashes yet. */
export type EventDraft = Omit<UnsignedAuditEvent, 'chain_id' | 'sequence' | 'key_id' | 'prev_hash'>;

export interface ChainHead {
  sequence: number;
  hash: string;
}

export function draftEvent(input: AuditEventInput, now: Date, metadataJson = JSON.stringify(input.metadata ?? {})): EventDraft {
  const r = input.resource;
  return {
    schema_version: SCHEMA_VERSION,
    event_id: randomUUID(),
    time: now.toISOString(),
    event_type: input.event_type,
    action: input.action,
    principal: input.principal ? { id: input.principal.id, type: input.principal.type, auth_method: input.principal.auth_method } : null,
    resource: r ? { type: r.type, id: r.id ?? null, version: r.version ?? null } : null,
    outcome: input.outcome,
    error_code: input.error_code ?? null,
    request_id: input.request_id ?? null,
    source_ip: input.source_ip ?? null,
    user_agent: input.user_agent ?? null,
    // A JSON round trip fixes the form a reader will parse (no undefined, dates as strings).
    metadata: JSON.parse(metadataJson) as Record<string, unknown>,
  };
}

/** Chains and signs drafts after `head`, in order. Pure apart from the signature's use of the key. */
export function sealEvents(
  chain: { chainId: string; keyId: string; privateKey: KeyObject },
  head: ChainHead,
  drafts: EventDraft[],
): { prepared: PreparedEvent[]; head: ChainHead } {
  const prepared: PreparedEvent[] = [];
  let { sequence, hash: prev } = head;
  for (const d of drafts) {
    sequence += 1;
    const unsigned: UnsignedAuditEvent = { ...d, chain_id: chain.chainId, sequence, key_id: chain.keyId, prev_hash: prev };
    const hash = chainHash(prev, canonicalBytes(unsigned));
    const signature = sign(null, signingInput(chain.chainId, sequence, hash), chain.privateKey).toString('base64');
    const event: AuditEvent = { ...unsigned, hash, signature };
    // The stored line only has to be JSON: verifiers parse it and recompute the canonical bytes (README step 1).
    prepared.push({ event, line: JSON.stringify(event) });
    prev = hash;
  }
  return { prepared, head: { sequence, hash: prev } };
}
