// The authentication stage as a Fastify hook (onRequest: headers only, before any body is parsed). Routes declare
// what they need (src/http/security.ts); refusals are audited here.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import type { AuditRecorder } from '../audit/types.ts';
import { isProblem } from '../core/problem.ts';
import { callInfo, repeatedHeader, userAgent } from '../http/security.ts';
import type { OperationContext } from './context.ts';
import { authError, missingCredential } from './errors.ts';
import type { Authenticator, Principal } from './types.ts';

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

export function registerAuthentication(app: FastifyInstance, deps: AuthenticationDeps): void {
  app.decorateRequest('principal', null);

  const authenticate = (req: FastifyRequest) => {
    const socket = req.raw.socket as Partial<TLSSocket>;
    const peerCertificate = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate(false) : undefined;
    return deps.authenticator.authenticate({
      headers: req.headers,
      sourceIp: req.ip,
      peerCertificate: peerCertificate && Object.keys(peerCertificate).length > 0 ? peerCertificate : undefined,
      peerAuthorized: socket.authorized === true,
      requestId: req.id,
    });
  };

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
    try {
      // Node keeps the first of several Authorization headers; a proxy may act on another. Refuse the ambiguity.
      if (repeatedHeader(req.raw.rawHeaders, 'authorization')) throw authError('auth.malformed_credential', 'the request carries more than one Authorization header');
      const principal = await authenticate(req);
      if (principal === undefined) throw missingCredential();
      req.principal = principal;
    } catch (e) {
      await deps.audit.record({
        event_type: 'auth.failure',
        action: req.routeOptions.url ?? req.url,
        principal: null,
        resource: null,
        outcome: 'denied',
        error_code: isProblem(e) ? e.code : 'internal.error',
        request_id: req.id,
        source_ip: req.ip,
        user_agent: userAgent(req),
      });
      throw e;
    }
  });
}
