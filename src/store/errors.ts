// Faults of the database itself, as opposed to answers from it (a unique violation, no such row). They surface as
// problems with stable codes, so every caller (key service, seal, identity provider, readiness) refuses the same
// way: 503 storage.unavailable while the database cannot be reached or is refusing work, and the request can be
// retried once it is back.
import { ProblemError } from '../core/problem.ts';

/** The database cannot be reached, dropped the connection, is shutting down, busy or out of space. */
export class StoreUnavailableError extends ProblemError {
  constructor(detail: string, cause?: unknown) {
    super({ code: 'storage.unavailable', detail });
    this.name = 'StoreUnavailableError';
    if (cause !== undefined) {
      this.cause = cause;
      // For the operator (start-up errors, logs); clients see only the neutral detail.
      this.message = `${detail}: ${describe(cause)}`;
    }
  }
}

/** The database file is damaged: nothing to retry, an operator has to look. */
export class StoreCorruptError extends ProblemError {
  constructor(cause?: unknown) {
    super({ code: 'storage.corrupt', detail: 'the database is damaged; see the server log' });
    this.name = 'StoreCorruptError';
    if (cause !== undefined) {
      this.cause = cause;
      this.message = `the database is damaged: ${describe(cause)}`;
    }
  }
}

function describe(e: unknown): string {
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' && message !== '' ? message : String(e);
  return typeof code === 'string' && !text.includes(code) ? `${code} ${text}` : text;
}

export const isStoreUnavailable = (e: unknown): e is StoreUnavailableError => e instanceof StoreUnavailableError;
