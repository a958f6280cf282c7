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

export type ChainKey = { chainId: string; keyId: string; privateKey: KeyObject };

/** Chains and signs drafts after `head`, in order. Pure apart from the signature's use of the key. */
export function sealEvents(chain: ChainKey, head: ChainHead, drafts: EventDraft[]): { prepared: PreparedEvent[]; head: ChainHead } {
  return assembleEvents(chain, head, drafts, sealDrafts(chain, head, drafts));
}

/** What sealing adds to an event; the rest comes from its draft and its place in the chain. */
export interface Seal { hash: string; signature: string }

const unsignedEvent = (chain: Pick<ChainKey, 'chainId' | 'keyId'>, d: EventDraft, sequence: number, prev: string): UnsignedAuditEvent =>
  ({ ...d, chain_id: chain.chainId, sequence, key_id: chain.keyId, prev_hash: prev });

/**
 * The CPU-heavy part (canonical bytes, BLAKE3 chain, Ed25519), which the worker runs: it answers with two short
 * strings per event, and the thread that holds the drafts builds the events (assembleEvents), so the hand-off does
 * not copy every event and its line back.
 */
export function sealDrafts(chain: ChainKey, head: ChainHead, drafts: EventDraft[]): Seal[] {
  const seals: Seal[] = [];
  let { sequence, hash: prev } = head;
  for (const d of drafts) {
    sequence += 1;
    const hash = chainHash(prev, canonicalBytes(unsignedEvent(chain, d, sequence, prev)));
    seals.push({ hash, signature: sign(null, signingInput(chain.chainId, sequence, hash), chain.privateKey).toString('base64') });
    prev = hash;
  }
  return seals;
}

/** The sealed events and their stored lines, from the drafts and their seals, in order after `head`. */
export function assembleEvents(chain: Pick<ChainKey, 'chainId' | 'keyId'>, head: ChainHead, drafts: EventDraft[], seals: Seal[]): { prepared: PreparedEvent[]; head: ChainHead } {
  if (seals.length !== drafts.length) throw new Error('audit sealing answered for another batch');
  const prepared: PreparedEvent[] = [];
  let { sequence, hash: prev } = head;
  drafts.forEach((d, i) => {
    sequence += 1;
    const { hash, signature } = seals[i]!;
    const event: AuditEvent = { ...unsignedEvent(chain, d, sequence, prev), hash, signature };
    // The stored line only has to be JSON: verifiers parse it and recompute the canonical bytes (README step 1).
    prepared.push({ event, line: JSON.stringify(event) });
    prev = hash;
  });
  return { prepared, head: { sequence, hash: prev } };
}
