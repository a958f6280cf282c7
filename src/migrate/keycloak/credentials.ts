// Keyward credentials in Keycloak's stored-credential format, so users keep their passwords and authenticators.
//
// Passwords: Keycloak's argon2 provider (org.keycloak.crypto.hash.Argon2PasswordHashProvider, provider id
// "argon2") verifies by recomputing Argon2 with
//   type        = credentialData.additionalParameters.type[0]        "id" | "i" | "d"
//   version     = credentialData.additionalParameters.version[0]     "1.3" (0x13) | "1.0" (0x10)
//   memory      = credentialData.additionalParameters.memory[0]      KiB, the PHC m=
//   iterations  = credentialData.hashIterations                      the PHC t=
//   parallelism = credentialData.additionalParameters.parallelism[0] the PHC p=
//   hashLength  = credentialData.additionalParameters.hashLength[0]  bytes of output
//   salt        = base64-decode(secretData.salt)
// over the password's UTF-8 bytes (BouncyCastle's default converter) and comparing the standard, padded base64 of
// the output with secretData.value as strings. PHC strings use unpadded base64, so both are re-encoded padded.
// Names as in Argon2PasswordHashProviderFactory (TYPE_KEY, VERSION_KEY, HASH_LENGTH_KEY, MEMORY_KEY, PARALLELISM_KEY).
//
// TOTP: Keycloak's OTPCredentialModel reads secretData.value as the raw key's UTF-8 bytes unless credentialData
// names `secretEncoding: "BASE32"` (Keycloak 22 and later), in which case it base32-decodes it. Keyward's seeds are
// random bytes kept as base32, which are rarely valid UTF-8, so the seed stays base32 and the encoding is named;
// written without it, Keycloak would compute codes from the base32 text and every code would be wrong.
import type { TotpSeed } from '../credentials.ts';
import { parseArgon2Phc } from '../phc.ts';
import type { KcCredential } from './types.ts';

export const KEYCLOAK_ARGON2_ID = 'argon2';
const TYPES = { argon2id: 'id', argon2i: 'i', argon2d: 'd' } as const;
const VERSIONS = { 19: '1.3', 16: '1.0' } as const;
const OTP_ALGORITHMS = { SHA1: 'HmacSHA1', SHA256: 'HmacSHA256', SHA512: 'HmacSHA512' } as const;

/** A Keyward password hash (argon2 PHC) as a Keycloak password credential; throws PhcError when it cannot be one. */
export function passwordCredential(phc: string, createdDate: number): KcCredential {
  const p = parseArgon2Phc(phc);
  const secretData = { value: p.hash.toString('base64'), salt: p.salt.toString('base64'), additionalParameters: {} };
  const credentialData = {
    hashIterations: p.iterations,
    algorithm: KEYCLOAK_ARGON2_ID,
    additionalParameters: {
      hashLength: [String(p.hash.length)],
      memory: [String(p.memoryKib)],
      type: [TYPES[p.variant]],
      version: [VERSIONS[p.version]],
      parallelism: [String(p.parallelism)],
    },
  };
  return { type: 'password', userLabel: 'Migrated from Keyward', createdDate, secretData: JSON.stringify(secretData), credentialData: JSON.stringify(credentialData) };
}

/** A confirmed Keyward TOTP enrolment as a Keycloak OTP credential (subType totp). */
export function otpCredential(seed: TotpSeed, createdDate: number): KcCredential {
  if (!/^[A-Z2-7]+$/.test(seed.secretBase32)) throw new Error('the TOTP seed is not upper-case RFC 4648 base32 without padding');
  const credentialData = {
    subType: 'totp',
    digits: seed.digits,
    counter: 0,
    period: seed.period,
    algorithm: OTP_ALGORITHMS[seed.algorithm],
    secretEncoding: 'BASE32',
  };
  return {
    type: 'otp',
    userLabel: 'Keyward authenticator (migrated)',
    createdDate,
    secretData: JSON.stringify({ value: seed.secretBase32 }),
    credentialData: JSON.stringify(credentialData),
  };
}
