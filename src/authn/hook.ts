// The authentication stage as a Fastify hook (onRequest: headers only, before any body is parsed). Routes declare
// what they need (src/http/security.ts); refusals are audited here.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import type { AuditRecorder } from '../audit/types.ts';
import { isProblem } from '../core/problem.ts';
import { type CallInfo, callInfo, repeatedHeader } from '../http/security.ts';
import type { OperationContext } from './context.ts';
import { authError, missingCredential } from './errors.ts';
import type { Authenticator, AuthnRequest, Principal } from './types.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface AuthenticationDeps {
  authenticator: Authenticator;
  audit: AuditRecorder;
}

/** Who asks and from where, for the services (which never see HTTP). */
export function operationContext(req: FastifyRequest): OperationContext {
  const call = callInfo(req);
  return { principal: req.principal, requestId: call.requestId, sourceIp: call.sourceIp, userAgent: call.userAgent };
}

/** What the authenticators may look at in an HTTP request: headers, source address, the verified client certificate. */
function credentials(req: FastifyRequest): AuthnRequest {
  const socket = req.raw.socket as Partial<TLSSocket>;
  const peerCertificate = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate(false) : undefined;
  return {
    headers: req.headers,
    sourceIp: req.ip,
    peerCertificate: peerCertificate && Object.keys(peerCertificate).length > 0 ? peerCertificate : undefined,
    peerAuthorized: socket.authorized === true,
    requestId: req.id,
  };
}

export function registerAuthentication(app: FastifyInstance, deps: AuthenticationDeps): void {
  app.decorateRequest('principal', null);

  const authenticate = (req: FastifyRequest) => deps.authenticator.authenticate(credentials(req));

  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.url === undefined) {
      // An unknown route is 404 for everyone: no credential is required and a bad one is not refused (that would
      // tell routes apart by status). A caller whose credential is valid is identified, so its 404 is audited
      // like any refusal to an authenticated principal; anything else is ignored here and leaves no event.
      if (!repeatedHeader(req.raw.rawHeaders, 'authorization')) req.principal = (await authenticate(req).catch(() => undefined)) ?? null;
      return;
    }
    const security = req.routeOptions.config.security;
    if (security?.public) return;
    req.principal = await authenticateCall(deps, callInfo(req), req.routeOptions.url ?? req.url, () => {
      // Node keeps the first of several Authorization headers; a proxy may act on another. Refuse the ambiguity.
      if (repeatedHeader(req.raw.rawHeaders, 'authorization')) throw authError('auth.malformed_credential', 'the request carries more than one Authorization header');
      return credentials(req);
    });
  });
}

/**
 * The authentication stage on any transport (REST above, gRPC in src/grpc): the caller's Principal, or a refusal,
 * audited as auth.failure and thrown. `credentials` gathers what the authenticators may look at; it may refuse an
 * ambiguous request itself. `action` names what was called (a route pattern, a gRPC method).
 */
export async function authenticateCall(deps: AuthenticationDeps, call: CallInfo, action: string, credentials: () => AuthnRequest): Promise<Principal> {
  try {
    const principal = await deps.authenticator.authenticate(credentials());
    if (principal === undefined) throw missingCredential();
    return principal;
  } catch (e) {
    await deps.audit.record({
      event_type: 'auth.failure',
      action,
      principal: null,
      resource: null,
      outcome: 'denied',
      error_code: isProblem(e) ? e.code : 'internal.error',
      request_id: call.requestId,
      source_ip: call.sourceIp,
      user_agent: call.userAgent,
    });
    throw e;
  }
}
