// Errors with a stable dotted `code`, thrown by every layer; callers match on `code`, never on message text. The
// HTTP kernel renders them as RFC 9457 problem details (src/http/problem.ts).

export interface ProblemInit {
  status: number;
  code: string;
  title: string;
  detail?: string;
  /** Extra members for the body (never secrets). */
  extra?: Record<string, unknown>;
  /** Extra response headers, e.g. WWW-Authenticate or Retry-After. */
  headers?: Record<string, string>;
}

export class ProblemError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(init: ProblemInit) {
    super(init.detail ?? init.title);
    this.name = 'ProblemError';
    this.status = init.status;
    this.code = init.code;
    this.title = init.title;
    this.detail = init.detail;
    this.extra = init.extra;
    this.headers = init.headers;
  }
}

export const isProblem = (e: unknown): e is ProblemError => e instanceof ProblemError;

// Shorthands for the common statuses; the code carries the meaning.
export const badRequest = (code: string, detail: string, extra?: Record<string, unknown>) =>
  new ProblemError({ status: 400, code, title: 'Bad request', detail, ...(extra ? { extra } : {}) });
export const notFound = (code: string, detail: string) => new ProblemError({ status: 404, code, title: 'Not found', detail });
export const conflict = (code: string, detail: string) => new ProblemError({ status: 409, code, title: 'Conflict', detail });
export const unavailable = (code: string, detail: string) =>
  new ProblemError({ status: 503, code, title: 'Service unavailable', detail });
