// Errors with a stable dotted `code`, thrown by every layer; callers match on `code`, never on message text. A code's
// status and title come from the registry (problem-codes.ts), so a layer names what went wrong and the HTTP kernel
// (src/http/problem.ts) alone decides how it looks on the wire.
import { PROBLEM_CODES, type ProblemCode, type ProblemCodeWithStatus } from './problem-codes.ts';

export type { ProblemCode, ProblemCodeWithStatus } from './problem-codes.ts';

export interface ProblemInit {
  code: ProblemCode;
  detail?: string;
  /** Extra members for the body (never secrets). */
  extra?: Record<string, unknown>;
  /** Extra response headers that depend on the occurrence, e.g. WWW-Authenticate. */
  headers?: Record<string, string>;
}

export class ProblemError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(init: ProblemInit) {
    const spec = PROBLEM_CODES[init.code];
    super(init.detail ?? spec.title);
    this.name = 'ProblemError';
    this.code = init.code;
    this.status = spec.status;
    this.title = spec.title;
    this.detail = init.detail;
    this.extra = init.extra;
    this.headers = init.headers;
  }
}

export const isProblem = (e: unknown): e is ProblemError => e instanceof ProblemError;

/** The usual way to raise a problem: its code and what happened. */
export const problem = (code: ProblemCode, detail: string, extra?: Record<string, unknown>) =>
  new ProblemError({ code, detail, ...(extra ? { extra } : {}) });

// Shorthands that also say the status at the call site: a code of another status does not compile.
export const badRequest = (code: ProblemCodeWithStatus<400>, detail: string, extra?: Record<string, unknown>) => problem(code, detail, extra);
export const notFound = (code: ProblemCodeWithStatus<404>, detail: string) => problem(code, detail);
export const conflict = (code: ProblemCodeWithStatus<409>, detail: string) => problem(code, detail);
export const unavailable = (code: ProblemCodeWithStatus<503>, detail: string) => problem(code, detail);
