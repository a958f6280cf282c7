// Shared by the crypto tests (not a test file itself).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { HashAlgorithm } from '../../../src/keys/types.ts';

const NODE: Record<HashAlgorithm, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
export const nodeHash = (h: HashAlgorithm) => NODE[h];
export const digestOf = (h: HashAlgorithm, message: Buffer) => createHash(NODE[h]).update(message).digest();

/** Parses an ECDSA DER signature strictly: SEQUENCE { INTEGER r, INTEGER s }, minimal encodings, nothing trailing. */
export function parseEcdsaDer(sig: Buffer): { r: bigint; s: bigint } {
  let o = 0;
  const byte = () => {
    assert.ok(o < sig.length, 'truncated DER');
    return sig[o++]!;
  };
  const length = () => {
    const first = byte();
    if (first < 0x80) return first;
    assert.equal(first, 0x81, 'only one-byte long-form lengths fit an ECDSA signature');
    const l = byte();
    assert.ok(l >= 0x80, 'non-minimal length');
    return l;
  };
  assert.equal(byte(), 0x30, 'SEQUENCE');
  assert.equal(length(), sig.length - o, 'SEQUENCE length covers the rest');
  const ints: bigint[] = [];
  for (let i = 0; i < 2; i++) {
    assert.equal(byte(), 0x02, 'INTEGER');
    const l = length();
    const v = sig.subarray(o, o + l);
    o += l;
    assert.ok(l > 0 && v.length === l);
    assert.equal(v[0]! & 0x80, 0, 'INTEGER is positive');
    if (l > 1) assert.ok(v[0] !== 0 || (v[1]! & 0x80) !== 0, 'INTEGER is minimally encoded');
    ints.push(BigInt('0x' + v.toString('hex')));
  }
  assert.equal(o, sig.length, 'no trailing bytes');
  return { r: ints[0]!, s: ints[1]! };
}

export function flipBit(b: Buffer, index = Math.floor(b.length / 2)): Buffer {
  const c = Buffer.from(b);
  c[index] = c[index]! ^ 0x01;
  return c;
}
