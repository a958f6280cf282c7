// JWTs and JWKS through jose; nothing JOSE-specific is hand-written.
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { badRequest } from '../../server/problem.ts';
import type { KeyType, RsaPadding } from '../types.ts';
import { EC_PARAMS, assertSigningType, isEc } from './params.ts';
import { publicKeyJwk } from './public.ts';

export function jwsAlgorithm(type: KeyType, rsaPadding?: RsaPadding): string {
  assertSigningType(type, 'JWT signing');
  if (isEc(type)) return EC_PARAMS[type].jwsAlg;
  if (type === 'Ed25519') return 'EdDSA';
  if (rsaPadding === undefined || rsaPadding === 'pkcs1') return 'RS256';
  if (rsaPadding === 'pss') return 'PS256';
  throw badRequest('crypto.rsa_padding_unsupported', 'rsa padding must be pkcs1 or pss');
}

export async function signJwt(
  keyObject: KeyObject,
  type: KeyType,
  kid: string,
  payload: Record<string, unknown>,
  opts?: { rsaPadding?: RsaPadding; typ?: string },
): Promise<string> {
  const alg = jwsAlgorithm(type, opts?.rsaPadding);
  return await new SignJWT(payload).setProtectedHeader({ alg, kid, typ: opts?.typ ?? 'JWT' }).sign(keyObject);
}

/** Public JWKS; each key carries its default alg (RS256 for RSA keys). */
export function jwks(entries: Array<{ type: KeyType; spki: Buffer; kid: string }>): { keys: JsonWebKey[] } {
  return { keys: entries.map((e) => publicKeyJwk(e.type, e.spki, e.kid)) };
}

/** kid = fingerprint + version, e.g. `sha256:<64 hex>:v3`. Opaque to JOSE consumers; stable across restarts. */
export function jwtKid(fingerprint: string, version: number): string {
  return `${fingerprint}:v${version}`;
}
