// Argon2 hashes in the PHC string format ($argon2id$v=19$m=…,t=…,p=…$salt$hash), taken apart so the parameters,
// salt and hash can be written into another system's fields (Keycloak keeps them apart). This is string handling,
// not hashing: @node-rs/argon2's parseOptions reads the parameters, and this module only splits out the two
// base64 segments it does not return and checks that both readings agree.
import { parseOptions } from '@node-rs/argon2';

export type Argon2Variant = 'argon2id' | 'argon2i' | 'argon2d';

export interface Argon2Phc {
  variant: Argon2Variant;
  /** 0x13 (19, "1.3") or 0x10 (16, "1.0"). */
  version: 19 | 16;
  /** Memory in KiB (m=). */
  memoryKib: number;
  /** Passes (t=). */
  iterations: number;
  /** Lanes (p=). */
  parallelism: number;
  salt: Buffer;
  hash: Buffer;
}

/** A hash that cannot be carried over: not argon2, malformed, or using a feature the target lacks (keyid, data). */
export class PhcError extends Error {
  override name = 'PhcError';
}

const VARIANTS: readonly Argon2Variant[] = ['argon2id', 'argon2i', 'argon2d'];
// PHC strings use standard base64 without padding (the PHC string format specification, "B64").
const B64 = /^[A-Za-z0-9+/]+$/;

function b64(segment: string, what: string): Buffer {
  if (!B64.test(segment) || segment.length % 4 === 1) throw new PhcError(`the ${what} is not PHC base64`);
  return Buffer.from(segment, 'base64');
}

export function parseArgon2Phc(phc: string): Argon2Phc {
  const parts = phc.split('$');
  // ['', variant, 'v=19', 'm=…,t=…,p=…', salt, hash]; a missing v= means version 0x10 in the reference encoder.
  if (parts.length !== 6 || parts[0] !== '') throw new PhcError('not a PHC string with version, parameters, salt and hash');
  const variant = parts[1] as Argon2Variant;
  if (!VARIANTS.includes(variant)) throw new PhcError(`${JSON.stringify(parts[1])} is not an argon2 variant`);
  const version = /^v=(\d+)$/.exec(parts[2]!)?.[1];
  if (version !== '19' && version !== '16') throw new PhcError('the argon2 version is neither 19 (1.3) nor 16 (1.0)');
  const params = new Map<string, string>();
  for (const kv of parts[3]!.split(',')) {
    const [k, v, ...rest] = kv.split('=');
    if (!k || v === undefined || rest.length) throw new PhcError('malformed parameter list');
    params.set(k, v);
  }
  // keyid= and data= bind the hash to a secret or associated data the target cannot be given.
  const unknown = [...params.keys()].filter((k) => !['m', 't', 'p'].includes(k));
  if (unknown.length) throw new PhcError(`parameters ${unknown.join(', ')} (secret key id or associated data) cannot be carried over`);
  const num = (k: string) => {
    const v = params.get(k);
    if (v === undefined || !/^[1-9]\d{0,9}$/.test(v)) throw new PhcError(`parameter ${k} is missing or not a positive integer`);
    return Number(v);
  };
  const out: Argon2Phc = {
    variant,
    version: version === '19' ? 19 : 16,
    memoryKib: num('m'),
    iterations: num('t'),
    parallelism: num('p'),
    salt: b64(parts[4]!, 'salt'),
    hash: b64(parts[5]!, 'hash'),
  };
  // The library's own reading of the same string must agree with ours, or we refuse rather than guess.
  let lib;
  try {
    lib = parseOptions(phc);
  } catch (e) {
    throw new PhcError(`@node-rs/argon2 cannot parse it: ${(e as Error).message}`);
  }
  const libVariant = VARIANTS[[2, 1, 0].indexOf(lib.algorithm)];
  if (
    libVariant !== variant ||
    lib.memoryCost !== out.memoryKib ||
    lib.timeCost !== out.iterations ||
    lib.parallelism !== out.parallelism ||
    lib.outputLen !== out.hash.length ||
    lib.saltLen !== out.salt.length ||
    (lib.version === 1 ? 19 : 16) !== out.version
  )
    throw new PhcError('the PHC parameters read differently by @node-rs/argon2');
  return out;
}

/** The PHC string for the parts (the inverse of parseArgon2Phc). */
export function formatArgon2Phc(p: Argon2Phc): string {
  const enc = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
  return `$${p.variant}$v=${p.version}$m=${p.memoryKib},t=${p.iterations},p=${p.parallelism}$${enc(p.salt)}$${enc(p.hash)}`;
}
