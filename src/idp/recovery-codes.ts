// One-time recovery codes for the second factor. Each code is 16 symbols of Crockford's base32 (80 random bits),
// shown as four groups of four. Stored as a SHA-256 over a versioned label, the realm, the user and the code, not
// argon2id: argon2id's cost is there to slow guessing of low-entropy passwords, while guessing one of 10 random
// 80-bit codes takes ~2^76 hashes even with the table in hand. A fast, unsalted-but-user-bound hash also lets the
// store find and spend a code in one conditional UPDATE (atomic on SQLite and PostgreSQL) instead of running
// argon2id against every stored hash on each attempt, which would also hand attackers a cheap way to burn CPU.
import { createHash, randomInt } from 'node:crypto';

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CODE_RE = /^[0-9a-hjkmnp-tv-z]{16}$/;

export function generateRecoveryCodes(n = RECOVERY_CODE_COUNT): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    for (let j = 0; j < 16; j++) s += ALPHABET[randomInt(ALPHABET.length)];
    out.push(s.replace(/(.{4})(?=.)/g, '$1-'));
  }
  return out;
}

/**
 * The canonical form of what a person typed: case, spaces and hyphens do not matter, and the letters people
 * confuse with digits (i, l, o) count as those digits, as in Crockford's decoding. Undefined when it cannot be a code.
 */
export function normalizeRecoveryCode(input: string): string | undefined {
  const s = input.toLowerCase().replace(/[\s-]+/g, '').replace(/[il]/g, '1').replace(/o/g, '0');
  return CODE_RE.test(s) ? s : undefined;
}

/** What the store keeps of a code: bound to realm and user, so a hash copied to another account matches nothing. */
export function recoveryCodeHash(realm: string, userId: string, code: string): string {
  const normalized = normalizeRecoveryCode(code);
  if (normalized === undefined) throw new Error('not a recovery code');
  return createHash('sha256').update(JSON.stringify(['keyward-recovery-code/v1', realm, userId, normalized])).digest('base64url');
}
