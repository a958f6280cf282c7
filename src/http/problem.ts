// RFC 9457 problem details: how the HTTP kernel renders the errors every layer throws (src/core/problem.ts). The one
// place a problem code becomes HTTP: status and title from the registry (src/core/problem-codes.ts), its
// Retry-After, the body.
import { PROBLEM_CODES } from '../core/problem-codes.ts';
import type { ProblemCode, ProblemSpec } from '../core/problem-codes.ts';
import type { ProblemError } from '../core/problem.ts';

export { ProblemError, isProblem, problem, badRequest, notFound, conflict, unavailable, type ProblemInit, type ProblemCode } from '../core/problem.ts';

export const PROBLEM_TYPE_BASE = 'https://keyward.dev/problems/';

export function problemType(code: ProblemCode): string {
  return PROBLEM_TYPE_BASE + code.replaceAll('.', '/');
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail?: string;
  request_id?: string;
  [k: string]: unknown;
}

export function problemBody(err: ProblemError, requestId: string | undefined): ProblemBody {
  return {
    ...(err.extra ?? {}),
    type: problemType(err.code),
    title: err.title,
    status: err.status,
    code: err.code,
    ...(err.detail !== undefined ? { detail: err.detail } : {}),
    ...(requestId !== undefined ? { request_id: requestId } : {}),
  };
}

/** The response headers a problem brings: the code's Retry-After, and the occurrence's own (WWW-Authenticate). */
export function problemHeaders(err: ProblemError): Record<string, string> {
  const spec: ProblemSpec = PROBLEM_CODES[err.code];
  return { ...(spec.retryAfter !== undefined ? { 'retry-after': String(spec.retryAfter) } : {}), ...(err.headers ?? {}) };
}
