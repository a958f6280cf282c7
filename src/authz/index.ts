// Authorization stage entry points: build the configured PDP, enforce a decision, explain one.
import { preflightError } from '../core/preflight.ts';
import type { AuthzDecision, AuthzRequest, Pdp } from './types.ts';
import { pdpDescriptor, pdpPreflight, type AuthzConfig, type PdpDeps } from './config.ts';
import { evaluate, isExplicitOnly } from './permissions.ts';
import { authzDenied, scopeDenied } from './errors.ts';

export { permissionFor, matchGrant, evaluate } from './permissions.ts';
export { ACTIONS, ACTION_PERMISSIONS, isAction } from '../core/actions.ts';
export { authzConfigSchema, authzProductionProblems, pdpPreflight, PDPS, type PdpDeps } from './config.ts';
export { toPdpRequest } from './contract.ts';

/**
 * Startup problems (unreadable policy files, bad schema, unreadable TLS files) throw a plain Error naming the field:
 * first the PDP's preflight (every problem at once), then its factory.
 */
export async function createPdp(cfg: AuthzConfig, deps: PdpDeps): Promise<Pdp> {
  const problems = pdpPreflight(cfg, { env: deps.env ?? {}, production: deps.production ?? false });
  if (problems.length > 0) throw preflightError('authz.pdp', problems);
  return pdpDescriptor(cfg.pdp.type).create(cfg.pdp, deps);
}

/**
 * A credential that carries grants (API-key scopes, a token's permissions or mapped scopes, the mTLS or forwarded
 * mapping) is bounded by them whatever the PDP: a policy PDP decides within that bound, not beyond it. A credential
 * with no grants at all is judged by the policies alone (the builtin PDP then denies everything), except for an
 * explicit-only permission, which the credential must name.
 */
function outsideGrants(pdp: Pdp, req: AuthzRequest) {
  // An explicit-only permission must be named by the credential itself, whatever the policies say.
  if (pdp.name === 'builtin' || (req.principal.permissions.length === 0 && !isExplicitOnly(req.permission))) return undefined;
  const e = evaluate(req.principal.permissions, req.permission);
  return e.allowed && e.deniedBy === undefined ? undefined : e;
}

/**
 * Decide and throw on deny: the builtin PDP (and a credential's own grants, see outsideGrants) answers 403
 * auth.scope_denied naming the missing permission, policy PDPs 403 authz.denied; an unavailable PDP has already
 * thrown 503 authz.pdp_unavailable.
 */
export async function enforce(pdp: Pdp, req: AuthzRequest): Promise<AuthzDecision> {
  const outside = outsideGrants(pdp, req);
  if (outside) throw scopeDenied(req.permission, outside.deniedBy);
  const decision = await pdp.decide(req);
  if (decision.allowed === true) return decision;
  if (pdp.name === 'builtin') {
    const denied = decision.reasons.find((r) => r.startsWith('-'));
    throw scopeDenied(req.permission, denied);
  }
  throw authzDenied(req.action);
}

export interface Explanation {
  allowed: boolean;
  pdp: string;
  action: string;
  permission: string;
  principal: { id: string; type: string; auth_method: string };
  resource: { type: string; id: string };
  /** builtin: the allow grants that match (even when a deny wins); policy PDPs: the determining policy ids or reasons. */
  matched: string[];
  /** builtin: the negative grant that won. */
  denied_by?: string;
  /** builtin: the permission nothing granted. */
  missing_permission?: string;
  policy_version?: string;
}

/** Why `req.principal` may or may not do `req.action` (POST /v1/authz/explain). Throws 503 when the PDP is unavailable. */
export async function explain(pdp: Pdp, req: AuthzRequest): Promise<Explanation> {
  const base = {
    pdp: pdp.name,
    action: req.action,
    permission: req.permission,
    principal: { id: req.principal.id, type: req.principal.type, auth_method: req.principal.authMethod },
    resource: { type: req.resource.type, id: req.resource.id },
  };
  if (pdp.name === 'builtin') {
    const e = evaluate(req.principal.permissions, req.permission);
    return {
      ...base,
      allowed: e.allowed,
      matched: e.matched,
      ...(e.deniedBy !== undefined ? { denied_by: e.deniedBy } : {}),
      ...(!e.allowed && e.deniedBy === undefined ? { missing_permission: req.permission } : {}),
    };
  }
  const outside = outsideGrants(pdp, req);
  if (outside) {
    return { ...base, allowed: false, matched: outside.matched, ...(outside.deniedBy !== undefined ? { denied_by: outside.deniedBy } : { missing_permission: req.permission }) };
  }
  const d = await pdp.decide(req);
  return { ...base, allowed: d.allowed, matched: d.reasons, ...(d.policyVersion !== undefined ? { policy_version: d.policyVersion } : {}) };
}
