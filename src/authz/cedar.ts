// The Cedar PDP: the embedded engine fed the same allow-listed view an external PDP would get.
import type { Logger } from 'pino';
import type { AuthzDecision, AuthzRequest, Pdp } from './types.ts';
import { CedarEngine } from './cedar-engine.ts';
import { toPdpRequest } from './contract.ts';
import { pdpUnavailable } from './errors.ts';

const CACHE_MAX = 10_000;

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
