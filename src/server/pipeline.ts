// The request pipeline's two security stages, as Fastify hooks: authenticate (onRequest: headers only, before
// any body is parsed) then authorize (preHandler: after validation, before the handler). Routes declare what
// they need in their config; handlers never check credentials themselves. Refusals are audited here.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import type { AuditRecorder } from '../audit/types.ts';
import type { Authenticator, Principal } from '../authn/types.ts';
import { authError } from '../authn/errors.ts';
import { type Action } from '../authz/actions.ts';
import { enforce, permissionFor } from '../authz/index.ts';
import type { AuthzRequest, AuthzResource, Pdp } from '../authz/types.ts';
import type { OperationContext } from '../keys/context.ts';
import { invalidKeyId } from '../keys/errors.ts';
import { isValidKeyId } from '../keys/types.ts';
import { ProblemError, isProblem } from './problem.ts';

export interface AuthzTarget {
  action: Action;
  keyId?: string | undefined;
  /** create/import replacing an existing key needs the overwrite permission as well. */
  overwrite?: boolean | undefined;
}

export interface RouteSecurity {
  /** No credentials needed (health, metrics, discovery documents). */
  public?: boolean;
  /** What the caller must be allowed to do; evaluated after validation. */
  authz?: (req: FastifyRequest) => AuthzTarget[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    security?: RouteSecurity;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface PipelineDeps {
  authenticator: Authenticator;
  pdp: Pdp;
  audit: AuditRecorder;
  permissionPrefix: string;
  /** Resource metadata for the PDP (key type, state, labels); undefined for unknown keys. */
  keyAttributes: (keyId: string) => Promise<Record<string, unknown> | undefined>;
  clock: { now(): Date };
}

export const missingCredential = () =>
  new ProblemError({
    status: 401,
    code: 'auth.missing_credential',
    title: 'Missing credential',
    detail: 'send Authorization: Bearer <token> or X-Api-Key',
    headers: { 'www-authenticate': 'Bearer realm="keyward"' },
  });

export function operationContext(req: FastifyRequest): OperationContext {
  return { principal: req.principal, requestId: req.id, sourceIp: req.ip, userAgent: userAgent(req) };
}

const userAgent = (req: FastifyRequest) => {
  const ua = req.headers['user-agent'];
  return typeof ua === 'string' ? ua.slice(0, 256) : undefined;
};

function repeatedHeader(raw: string[], name: string): boolean {
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) {
      if (seen) return true;
      seen = true;
    }
  }
  return false;
}

export function registerPipeline(app: FastifyInstance, deps: PipelineDeps): void {
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

  app.addHook('preHandler', async (req) => {
    if (req.routeOptions.url === undefined) return;
    const security = req.routeOptions.config.security;
    if (security?.public) return;
    // Fail closed: a route that forgot to declare what it needs serves nobody.
    if (security?.authz === undefined) {
      throw new ProblemError({ status: 500, code: 'internal.route_without_policy', title: 'Internal server error', detail: 'this route declares no authorization policy' });
    }
    const principal = req.principal!;
    for (const target of security.authz(req)) {
      const areq = await authzRequest(deps, req, principal, target);
      try {
        await enforce(deps.pdp, areq);
      } catch (e) {
        const refusal = isProblem(e) ? e : new ProblemError({ status: 503, code: 'authz.pdp_unavailable', title: 'Service unavailable', detail: 'no authorization decision could be made' });
        await deps.audit.record({
          event_type: 'authz.denied',
          action: target.action,
          principal: { id: principal.id, type: principal.type, auth_method: principal.authMethod },
          resource: { type: areq.resource.type, id: areq.resource.id },
          outcome: refusal.status >= 500 ? 'error' : 'denied',
          error_code: refusal.code,
          request_id: req.id,
          source_ip: req.ip,
          user_agent: userAgent(req),
          metadata: { permission: areq.permission, pdp: deps.pdp.name },
        });
        throw refusal;
      }
    }
  });
}

/** The PDP's view of one request: identities, action and resource metadata only (never bodies or credentials). */
export async function authzRequest(deps: PipelineDeps, req: FastifyRequest, principal: Principal, target: AuthzTarget): Promise<AuthzRequest> {
  // Ids in bodies are checked here: the permission grammar cannot express a malformed id.
  if (target.keyId !== undefined && !isValidKeyId(target.keyId)) throw invalidKeyId();
  return {
    requestId: req.id,
    action: target.action,
    permission: permissionFor(deps.permissionPrefix, target.action, target.keyId, { overwrite: target.overwrite === true }),
    principal,
    resource: await resourceFor(target, deps),
    context: {
      source_ip: req.ip,
      user_agent: userAgent(req),
      request_time: deps.clock.now().toISOString(),
      auth_method: principal.authMethod,
      mfa_authenticated: principal.attributes['mfa'] === true,
    },
  };
}

async function resourceFor(target: AuthzTarget, deps: PipelineDeps): Promise<AuthzResource> {
  if (target.keyId !== undefined) {
    return { type: 'Key', id: target.keyId, attributes: (await deps.keyAttributes(target.keyId)) ?? {} };
  }
  if (target.action.startsWith('sys:') || target.action.startsWith('idp:')) return { type: 'System', id: 'system', attributes: {} };
  if (target.action.startsWith('audit:')) return { type: 'Audit', id: 'audit', attributes: {} };
  return { type: 'Namespace', id: 'keys', attributes: {} };
}
