// The canonical form written out for the event shape (src/audit/canonical.ts) against the RFC 8785 library it
// stands in for, over generated events: every event must give the same text, or both must refuse it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalBytes, canonicalTextByLibrary, type UnsignedAuditEvent } from '../../src/audit/canonical.ts';

/** A small seeded generator (mulberry32), so a failure names a case that can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type R = ReturnType<typeof rng>;

// Characters RFC 8785 treats specially: escapes, controls, non-ASCII, astral pairs, the line separators JSON
// leaves alone, and (rarely) a lone surrogate, which both sides must refuse.
const PIECES = ['a', 'Z', '0', ' ', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', 'é', '€', '\u2028', '\u2029', '日本', '😀', '\ud834\udd1e', 'key.sign', 'kms:Sign'];
function str(r: R, surrogates: boolean): string {
  let s = '';
  for (let i = r.int(12); i > 0; i--) s += r.pick(PIECES);
  if (surrogates && r.int(40) === 0) s += r.pick(['\ud800', '\udfff', '\udc00x']);
  return s;
}
const NUMBERS = [0, -0, 1, -1, 42, 1e21, 1e-7, 123456789012345680000, 5e-324, Number.MAX_SAFE_INTEGER, -Number.MAX_VALUE, 0.1 + 0.2, 1 / 3, 100, 1e300];
function num(r: R): number {
  if (r.int(20) === 0) return r.pick([NaN, Infinity, -Infinity]);
  return r.int(2) === 0 ? r.pick(NUMBERS) : (r.next() - 0.5) * 10 ** r.int(30);
}
function json(r: R, depth: number): unknown {
  switch (r.int(depth > 2 ? 4 : 6)) {
    case 0: return null;
    case 1: return r.int(2) === 0;
    case 2: return num(r);
    case 3: return str(r, true);
    case 4: return Array.from({ length: r.int(4) }, () => json(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: r.int(5) }, () => [str(r, true), json(r, depth + 1)]));
  }
}
const nullable = (r: R, v: () => unknown) => (r.int(4) === 0 ? null : v());

function event(r: R): Record<string, unknown> {
  const e: Record<string, unknown> = {
    schema_version: 1,
    event_id: crypto.randomUUID(),
    time: new Date(r.int(2 ** 40)).toISOString(),
    chain_id: str(r, false),
    sequence: r.int(2) === 0 ? r.int(1e6) : num(r),
    event_type: str(r, true),
    action: str(r, true),
    principal: nullable(r, () => ({ id: str(r, true), type: str(r, false), auth_method: str(r, false) })),
    resource: nullable(r, () => ({ type: str(r, false), id: nullable(r, () => str(r, true)), version: nullable(r, () => num(r)) })),
    outcome: r.pick(['success', 'denied', 'error']),
    error_code: nullable(r, () => str(r, false)),
    request_id: nullable(r, () => str(r, false)),
    source_ip: nullable(r, () => str(r, false)),
    user_agent: nullable(r, () => str(r, true)),
    metadata: Object.fromEntries(Array.from({ length: r.int(6) }, () => [str(r, true), json(r, 0)])),
    key_id: str(r, false),
    prev_hash: 'ab'.repeat(32),
  };
  if (r.int(2) === 0) Object.assign(e, { hash: 'cd'.repeat(32), signature: 'c2ln' });
  // Now and then an event of another shape, which must go to the library and come out the same.
  switch (r.int(25)) {
    case 0: e['extra'] = str(r, false); break;
    case 1: delete e['user_agent']; break;
    case 2: e['error_code'] = undefined; break;
    case 3: e['principal'] = { id: 'p', type: 't', auth_method: 'm', more: 1 }; break;
    case 4: e['resource'] = { type: 'Key', id: 'k' }; break;
    case 5: (e['metadata'] as Record<string, unknown>)['when'] = new Date(0); break;
    case 6: (e['metadata'] as Record<string, unknown>)['gone'] = undefined; break;
    case 7: e['sequence'] = '12'; break;
    case 8: e['metadata'] = [1, 2]; break;
    case 9: e['principal'] = Object.assign(Object.create(null) as object, { id: 'p', type: 't', auth_method: 'm' }); break;
    case 10: (e['metadata'] as Record<string, unknown>)['n'] = { toJSON: () => 'x' }; break;
  }
  return e;
}

const outcome = (f: () => Buffer | string) => {
  try {
    return { text: f().toString() };
  } catch (e) {
    return { refused: e instanceof Error };
  }
};

test('the event-shaped canonical form equals the RFC 8785 library on 20,000 generated events, refusals included', () => {
  const r = rng(0x5eed);
  let refused = 0;
  for (let i = 0; i < 20_000; i++) {
    const e = event(r);
    const fast = outcome(() => canonicalBytes(e as unknown as UnsignedAuditEvent));
    const lib = outcome(() => canonicalTextByLibrary(e as unknown as UnsignedAuditEvent));
    assert.deepEqual(fast, lib, `event ${i}: ${JSON.stringify(e)}`);
    if ('refused' in lib) refused++;
  }
  // The generator reaches both sides of the contract: most events serialise, and some are refused.
  assert.ok(refused > 500 && refused < 15_000, `refused ${refused}`);
});

test('a typical event: the canonical bytes are the library\'s, UTF-8 encoded', () => {
  const e: UnsignedAuditEvent = {
    schema_version: 1, event_id: '6f0f2a36-5c0e-4f4c-9a57-5f1f6d0b1c2a', time: '2026-11-30T12:00:00.000Z', chain_id: 'c-1', sequence: 7,
    event_type: 'key.sign', action: 'kms:Sign', principal: { id: 'svc', type: 'service', auth_method: 'api_key' }, resource: { type: 'Key', id: 'k€y', version: 2 },
    outcome: 'success', error_code: null, request_id: 'r', source_ip: '127.0.0.1', user_agent: 'wrk "4"', metadata: { b: [1, 2.5, 'x'], a: { z: null, y: true } },
    key_id: 'kid', prev_hash: '0'.repeat(64),
  };
  const text = canonicalTextByLibrary(e);
  assert.ok(text.startsWith('{"action":"kms:Sign","chain_id":"c-1","error_code":null,'));
  assert.ok(text.includes('"metadata":{"a":{"y":true,"z":null},"b":[1,2.5,"x"]}'));
  assert.deepEqual(canonicalBytes(e), Buffer.from(text, 'utf8'));
});
