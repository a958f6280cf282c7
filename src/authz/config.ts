// Configuration fragment for authorization: the permission prefix and the policy decision point.
import { z } from 'zod';
import { PREFIX_RE } from './permissions.ts';

export const pdpConfigSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('builtin') }).strict(),
  z
    .object({
      type: z.literal('cedar'),
      /** A directory of *.cedar files, or one .cedar file. */
      policies_path: z.string().min(1),
      /** Cedar schema (.cedarschema text or .json); when set, policies are validated against it at load. */
      schema_path: z.string().min(1).optional(),
      /** Reload policies and schema when the files change. */
      watch: z.boolean().default(true),
      /**
       * Seconds a decision is reused for an identical request (same principal and attributes, action, resource
       * and its state/labels, source address and user agent, policy version). Applies only while no policy
       * mentions request_time (then a decision cannot depend on anything else); 0 disables it.
       */
      decision_cache_seconds: z.number().min(0).max(60).default(2),
    })
    .strict(),
  z
    .object({
      type: z.literal('http'),
      endpoint: z.url({ protocol: /^https?$/ }),
      timeout_ms: z.number().int().min(1).max(60_000).default(5000),
      ca_file: z.string().min(1).optional(),
      cert_file: z.string().min(1).optional(),
      key_file: z.string().min(1).optional(),
    })
    .strict()
    .refine((c) => (c.cert_file === undefined) === (c.key_file === undefined), {
      message: 'cert_file and key_file go together',
      path: ['cert_file'],
    }),
]);

export const authzConfigSchema = z
  .object({
    permission_prefix: z.string().regex(PREFIX_RE).default('keyward'),
    pdp: pdpConfigSchema.default({ type: 'builtin' }),
  })
  .strict();

export type AuthzConfig = z.infer<typeof authzConfigSchema>;
export type AuthzConfigInput = z.input<typeof authzConfigSchema>;
export type PdpConfig = z.infer<typeof pdpConfigSchema>;

export function authzProductionProblems(cfg: AuthzConfig): string[] {
  const problems: string[] = [];
  if (cfg.pdp.type === 'http' && cfg.pdp.endpoint.startsWith('http:') && !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(cfg.pdp.endpoint)) {
    problems.push('authz.pdp.endpoint: use https for a remote PDP');
  }
  return problems;
}
