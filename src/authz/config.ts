// Configuration fragment for authorization: the permission prefix and the policy decision point, composed from the
// PDP registry (one line per kind, each a descriptor in its own file).
import { z } from 'zod';
import type { ConfigProblem, PreflightContext } from '../core/preflight.ts';
import { unionOfSchemas, type ConfigOf, type InputOf } from '../core/registry.ts';
import { builtinPdpDescriptor } from './builtin.ts';
import { cedarPdpDescriptor } from './cedar.ts';
import type { AnyPdpDescriptor, PdpDescriptor } from './descriptor.ts';
import { httpPdpDescriptor } from './http.ts';
import { PREFIX_RE } from './permissions.ts';

export type { PdpDeps, PdpDescriptor } from './descriptor.ts';

/** The PDP types, as written in `authz.pdp.type`; each has its line in REGISTRY. */
export const PDP_TYPES = ['builtin', 'cedar', 'http'] as const;
export type PdpType = (typeof PDP_TYPES)[number];

/** The PDP registry. A type without its line, or a line naming another type's descriptor, does not compile. */
const REGISTRY = {
  builtin: builtinPdpDescriptor,
  cedar: cedarPdpDescriptor,
  http: httpPdpDescriptor,
} as const satisfies { [K in PdpType]: PdpDescriptor<any, any> & { type: K } };

export const PDPS: readonly AnyPdpDescriptor[] = Object.values(REGISTRY);

export type PdpConfig = ConfigOf<typeof REGISTRY>;

export function pdpDescriptor(type: PdpType): AnyPdpDescriptor {
  return REGISTRY[type];
}

export const pdpConfigSchema = unionOfSchemas<PdpConfig, InputOf<typeof REGISTRY>>(PDPS);

export const authzConfigSchema = z
  .object({
    permission_prefix: z.string().regex(PREFIX_RE).default('keyward'),
    pdp: pdpConfigSchema.default({ type: 'builtin' }),
  })
  .strict();

export type AuthzConfig = z.infer<typeof authzConfigSchema>;
export type AuthzConfigInput = z.input<typeof authzConfigSchema>;

/** The configured PDP's start-up checks that need no network (policy and TLS files readable). */
export function pdpPreflight(cfg: AuthzConfig, ctx: PreflightContext): ConfigProblem[] {
  return pdpDescriptor(cfg.pdp.type).preflight?.(cfg.pdp, ctx) ?? [];
}

export function authzProductionProblems(cfg: AuthzConfig): string[] {
  return pdpDescriptor(cfg.pdp.type).production?.(cfg.pdp) ?? [];
}
