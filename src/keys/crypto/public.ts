// Public key export: SPKI PEM and JWK with the key's default JOSE algorithm.
import type { JsonWebKey } from 'node:crypto';
import type { KeyType } from '../types.ts';
import { loadPublicKey } from './load.ts';
import { EC_PARAMS, assertSigningType, internalError, isEc, isRsa, keyObjectMatches } from './params.ts';

export type PublicJwk = JsonWebKey & { kid: string; alg?: string; use: 'sig' };

export function publicKeyPem(spki: Buffer): string {
  return loadPublicKey(spki).export({ type: 'spki', format: 'pem' }) as string;
}

/** The JOSE algorithm a key is published with: what an RS/ES/EdDSA verifier expects by default. */
export function defaultJwsAlgorithm(type: KeyType): string {
  assertSigningType(type, 'signing');
  if (isEc(type)) return EC_PARAMS[type].jwsAlg;
  return type === 'Ed25519' ? 'EdDSA' : 'RS256';
}

/** The public JWK of a key version, with the algorithm it is published for (`alg: false` leaves it out). */
export function publicKeyJwk(type: KeyType, spki: Buffer, kid: string, opts: { alg?: boolean } = {}): PublicJwk {
  assertSigningType(type, 'public key export');
  const key = loadPublicKey(spki);
  if (!keyObjectMatches(type, key)) throw internalError('crypto.key_material_invalid', `public key is not a ${type} key`);
  return { ...key.export({ format: 'jwk' }), kid, ...(opts.alg === false ? {} : { alg: defaultJwsAlgorithm(type) }), use: 'sig' };
}

/**
 * A key version's JWK as the key service publishes it (JWKS and public-key endpoints). An RSA key signs both RS256
 * and PS256 JWTs there, so it carries no `alg`: a JWK with alg RS256 would not verify a PS256 token.
 */
export function keyServiceJwk(type: KeyType, spki: Buffer, kid: string): PublicJwk {
  return publicKeyJwk(type, spki, kid, { alg: !isRsa(type) });
}
