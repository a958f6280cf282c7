// The authorization stage: principal + action + resource metadata in, a decision out. A PDP never
// receives key material, plaintexts, digests or tokens.
import type { Principal } from '../authn/types.ts';

export interface AuthzResource {
  /** Key, Namespace (key collection), System, Audit */
  type: 'Key' | 'Namespace' | 'System' | 'Audit';
  id: string;
  /** Resource metadata only: key type, state, labels. */
  attributes: Record<string, unknown>;
}

export interface AuthzRequest {
  requestId: string;
  /** e.g. kms:Sign */
  action: string;
  /** The permission string the builtin PDP checks, e.g. keyward.key.payments-1.sign */
  permission: string;
  principal: Principal;
  resource: AuthzResource;
  context: { source_ip: string; user_agent?: string | undefined; request_time: string; auth_method: string; mfa_authenticated?: boolean };
}

export interface AuthzDecision {
  allowed: boolean;
  /** Matching grants or policy ids, for explain and for audit. */
  reasons: string[];
  policyVersion?: string | undefined;
}

export interface Pdp {
  readonly name: string;
  /** Throws ProblemError 503 authz.pdp_unavailable when no decision can be had (fail closed). */
  decide(req: AuthzRequest): Promise<AuthzDecision>;
  /** Re-read policies (SIGHUP, POST /v1/sys/reload); optional. On failure the old policies stay. */
  reload?(): Promise<void>;
  close?(): Promise<void>;
}
