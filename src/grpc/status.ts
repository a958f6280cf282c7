// Problems as gRPC statuses: one table from the HTTP status REST would answer to a gRPC code, the problem's stable
// code in trailing metadata, its detail as the message (problem details never carry secrets).
import { Metadata, status as Status, type ServerErrorResponse } from '@grpc/grpc-js';
import type { ProblemError } from '../core/problem.ts';
import { problemHeaders } from '../http/problem.ts';

/** Every status a problem code of the API has (src/core/problem-codes.ts); test/grpc/status.test.ts holds it to that. */
export const BY_HTTP_STATUS: Readonly<Record<number, Status>> = {
  400: Status.INVALID_ARGUMENT,
  401: Status.UNAUTHENTICATED,
  403: Status.PERMISSION_DENIED,
  404: Status.NOT_FOUND,
  // request.method_not_allowed: REST's answer for a path without the method; grpc-js itself answers an unknown RPC.
  405: Status.UNIMPLEMENTED,
  408: Status.DEADLINE_EXCEEDED,
  // The key's state forbids the operation (disabled, released, destroyed; a concurrent change): FAILED_PRECONDITION.
  409: Status.FAILED_PRECONDITION,
  410: Status.FAILED_PRECONDITION,
  413: Status.INVALID_ARGUMENT,
  414: Status.INVALID_ARGUMENT,
  415: Status.INVALID_ARGUMENT,
  // key.provider_unsupported: the key's provider cannot do this, so retrying will not help.
  422: Status.FAILED_PRECONDITION,
  429: Status.RESOURCE_EXHAUSTED,
  431: Status.INVALID_ARGUMENT,
  500: Status.INTERNAL,
  503: Status.UNAVAILABLE,
};

/** Codes whose gRPC meaning is narrower than their HTTP status. */
const BY_CODE: Record<string, Status> = {
  'key.exists': Status.ALREADY_EXISTS,
};

export function grpcStatusOf(problem: Pick<ProblemError, 'code' | 'status'>): Status {
  return BY_CODE[problem.code] ?? BY_HTTP_STATUS[problem.status] ?? (problem.status >= 500 ? Status.INTERNAL : Status.FAILED_PRECONDITION);
}

export const PROBLEM_CODE_KEY = 'keyward-problem-code';
export const PROBLEM_STATUS_KEY = 'keyward-problem-status';

/** The error a handler hands grpc-js: status, message, and trailing metadata naming the problem and the call. */
export function grpcError(problem: ProblemError, requestId: string): ServerErrorResponse {
  const trailers = new Metadata();
  trailers.set(PROBLEM_CODE_KEY, problem.code);
  trailers.set(PROBLEM_STATUS_KEY, String(problem.status));
  trailers.set('x-request-id', requestId);
  // WWW-Authenticate, Retry-After: what REST sends as headers.
  for (const [k, v] of Object.entries(problemHeaders(problem))) trailers.set(k.toLowerCase(), v);
  const details = problem.detail ?? problem.title;
  return Object.assign(new Error(details), { name: 'ProblemError', code: grpcStatusOf(problem), details, metadata: trailers });
}
