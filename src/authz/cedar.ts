// The Cedar PDP: the embedded engine fed the same allow-listed view an external PDP would get.
import type { Logger } from 'pino';
import { z } from 'zod';
import { unreadable } from '../core/preflight.ts';
import type { PdpDescriptor } from './descriptor.ts';
import type { AuthzDecision, AuthzRequest, Pdp } from './types.ts';
import type { CedarEngine } from './cedar-engine.ts';
import { toPdpRequest } from './contract.ts';
import { pdpUnavailable } from './errors.ts';

const CACHE_MAX = 10_000;

export const cedarPdpConfigSchema = z
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
  .strict();
export type CedarPdpConfig = z.infer<typeof cedarPdpConfigSchema>;

export class CedarPdp implements Pdp {
  readonly name = 'cedar';
  readonly engine: CedarEngine;
  readonly #logger: Logger | undefined;
  readonly #cacheMs: number;
  readonly #cache = new Map<string, { at: number; decision: AuthzDecision }>();

  constructor(engine: CedarEngine, logger?: Logger, decisionCacheSeconds = 0) {
    this.engine = engine;
    this.#logger = logger;
    this.#cacheMs = decisionCacheSeconds * 1000;
  }

  static async create(opts: { policiesPath: string; schemaPath?: string | undefined; watch?: boolean; logger?: Logger; decisionCacheSeconds?: number }): Promise<CedarPdp> {
    // The engine (cedar-wasm, a large WebAssembly module) is loaded only when a Cedar PDP is configured.
    const { CedarEngine } = await import('./cedar-engine.ts');
    return new CedarPdp(await CedarEngine.load(opts), opts.logger, opts.decisionCacheSeconds);
  }

  async decide(req: AuthzRequest): Promise<AuthzDecision> {
    const view = toPdpRequest(req);
    if (this.#cacheMs === 0 || this.engine.timeDependent) return this.#evaluate(view, req.requestId);
    // Everything the policies can see except the request's id and time; the policy version keys reloads.
    const { request_id: _id, context, ...rest } = view;
    const { request_time: _time, ...ctx } = context;
    const key = JSON.stringify([this.engine.policyVersion, rest, ctx]);
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit && now - hit.at < this.#cacheMs) return hit.decision;
    const decision = this.#evaluate(view, req.requestId);
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    this.#cache.set(key, { at: now, decision });
    return decision;
  }

  #evaluate(view: ReturnType<typeof toPdpRequest>, requestId: string): AuthzDecision {
    let r;
    try {
      r = this.engine.evaluate(view);
    } catch (err) {
      this.#logger?.error({ err: (err as Error).message, request_id: requestId }, 'cedar evaluation failed');
      throw pdpUnavailable('the policy engine could not evaluate the request');
    }
    if (r.errors.length > 0) this.#logger?.warn({ errors: r.errors, request_id: requestId }, 'cedar policy errors (skipped policies)');
    return { allowed: r.allowed, reasons: r.policyIds, policyVersion: r.policyVersion };
  }

  reload(): Promise<void> {
    return this.engine.reload();
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}

export const cedarPdpDescriptor: PdpDescriptor<CedarPdpConfig, z.input<typeof cedarPdpConfigSchema>> = {
  type: 'cedar',
  title: 'embedded Cedar policies',
  configSchema: cedarPdpConfigSchema,
  async create(cfg, deps) {
    try {
      return await CedarPdp.create({ policiesPath: cfg.policies_path, schemaPath: cfg.schema_path, watch: cfg.watch, logger: deps.logger, decisionCacheSeconds: cfg.decision_cache_seconds });
    } catch (err) {
      throw new Error(`authz.pdp (cedar): ${(err as Error).message}`);
    }
  },
  preflight: (cfg) => [...unreadable(cfg.policies_path, 'authz.pdp.policies_path'), ...unreadable(cfg.schema_path, 'authz.pdp.schema_path')],
};
