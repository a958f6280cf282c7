// Problems the key service raises. Codes are stable API: clients and tests match on them.
import { ProblemError, badRequest, conflict, notFound, type ProblemCode } from '../core/problem.ts';
import type { KeyState } from './types.ts';

/** Every key operation while sealed: the root key, and so all key material, is out of memory. */
export const sealedProblem = () =>
  new ProblemError({ code: 'system.sealed', detail: 'Keyward is sealed; unseal it first' });
export const isSealedProblem = (e: unknown): boolean => e instanceof ProblemError && e.code === 'system.sealed';

export const keyNotFound = (id: string) => notFound('key.not_found', `no key with id ${JSON.stringify(id)}`);
export const keyExists = (id: string) =>
  conflict('key.exists', `a key with id ${JSON.stringify(id)} already exists; ask for overwrite to replace it`);
export const invalidKeyId = () =>
  badRequest('key.invalid_id', 'key ids are 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit');
export const versionNotFound = (id: string, v: number) => notFound('key.version_not_found', `key ${id} has no version ${v}`);
export const concurrentModification = (id: string) =>
  conflict('key.concurrent_modification', `key ${id} was changed by another request; retry`);

const STATE_CODES: Record<Exclude<KeyState, 'enabled'>, ProblemCode> = {
  disabled: 'key.disabled',
  released: 'key.released',
  destroyed: 'key.destroyed',
};

export function keyStateRefused(id: string, state: Exclude<KeyState, 'enabled'>, operation: string): ProblemError {
  return new ProblemError({ code: STATE_CODES[state], detail: `key ${id} is ${state}; ${operation} is not allowed` });
}

/** `operation` needs the key in one of `from`; the key is in `state`. */
export const invalidTransition = (id: string, state: KeyState, operation: string, from: readonly KeyState[]) =>
  conflict('key.invalid_state_transition', `key ${id} is ${state}; ${operation} needs a key that is ${from.join(' or ')}`);

/** Keyward's own keys (isSystemKeyId) serve Keyward alone, whatever the caller's grants say. */
export const systemKeyRefused = (id: string, operation: string) =>
  new ProblemError({
    code: 'key.system_key',
    detail: `key ${id} belongs to Keyward itself; ${operation} is not available through the key API (only its public keys are readable, and only the <prefix>.system.rotate_system_keys permission may rotate it)`,
  });

export const usageMismatch = (id: string, type: string, operation: string) =>
  badRequest('key.usage_mismatch', `key ${id} is ${type}; it does not support ${operation}`);
