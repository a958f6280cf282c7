// Argon2id for user passwords and client secrets (@node-rs/argon2), with the realm configuration's parameters.
import { hash } from '@node-rs/argon2';
import type { IdpConfig } from './config.ts';

export function argonOptions(a: IdpConfig['argon2']) {
  // @node-rs/argon2 defaults to argon2id; the parameters are Keyward's.
  return { memoryCost: a.memory_kib, timeCost: a.iterations, parallelism: a.parallelism };
}

export function hashSecret(plain: string, a: IdpConfig['argon2']): Promise<string> {
  return hash(plain, argonOptions(a));
}
