// Authentication problems. 401s carry WWW-Authenticate per RFC 6750; details never say which part of a
// secret matched.
import { ProblemError } from '../core/problem.ts';

export const REALM = 'keyward';

const TITLES: Record<string, string> = {
  'auth.missing_credential': 'Missing credential',
  'auth.malformed_credential': 'Malformed credential',
  'auth.invalid_credential': 'Invalid credential',
  'auth.token_expired': 'Token expired',
  'auth.token_not_yet_valid': 'Token not yet valid',
  'auth.token_signature_invalid': 'Invalid token signature',
  'auth.issuer_mismatch': 'Issuer mismatch',
  'auth.audience_mismatch': 'Audience mismatch',
  'auth.kid_unknown': 'Unknown signing key',
  'auth.algorithm_not_allowed': 'Algorithm not allowed',
  'auth.client_not_allowed': 'Client not allowed',
  'auth.jwks_unavailable': 'Signing keys unavailable',
};

const quote = (s: string) => s.replace(/["\\]/g, '');

/** A 401 with its WWW-Authenticate challenge. */
export function authError(code: string, detail: string): ProblemError {
  const error = code === 'auth.missing_credential' ? undefined : code === 'auth.malformed_credential' ? 'invalid_request' : 'invalid_token';
  const challenge = `Bearer realm="${REALM}"` + (error ? `, error="${error}", error_description="${quote(detail)}"` : '');
  return new ProblemError({ status: 401, code, title: TITLES[code] ?? 'Unauthorized', detail, headers: { 'www-authenticate': challenge } });
}

export const missingCredential = () => authError('auth.missing_credential', 'no credential was presented');

export const clientNotAllowed = (detail: string) =>
  new ProblemError({ status: 403, code: 'auth.client_not_allowed', title: TITLES['auth.client_not_allowed']!, detail });

export const jwksUnavailable = () =>
  new ProblemError({
    status: 503,
    code: 'auth.jwks_unavailable',
    title: TITLES['auth.jwks_unavailable']!,
    detail: 'the identity provider signing keys cannot be fetched',
    headers: { 'retry-after': '30' },
  });
