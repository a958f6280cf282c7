// The chain construction (documented byte for byte in src/audit/README.md).
import canonicalize from 'canonicalize';
import { createBLAKE3 } from 'hash-wasm';
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
  return Buffer.from(canonicalText(event), 'utf8');
}

/** The RFC 8785 text of the event without `hash` and `signature`, from the `canonicalize` library. */
export function canonicalTextByLibrary(event: UnsignedAuditEvent | AuditEvent): string {
  const { hash: _h, signature: _s, ...rest } = event as AuditEvent;
  const text = canonicalize(rest);
  if (text === undefined) throw new TypeError('audit event is not serialisable');
  return text;
}

// The same text, written out for the one shape every event has (test/audit/canonical.test.ts compares it with the
// library over generated events): members in their fixed sorted order, strings and numbers as RFC 8785 writes them
// (JSON.stringify's, which RFC 8785 adopts, refusing lone surrogates and non-finite numbers), metadata by the generic
// rules. About half the library's time per event (3.3 against 6.8 µs CPU here), on every audited operation's path.
// Anything of another shape (an unknown member, a member of another type) goes to the library.
const MEMBERS = ['action', 'chain_id', 'error_code', 'event_id', 'event_type', 'key_id', 'metadata', 'outcome', 'prev_hash', 'principal', 'request_id', 'resource', 'schema_version', 'sequence', 'source_ip', 'time', 'user_agent'] as const;
type Member = (typeof MEMBERS)[number];
const SORTED = [...MEMBERS].sort();
if (SORTED.some((m, i) => m !== MEMBERS[i])) throw new Error('canonical member order is not sorted');

class OtherShape extends Error {}

function str(v: unknown): string {
  if (typeof v !== 'string') throw new OtherShape();
  if (!v.isWellFormed()) throw new TypeError('Lone surrogate is not allowed');
  return JSON.stringify(v);
}
const strOrNull = (v: unknown) => (v === null ? 'null' : str(v));
function num(v: unknown): string {
  if (typeof v !== 'number') throw new OtherShape();
  if (!Number.isFinite(v)) throw new TypeError('NaN and Infinity are not allowed');
  return JSON.stringify(v);
}
/** A plain JSON value (metadata, after its JSON round trip): RFC 8785's rules for any value. */
function value(v: unknown): string {
  if (v === null || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return str(v);
  if (typeof v === 'number') return num(v);
  if (Array.isArray(v)) return `[${v.map(value).join(',')}]`;
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const o = v as Record<string, unknown>;
    let out = '';
    for (const k of Object.keys(o).sort()) {
      // undefined and functions have no JSON form: the library's rules for them stay the library's.
      if (o[k] === undefined || typeof o[k] === 'function' || typeof o[k] === 'symbol') throw new OtherShape();
      out += `${out === '' ? '' : ','}${str(k)}:${value(o[k])}`;
    }
    return `{${out}}`;
  }
  throw new OtherShape();
}
function object(v: unknown, members: readonly string[], write: (o: Record<string, unknown>) => string): string {
  if (v === null) return 'null';
  if (typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) throw new OtherShape();
  const keys = Object.keys(v);
  if (keys.length !== members.length || keys.some((k) => !members.includes(k))) throw new OtherShape();
  return write(v as Record<string, unknown>);
}
const principal = (v: unknown) => object(v, ['auth_method', 'id', 'type'], (p) => `{"auth_method":${str(p['auth_method'])},"id":${str(p['id'])},"type":${str(p['type'])}}`);
const resource = (v: unknown) => object(v, ['id', 'type', 'version'], (r) => `{"id":${strOrNull(r['id'])},"type":${str(r['type'])},"version":${r['version'] === null ? 'null' : num(r['version'])}}`);
const WRITE: Record<Member, (v: unknown) => string> = {
  action: str, chain_id: str, error_code: strOrNull, event_id: str, event_type: str, key_id: str, metadata: value, outcome: str, prev_hash: str,
  principal, request_id: strOrNull, resource, schema_version: num, sequence: num, source_ip: strOrNull, time: str, user_agent: strOrNull,
};

function canonicalText(event: UnsignedAuditEvent | AuditEvent): string {
  const e = event as unknown as Record<string, unknown>;
  try {
    let n = 0;
    for (const k in e) if (Object.hasOwn(e, k) && k !== 'hash' && k !== 'signature') n++;
    if (n !== MEMBERS.length || Object.getPrototypeOf(e) !== Object.prototype) throw new OtherShape();
    let out = '{';
    for (const m of MEMBERS) {
      if (!Object.hasOwn(e, m)) throw new OtherShape();
      out += `${out === '{' ? '' : ','}"${m}":${WRITE[m](e[m])}`;
    }
    return out + '}';
  } catch (err) {
    if (err instanceof OtherShape) return canonicalTextByLibrary(event);
    throw err;
  }
}

// BLAKE3 from hash-wasm (WebAssembly): about 1 µs for an event against 10 µs for @noble/hashes' JavaScript, on every
// audited operation. One instance per thread, re-initialised per hash: the functions below are synchronous, so no two
// hashes interleave on it. test/audit/chain.test.ts compares it with @noble/hashes.
const blake3 = await createBLAKE3();

/** hash = hex(BLAKE3-256(prev_hash as 32 raw bytes || canonical bytes)). */
export function chainHash(prevHashHex: string, canonical: Buffer): string {
  if (!/^[0-9a-f]{64}$/.test(prevHashHex)) throw new TypeError('prev_hash must be 64 lowercase hex digits');
  blake3.init();
  blake3.update(Buffer.from(prevHashHex, 'hex'));
  blake3.update(canonical);
  return blake3.digest('hex');
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
  blake3.init();
  blake3.update(buf);
  return 'blake3:' + blake3.digest('hex');
}

/** Key id of an Ed25519 public key: hex of the first 16 bytes of SHA-256 over the raw 32-byte key. */
export function keyIdFor(rawPublicKey: Buffer): string {
  return createHash('sha256').update(rawPublicKey).digest('hex').slice(0, 32);
}
