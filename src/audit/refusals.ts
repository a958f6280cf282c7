// Every refusal to an authenticated principal leaves an audit event. Most are recorded where they happen (the
// authorization stage, the key and system services, each with its own event type and action); the rest (a body
// that is not JSON, fails validation, is too large or of the wrong type, a bad base64 field, an unknown route,
// an unexpected error) would leave none. The error handler closes that gap with one `request.refused` event,
// unless the request already has a refusal event. Events carry the code, never the body.
import type { FastifyRequest } from 'fastify';
import type { AuditEventInput, AuditRecorder } from './types.ts';
import { isValidKeyId } from '../core/keys.ts';
import { ProblemError, isProblem } from '../core/problem.ts';

/** Requests in flight beyond which the oldest marks are dropped (a response that never completed, say). */
const MAX_TRACKED = 10_000;

/**
 * The audit recorder handed to everything that records on behalf of a request: it passes events through and
 * remembers which requests in flight got a refusal event (outcome denied or error), until their response is done.
 * Requests are told apart by id; a client may choose its id (x-request-id), so while two requests with one id are in
 * flight neither counts as audited: a refusal may then be recorded twice, never not at all.
 */
export class RefusalLedger implements AuditRecorder {
  readonly #inner: AuditRecorder;
  /** Requests in flight by id (usually 1 each). */
  readonly #inFlight = new Map<string, number>();
  readonly #refused = new Set<string>();

  constructor(inner: AuditRecorder) {
    this.#inner = inner;
  }

  async record(event: AuditEventInput): Promise<void> {
    await this.#inner.record(event);
    if (event.outcome !== 'success' && event.request_id && this.#inFlight.has(event.request_id)) this.#refused.add(event.request_id);
  }

  ready(): boolean {
    return this.#inner.ready();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  /** A request arrived. */
  begin(requestId: string): void {
    if (this.#inFlight.size >= MAX_TRACKED) {
      // Responses that never completed: drop the oldest marks rather than grow without bound.
      const oldest = this.#inFlight.keys().next().value!;
      this.#inFlight.delete(oldest);
      this.#refused.delete(oldest);
    }
    this.#inFlight.set(requestId, (this.#inFlight.get(requestId) ?? 0) + 1);
  }

  hasRefusal(requestId: string): boolean {
    return this.#inFlight.get(requestId) === 1 && this.#refused.has(requestId);
  }

  /** The response is done (or the client went away). */
  end(requestId: string): void {
    const n = this.#inFlight.get(requestId);
    if (n === undefined) return;
    if (n > 1) {
      this.#inFlight.set(requestId, n - 1);
      return;
    }
    this.#inFlight.delete(requestId);
    this.#refused.delete(requestId);
  }
}

/** A refused call on any transport, as its refusal event needs it. */
export interface RefusedCall {
  principal: { id: string; type: string; authMethod: string } | null;
  requestId: string;
  sourceIp?: string | undefined;
  userAgent?: string | undefined;
  /** The action the call would have been authorized for, else what was called. */
  action: string;
  /** Only a valid key id. */
  keyId?: string | undefined;
  /** Small facts about the call (the method and status); never the caller's body or path. */
  metadata: Record<string, unknown>;
}

/**
 * Records `problem` for a call by an authenticated principal that has no refusal event yet (on any transport).
 * Returns the problem to send: the same one, or 503 audit.unavailable when it could not be recorded (as for every
 * other refusal).
 */
export async function recordRefusal(ledger: RefusalLedger, call: RefusedCall, problem: ProblemError): Promise<ProblemError> {
  const principal = call.principal;
  if (!principal || ledger.hasRefusal(call.requestId)) return problem;
  try {
    await ledger.record({
      event_type: 'request.refused',
      action: call.action,
      principal: { id: principal.id, type: principal.type, auth_method: principal.authMethod },
      resource: call.keyId !== undefined ? { type: 'Key', id: call.keyId } : null,
      outcome: problem.status === 401 || problem.status === 403 ? 'denied' : 'error',
      error_code: problem.code,
      request_id: call.requestId,
      source_ip: call.sourceIp,
      user_agent: call.userAgent,
      metadata: call.metadata,
    });
    return problem;
  } catch (e) {
    return isProblem(e) ? e : problem;
  }
}

/** recordRefusal for an HTTP request. */
export async function auditRefusal(ledger: RefusalLedger, req: FastifyRequest, problem: ProblemError): Promise<ProblemError> {
  if (!req.principal || ledger.hasRefusal(req.id)) return problem;
  const { action, keyId } = actionOf(req);
  const ua = req.headers['user-agent'];
  return recordRefusal(ledger, {
    principal: req.principal,
    requestId: req.id,
    sourceIp: req.ip,
    userAgent: typeof ua === 'string' ? ua.slice(0, 256) : undefined,
    action,
    keyId,
    // The method and status only: the path of an unknown route and the body are the caller's text.
    metadata: { method: req.method, status: problem.status },
  }, problem);
}

/**
 * The action the route would have authorized (kms:Sign...), else its path pattern; `route:unknown` for a path
 * that matches no route. The key id only when it is a valid one.
 */
function actionOf(req: FastifyRequest): { action: string; keyId?: string | undefined } {
  const url = req.routeOptions.url;
  if (url === undefined) return { action: 'route:unknown' };
  try {
    // The route's own declaration, evaluated on what was parsed so far (it may throw on a body that failed).
    const target = req.routeOptions.config.security?.authz?.(req)[0];
    if (target) return { action: target.action, keyId: validId(target.keyId) };
  } catch {
    // fall through to the path pattern
  }
  return { action: url, keyId: validId((req.params as { id?: unknown } | undefined)?.id) };
}

export const validId = (id: unknown) => (typeof id === 'string' && isValidKeyId(id) ? id : undefined);
