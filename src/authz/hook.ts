// The authorization stage as a Fastify hook (preHandler: after validation, before the handler). Routes declare
// what they need (src/http/security.ts); a route that declares nothing serves nobody. Refusals are audited here.
import type { FastifyInstance } from 'fastify';
import type { AuditRecorder } from '../audit/types.ts';
import type { Principal } from '../authn/types.ts';
import { isValidKeyId } from '../core/keys.ts';
import { ProblemError, isProblem } from '../core/problem.ts';
import { type AuthzTarget, type CallInfo, callInfo } from '../http/security.ts';
import { invalidKeyId } from '../keys/errors.ts';
import { enforce } from './index.ts';
import { permissionFor } from './permissions.ts';
import type { AuthzRequest, AuthzResource, Pdp } from './types.ts';

export interface AuthorizationDeps {
  pdp: Pdp;
  audit: AuditRecorder;
  permissionPrefix: string;
  /** Resource metadata for the PDP (key type, state, labels); undefined for unknown keys. */
  keyAttributes: (keyId: string) => Promise<Record<string, unknown> | undefined>;
  clock: { now(): Date };
}

export function registerAuthorization(app: FastifyInstance, deps: AuthorizationDeps): void {
  app.addHook('preHandler', async (req) => {
    if (req.routeOptions.url === undefined) return;
    const security = req.routeOptions.config.security;
    if (security?.public) return;
    // Fail closed: a route that forgot to declare what it needs serves nobody.
    if (security?.authz === undefined) {
      throw new ProblemError({ code: 'internal.route_without_policy', detail: 'this route declares no authorization policy' });
    }
    for (const target of security.authz(req)) await authorize(deps, callInfo(req), req.principal!, target);
  });
}

/** Decides one target for an authenticated caller, on any transport; a refusal is audited and thrown. */
export async function authorize(deps: AuthorizationDeps, call: CallInfo, principal: Principal, target: AuthzTarget): Promise<void> {
  const areq = await authzRequest(deps, call, principal, target);
  try {
    await enforce(deps.pdp, areq);
  } catch (e) {
    const refusal = isProblem(e) ? e : new ProblemError({ code: 'authz.pdp_unavailable', detail: 'no authorization decision could be made' });
    await deps.audit.record({
      event_type: 'authz.denied',
      action: target.action,
      principal: { id: principal.id, type: principal.type, auth_method: principal.authMethod },
      resource: { type: areq.resource.type, id: areq.resource.id },
      outcome: refusal.status >= 500 ? 'error' : 'denied',
      error_code: refusal.code,
      request_id: call.requestId,
      source_ip: call.sourceIp,
      user_agent: call.userAgent,
      metadata: { permission: areq.permission, pdp: deps.pdp.name },
    });
    throw refusal;
  }
}

/** The PDP's view of one request: identities, action and resource metadata only (never bodies or credentials). */
export async function authzRequest(deps: Pick<AuthorizationDeps, 'permissionPrefix' | 'keyAttributes' | 'clock'>, call: CallInfo, principal: Principal, target: AuthzTarget): Promise<AuthzRequest> {
  // Ids in bodies are checked here: the permission grammar cannot express a malformed id.
  if (target.keyId !== undefined && !isValidKeyId(target.keyId)) throw invalidKeyId();
  return {
    requestId: call.requestId,
    action: target.action,
    permission: permissionFor(deps.permissionPrefix, target.action, target.keyId, { overwrite: target.overwrite === true }),
    principal,
    resource: await resourceFor(target, deps),
    context: {
      source_ip: call.sourceIp,
      user_agent: call.userAgent,
      request_time: deps.clock.now().toISOString(),
      auth_method: principal.authMethod,
      mfa_authenticated: principal.attributes['mfa'] === true,
    },
  };
}

async function resourceFor(target: AuthzTarget, deps: Pick<AuthorizationDeps, 'keyAttributes'>): Promise<AuthzResource> {
  if (target.keyId !== undefined) {
    return { type: 'Key', id: target.keyId, attributes: (await deps.keyAttributes(target.keyId)) ?? {} };
  }
  if (target.action.startsWith('sys:') || target.action.startsWith('idp:')) return { type: 'System', id: 'system', attributes: {} };
  if (target.action.startsWith('audit:')) return { type: 'Audit', id: 'audit', attributes: {} };
  return { type: 'Namespace', id: 'keys', attributes: {} };
}
