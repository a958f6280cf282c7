// Where credentials sit in a request, and which authenticator a credential's shape belongs to.
import type { IncomingHttpHeaders } from 'node:http';
import { authError } from './errors.ts';

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

export type BearerResult = { kind: 'none' } | { kind: 'other_scheme' } | { kind: 'bearer'; token: string };

/** The Authorization header: absent, another scheme, or a Bearer token. An empty Bearer is malformed. */
export function bearer(headers: IncomingHttpHeaders): BearerResult {
  const h = one(headers.authorization);
  if (h === undefined) return { kind: 'none' };
  const m = /^Bearer(?:\s+(.*))?$/i.exec(h.trim());
  if (!m) return { kind: 'other_scheme' };
  const token = (m[1] ?? '').trim();
  if (token === '' || /\s/.test(token)) throw authError('auth.malformed_credential', 'the bearer token is empty or malformed');
  return { kind: 'bearer', token };
}

export function apiKeyHeader(headers: IncomingHttpHeaders): string | undefined {
  const v = one(headers['x-api-key'])?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/** A compact JWS: three dot-separated parts. Everything else is an opaque token (API key, bootstrap token). */
export const isJwtShaped = (token: string) => token.split('.').length === 3;

/** Generated bootstrap tokens carry this prefix, so a wrong one is recognised and never tried as an API key. */
export const BOOTSTRAP_TOKEN_PREFIX = 'kwbt_';

export const hasAnyCredentialHeader = (headers: IncomingHttpHeaders) => headers.authorization !== undefined || headers['x-api-key'] !== undefined;
