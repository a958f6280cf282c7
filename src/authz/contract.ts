// The KeyRack-style PDP JSON contract, and the one place that decides what a PDP may see: identities,
// actions and resource metadata, by allow-list. Key material, plaintexts, digests and tokens never reach it,
// whatever a caller puts in the attribute bags.
import { z } from 'zod';
import type { AuthzRequest } from './types.ts';

export const PDP_API_VERSION = '1.0';

const PRINCIPAL_ATTRS = [
  'client_id', 'azp', 'issuer', 'groups', 'roles', 'tenant', 'email', 'department', 'service_name', 'trust_domain',
  'spiffe_id', 'subject_cn', 'mfa', 'key_id', 'proxy',
] as const;
const RESOURCE_ATTRS = ['type', 'key_type', 'state', 'labels', 'namespace', 'usage', 'algorithm', 'version', 'created_at'] as const;

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function isSafeScalar(v: unknown): v is string | number | boolean {
  return (typeof v === 'string' && v.length <= 1024) || typeof v === 'number' || typeof v === 'boolean';
}

/** Scalars, arrays of scalars, and (for labels) flat string maps. Everything else is dropped. */
function clean(v: unknown): Json | undefined {
  if (isSafeScalar(v)) return v;
  if (Array.isArray(v)) return v.filter(isSafeScalar).slice(0, 256);
  if (v && typeof v === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v).slice(0, 256)) if (typeof x === 'string' && x.length <= 1024) out[k] = x;
    return out;
  }
  return undefined;
}

function pick(src: Record<string, unknown>, keys: readonly string[]): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const k of keys) {
    if (!Object.hasOwn(src, k)) continue;
    const c = clean(src[k]);
    if (c !== undefined) out[k] = c;
  }
  return out;
}

export interface PdpRequestBody {
  pdp_api_version: string;
  request_id: string;
  action: string;
  principal: { id: string; type: string; attributes: Record<string, Json> };
  resource: { id: string; type: string; attributes: Record<string, Json> };
  context: Record<string, Json>;
}

export function toPdpRequest(req: AuthzRequest): PdpRequestBody {
  const c = req.context;
  const context: Record<string, Json> = {
    source_ip: c.source_ip,
    request_time: c.request_time,
    auth_method: c.auth_method,
    mfa_authenticated: c.mfa_authenticated ?? req.principal.attributes['mfa'] === true,
  };
  if (c.user_agent !== undefined) context['user_agent'] = c.user_agent.slice(0, 512);
  return {
    pdp_api_version: PDP_API_VERSION,
    request_id: req.requestId,
    action: req.action,
    principal: {
      id: req.principal.id,
      type: req.principal.type,
      attributes: { ...pick(req.principal.attributes, PRINCIPAL_ATTRS), auth_method: req.principal.authMethod },
    },
    resource: { id: req.resource.id, type: req.resource.type, attributes: pick(req.resource.attributes, RESOURCE_ATTRS) },
    context,
  };
}

const jsonValue: z.ZodType<Json> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);

export const pdpRequestSchema = z.object({
  pdp_api_version: z.literal(PDP_API_VERSION),
  request_id: z.string().min(1).max(256),
  action: z.string().min(1).max(128),
  principal: z.object({ id: z.string().min(1).max(1024), type: z.string().min(1).max(64), attributes: z.record(z.string(), jsonValue).default({}) }),
  resource: z.object({ id: z.string().min(1).max(1024), type: z.string().min(1).max(64), attributes: z.record(z.string(), jsonValue).default({}) }),
  context: z.record(z.string(), jsonValue).default({}),
});

export const pdpResponseSchema = z.object({
  request_id: z.string().optional(),
  decision: z.enum(['Permit', 'Forbid', 'Indeterminate']),
  reasons: z
    .array(z.object({ policy_id: z.string().optional(), reason_code: z.string().optional(), human_message: z.string().optional() }))
    .default([]),
  obligations: z.array(z.object({ obligation_id: z.string(), parameters: z.record(z.string(), jsonValue).optional() })).default([]),
  policy_version: z.string().optional(),
});
export type PdpResponseBody = z.infer<typeof pdpResponseSchema>;
