// The audit configuration fragment; src/config/schema.ts composes it under `audit`.
import { z } from 'zod';

export const stdoutSinkSchema = z.object({ type: z.literal('stdout') }).strict();

export const fileSinkSchema = z
  .object({
    type: z.literal('file'),
    path: z.string().min(1),
    /** Rotate before a write would make the active file larger than this (0 = never by size). */
    max_bytes: z.number().int().nonnegative().default(100 * 1024 * 1024),
    /** Rotate once the active file's first event is older than this (0 = never by age). */
    max_age_seconds: z.number().int().nonnegative().default(86_400),
    /** Always true: an event is acknowledged only after fsync. Present so configs can say it explicitly. */
    fsync: z.literal(true).default(true),
  })
  .strict();

export const natsSinkSchema = z
  .object({
    type: z.literal('nats'),
    /** A server, or a cluster's servers separated by commas (the client also learns the others from the first it reaches). */
    url: z.string().min(1).default('nats://127.0.0.1:4222'),
    subject: z.string().min(1).default('keyward.audit'),
    /** Stream that captures `subject`; looked up by subject when absent. */
    stream: z.string().min(1).optional(),
    /** Create the stream (named `stream`, default KEYWARD_AUDIT) if it does not exist. */
    create_stream: z.boolean().default(false),
    ack_timeout_ms: z.number().int().positive().default(5000),
    /**
     * How long one write keeps re-publishing an event that was not acknowledged (the connection moved to another
     * server, the stream is electing a leader) before the trail refuses it. Re-sends reuse the event id, so
     * JetStream stores the event once. 0: one attempt.
     */
    publish_retry_ms: z.number().int().nonnegative().default(15_000),
    /** Replicas of the stream `create_stream` creates (3 on a three-node JetStream cluster); an existing stream keeps its own. */
    replicas: z.number().int().min(1).max(5).default(1),
  })
  .strict();

export const auditSinkSchema = z.discriminatedUnion('type', [stdoutSinkSchema, fileSinkSchema, natsSinkSchema]);

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
    const paths = cfg.sinks.flatMap((s) => (s.type === 'file' ? [s.path] : []));
    if (new Set(paths).size !== paths.length) {
      ctx.addIssue({ code: 'custom', path: ['sinks'], message: 'two file sinks share a path' });
    }
  });

export type AuditConfig = z.output<typeof auditConfigSchema>;
export type AuditSinkConfig = z.output<typeof auditSinkSchema>;
export type FileSinkConfig = z.output<typeof fileSinkSchema>;
export type NatsSinkConfig = z.output<typeof natsSinkSchema>;

/** Reasons this audit configuration is not fit for production mode (empty = fine). */
export function auditProductionProblems(cfg: AuditConfig): string[] {
  const problems: string[] = [];
  if (!cfg.enabled) problems.push('audit.enabled must be true in production');
  if (cfg.on_failure !== 'deny') problems.push("audit.on_failure 'continue' is not allowed in production (use 'deny')");
  if (cfg.enabled && !cfg.sinks.some((s) => s.type === 'file' || s.type === 'nats')) {
    problems.push('audit.sinks needs a durable sink (file or nats) in production: stdout alone is not durable');
  }
  if (cfg.checkpoint_interval === 0) problems.push('audit.checkpoint_interval must be > 0 in production');
  return problems;
}
