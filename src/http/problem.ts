// RFC 9457 problem details: how the HTTP kernel renders the errors every layer throws (src/core/problem.ts).
import type { ProblemError } from '../core/problem.ts';

export { ProblemError, isProblem, badRequest, notFound, conflict, unavailable, type ProblemInit } from '../core/problem.ts';

export const PROBLEM_TYPE_BASE = 'https://keyward.dev/problems/';

export function problemType(code: string): string {
  return PROBLEM_TYPE_BASE + code.replaceAll('.', '/');
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
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

