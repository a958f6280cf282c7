// The builtin PDP: the principal's permission strings against the request's permission.
import { z } from 'zod';
import type { PdpDescriptor } from './descriptor.ts';
import type { AuthzDecision, AuthzRequest, Pdp } from './types.ts';
import { evaluate } from './permissions.ts';

export const builtinPdpConfigSchema = z.object({ type: z.literal('builtin') }).strict();

export class BuiltinPdp implements Pdp {
  readonly name = 'builtin';

  async decide(req: AuthzRequest): Promise<AuthzDecision> {
    const e = evaluate(req.principal.permissions, req.permission);
    if (e.deniedBy !== undefined) return { allowed: false, reasons: [e.deniedBy] };
    return { allowed: e.allowed, reasons: e.matched };
  }
}

export const builtinPdpDescriptor: PdpDescriptor<z.infer<typeof builtinPdpConfigSchema>, z.input<typeof builtinPdpConfigSchema>> = {
  type: 'builtin',
  title: "each credential's own permission grants",
  configSchema: builtinPdpConfigSchema,
  create: async () => new BuiltinPdp(),
};
