// sha256:<64 lowercase hex> fingerprints of opaque secrets (API keys, bootstrap tokens).
import { readFileSync } from 'node:fs';
import { hash, timingSafeEqual } from 'node:crypto';

export const FINGERPRINT_RE = /^sha256:[0-9a-f]{64}$/;

export const fingerprint = (raw: string) => 'sha256:' + hash('sha256', raw, 'hex');

/** Runs on every request that carries an opaque token: the one-shot hash skips createHash's object. */
export function digest(raw: string): Buffer {
  return hash('sha256', raw, 'buffer');
}

/** Reads a fingerprint from the environment; a missing or malformed variable is a startup error naming it. */
export function fingerprintFromEnv(env: NodeJS.ProcessEnv, name: string, field: string): Buffer {
  const v = env[name];
  if (v === undefined || v === '') throw new Error(`${field}: environment variable ${name} is not set`);
  if (!FINGERPRINT_RE.test(v)) throw new Error(`${field}: environment variable ${name} must hold sha256: followed by 64 lowercase hex characters`);
  return Buffer.from(v.slice(7), 'hex');
}

export function fingerprintFromFile(path: string, field: string): Buffer {
  let v: string;
  try {
    v = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new Error(`${field}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!FINGERPRINT_RE.test(v)) throw new Error(`${field}: ${path} must hold sha256: followed by 64 lowercase hex characters`);
  return Buffer.from(v.slice(7), 'hex');
}

export function parseFingerprint(v: string): Buffer {
  if (!FINGERPRINT_RE.test(v)) throw new Error('a fingerprint is sha256: followed by 64 lowercase hex characters');
  return Buffer.from(v.slice(7), 'hex');
}

/** Constant time over equal-length digests. */
export const sameDigest = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);
