// Authentication problems. 401s carry WWW-Authenticate per RFC 6750; details never say which part of a
// secret matched.
import { ProblemError, type ProblemCodeWithStatus } from '../core/problem.ts';

export const REALM = 'keyward';

const quote = (s: string) => s.replace(/["\\]/g, '');

/** A 401 with its WWW-Authenticate challenge. */
export function authError(code: ProblemCodeWithStatus<401>, detail: string): ProblemError {
  const error = code === 'auth.missing_credential' ? undefined : code === 'auth.malformed_credential' ? 'invalid_request' : 'invalid_token';
  const challenge = `Bearer realm="${REALM}"` + (error ? `, error="${error}", error_description="${quote(detail)}"` : '');
  return new ProblemError({ code, detail, headers: { 'www-authenticate': challenge } });
}

/** The one missing-credential problem: a bare challenge (RFC 6750 §3.1: no error code when no credential came). */
export const missingCredential = () => authError('auth.missing_credential', 'send Authorization: Bearer <token> or X-Api-Key');

export const clientNotAllowed = (detail: string) =>
  new ProblemError({ code: 'auth.client_not_allowed', detail });

export const jwksUnavailable = () =>
  new ProblemError({
    code: 'auth.jwks_unavailable',
    detail: 'the identity provider signing keys cannot be fetched',
  });
