// The builtin PDP: the principal's permission strings against the request's permission.
import type { AuthzDecision, AuthzRequest, Pdp } from './types.ts';
import { evaluate } from './permissions.ts';

export class BuiltinPdp implements Pdp {
  readonly name = 'builtin';

  async decide(req: AuthzRequest): Promise<AuthzDecision> {
    const e = evaluate(req.principal.permissions, req.permission);
    if (e.deniedBy !== undefined) return { allowed: false, reasons: [e.deniedBy] };
    return { allowed: e.allowed, reasons: e.matched };
  }
}
