// JWTs through jose; nothing JOSE-specific is hand-written. The registry (index.ts) picks the algorithm.
import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { badRequest } from '../../core/problem.ts';

/** Signs `payload` as a JWT with `alg`, after checking the registered claims and `typ`. */
export async function signJws(keyObject: KeyObject, alg: string, kid: string, payload: Record<string, unknown>, typ = 'JWT'): Promise<string> {
  checkClaims(payload);
  checkTyp(typ);
  return await new SignJWT(payload).setProtectedHeader({ alg, kid, typ }).sign(keyObject);
}

/**
 * The same JWT, its signature computed by a key that never leaves an HSM (jose signs only with keys it holds). Only
 * the compact serialization is assembled here (RFC 7515 §7.1: base64url of the header, of the payload, and of the
 * signature `sign` returns over the two); `sign` must return the JWS form of the signature (raw r||s for ES*).
 */
export async function signJwsWith(sign: (signingInput: Buffer) => Promise<Buffer>, alg: string, kid: string, payload: Record<string, unknown>, typ = 'JWT'): Promise<string> {
  checkClaims(payload);
  checkTyp(typ);
  const b64url = (o: unknown) => Buffer.from(JSON.stringify(o), 'utf8').toString('base64url');
  const signingInput = `${b64url({ alg, kid, typ })}.${b64url(payload)}`;
  const signature = await sign(Buffer.from(signingInput, 'ascii'));
  return `${signingInput}.${signature.toString('base64url')}`;
}

function checkTyp(typ: string): void {
  if (!/^[\x21-\x7e]{1,64}$/.test(typ)) throw badRequest('crypto.jwt_header_invalid', 'typ is 1-64 printable ASCII characters without spaces');
}

const MAX_CLAIMS_DEPTH = 32;
const NUMERIC_DATES = ['exp', 'nbf', 'iat'];
const STRINGS = ['iss', 'sub', 'jti'];

/**
 * RFC 7519 §4.1 types for the registered claims, and a nesting limit (deep objects exhaust the signer's stack, and
 * JSON.stringify's: callers that serialise the claims before signing, to size them, check them first).
 */
export function checkClaims(payload: Record<string, unknown>): void {
  const invalid = (detail: string) => badRequest('crypto.jwt_claims_invalid', detail);
  for (const c of NUMERIC_DATES) if (c in payload && !(typeof payload[c] === 'number' && Number.isFinite(payload[c]))) throw invalid(`${c} must be a NumericDate (seconds since the epoch)`);
  for (const c of STRINGS) if (c in payload && typeof payload[c] !== 'string') throw invalid(`${c} must be a string`);
  const aud = payload['aud'];
  if (aud !== undefined && typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) throw invalid('aud must be a string or an array of strings');
  const tooDeep = (v: unknown, depth: number): boolean =>
    typeof v === 'object' && v !== null && (depth > MAX_CLAIMS_DEPTH || Object.values(v).some((x) => tooDeep(x, depth + 1)));
  if (tooDeep(payload, 1)) throw invalid(`claims nest at most ${MAX_CLAIMS_DEPTH} levels deep`);
}

/** kid = fingerprint + version, e.g. `sha256:<64 hex>:v3`. Opaque to JOSE consumers; stable across restarts. */
export function jwtKid(fingerprint: string, version: number): string {
  return `${fingerprint}:v${version}`;
}
