// The chain construction (documented byte for byte in src/audit/README.md).
import canonicalize from 'canonicalize';
import { blake3 } from '@noble/hashes/blake3.js';
import { createHash } from 'node:crypto';

export const SCHEMA_VERSION = 1;
/** prev_hash of the first event of every chain: 32 zero bytes, hex. */
export const GENESIS_HASH = '0'.repeat(64);
export const SIGNATURE_CONTEXT = 'keyward-audit-v1';

/** A stored audit event: what every sink receives, one JSON object per line. */
export interface AuditEvent {
  schema_version: number;
  event_id: string;
  time: string;
  chain_id: string;
  sequence: number;
  event_type: string;
  action: string;
  principal: { id: string; type: string; auth_method: string } | null;
  resource: { type: string; id: string | null; version: number | null } | null;
  outcome: 'success' | 'denied' | 'error';
  error_code: string | null;
  request_id: string | null;
  source_ip: string | null;
  user_agent: string | null;
  metadata: Record<string, unknown>;
  key_id: string;
  prev_hash: string;
  hash: string;
  signature: string;
}

export type UnsignedAuditEvent = Omit<AuditEvent, 'hash' | 'signature'>;

/** RFC 8785 bytes of the event without `hash` and `signature`. */
export function canonicalBytes(event: UnsignedAuditEvent | AuditEvent): Buffer {
  const { hash: _h, signature: _s, ...rest } = event as AuditEvent;
  const text = canonicalize(rest);
  if (text === undefined) throw new TypeError('audit event is not serialisable');
  return Buffer.from(text, 'utf8');
}

/** hash = hex(BLAKE3-256(prev_hash as 32 raw bytes || canonical bytes)). */
export function chainHash(prevHashHex: string, canonical: Buffer): string {
  if (!/^[0-9a-f]{64}$/.test(prevHashHex)) throw new TypeError('prev_hash must be 64 lowercase hex digits');
  const h = blake3.create();
  h.update(Buffer.from(prevHashHex, 'hex'));
  h.update(canonical);
  return Buffer.from(h.digest()).toString('hex');
}

/** The exact bytes signed with Ed25519: UTF-8 of `keyward-audit-v1:<chain_id>:<sequence>:<hash>`. */
export function signingInput(chainId: string, sequence: number, hash: string): Buffer {
  return Buffer.from(`${SIGNATURE_CONTEXT}:${chainId}:${sequence}:${hash}`, 'utf8');
}

/**
 * How callers put digests, ciphertexts or anything else sensitive-but-identifying into metadata:
 * `blake3:` + hex of BLAKE3-256 of the bytes.
 */
export function hashForAudit(buf: Buffer | Uint8Array): string {
  return 'blake3:' + Buffer.from(blake3(buf)).toString('hex');
}

/** Key id of an Ed25519 public key: hex of the first 16 bytes of SHA-256 over the raw 32-byte key. */
export function keyIdFor(rawPublicKey: Buffer): string {
  return createHash('sha256').update(rawPublicKey).digest('hex').slice(0, 32);
}
