// The audit configuration fragment; src/config/schema.ts composes it under `audit`.
import { z } from 'zod';
import { auditSinkSchema, SINKS, sinkDescriptor } from './sinks/index.ts';

export { fileSinkSchema, type FileSinkConfig } from './sinks/file.ts';
export { natsSinkSchema, type NatsSinkConfig } from './sinks/nats.ts';
export { stdoutSinkSchema } from './sinks/stdout.ts';
export { auditSinkSchema, type AuditSinkConfig } from './sinks/index.ts';

export const auditConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** PKCS#8 PEM Ed25519 private key created by `keyward audit keygen`. No default: a default secret is no secret. */
    signing_key_path: z.string().min(1).optional(),
    on_failure: z.enum(['deny', 'continue']).default('deny'),
    /** Seconds between signed checkpoints (0 disables the timer; checkpoints still happen on close). */
    checkpoint_interval: z.number().int().nonnegative().default(60),
    /**
     * A checkpoint whose sidecar cannot be written makes the instance unready at once; after this many in a row,
     * operations are refused (503 audit.unavailable) until one is written.
     */
    max_missed_checkpoints: z.number().int().min(1).default(3),
    sinks: z.array(auditSinkSchema).default([{ type: 'stdout' }]),
    /** Hash and sign batches on a worker thread (true), or on the request thread (false). */
    seal_in_worker: z.boolean().default(true),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.enabled && !cfg.signing_key_path) {
      ctx.addIssue({ code: 'custom', path: ['signing_key_path'], message: 'required when audit is enabled' });
    }
    if (cfg.enabled && cfg.sinks.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['sinks'], message: 'at least one sink is required when audit is enabled' });
    }
    const claims = cfg.sinks.flatMap((s) => sinkDescriptor(s.type).claim?.(s) ?? []);
    if (new Set(claims).size !== claims.length) {
      ctx.addIssue({ code: 'custom', path: ['sinks'], message: 'two sinks write to the same place (two file sinks share a path)' });
    }
  });

export type AuditConfig = z.output<typeof auditConfigSchema>;

/** Reasons this audit configuration is not fit for production mode (empty = fine). */
export function auditProductionProblems(cfg: AuditConfig): string[] {
  const problems: string[] = [];
  if (!cfg.enabled) problems.push('audit.enabled must be true in production');
  if (cfg.on_failure !== 'deny') problems.push("audit.on_failure 'continue' is not allowed in production (use 'deny')");
  if (cfg.enabled && !cfg.sinks.some((s) => sinkDescriptor(s.type).durable)) {
    const durable = SINKS.filter((d) => d.durable).map((d) => d.type);
    const configured = [...new Set(cfg.sinks.map((s) => s.type))];
    problems.push(`audit.sinks needs a durable sink (${durable.join(' or ')}) in production: ${configured.join(' and ')} alone is not durable`);
  }
  cfg.sinks.forEach((s, i) => problems.push(...(sinkDescriptor(s.type).production?.(s, `audit.sinks.${i}`) ?? [])));
  if (cfg.checkpoint_interval === 0) problems.push('audit.checkpoint_interval must be > 0 in production');
  return problems;
}
