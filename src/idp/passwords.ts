// Argon2id for user passwords and client secrets (@node-rs/argon2), with the realm configuration's parameters.
import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import type { IdpConfig } from './config.ts';

export function argonOptions(a: IdpConfig['argon2']) {
  // @node-rs/argon2 defaults to argon2id; the parameters are Keyward's.
  return { memoryCost: a.memory_kib, timeCost: a.iterations, parallelism: a.parallelism };
}

export function hashSecret(plain: string, a: IdpConfig['argon2']): Promise<string> {
  return hash(plain, argonOptions(a));
}

// One decoy hash per parameter set and process. Checking a presented secret against it costs what checking a real
// one does, so an unknown user or client answers as slowly as a wrong password or secret (no enumeration by timing).
const decoys = new Map<string, Promise<string>>();
export function decoyHash(a: IdpConfig['argon2']): Promise<string> {
  const k = `${a.memory_kib}:${a.iterations}:${a.parallelism}`;
  let h = decoys.get(k);
  if (!h) {
    h = hashSecret(randomBytes(32).toString('base64'), a);
    decoys.set(k, h);
  }
  return h;
}

/** Spends one argon2id verification on the decoy; never succeeds. */
export async function spendDecoy(a: IdpConfig['argon2'], presented = ''): Promise<void> {
  await verify(await decoyHash(a), presented).catch(() => false);
}
