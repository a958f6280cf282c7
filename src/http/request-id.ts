import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** A client's x-request-id is kept when it is sane (short, printable, no separators an attacker could abuse in logs). */
const SANE_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/** The caller's id when it is sane, else a fresh one; for any transport (gRPC reads it from metadata). */
export function requestIdOf(given: unknown): string {
  return typeof given === 'string' && SANE_ID.test(given) ? given : randomUUID();
}

export function requestIdFor(req: IncomingMessage): string {
  return requestIdOf(req.headers['x-request-id']);
}
