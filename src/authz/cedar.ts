// The Cedar PDP: the embedded engine fed the same allow-listed view an external PDP would get.
import type { Logger } from 'pino';
import type { AuthzDecision, AuthzRequest, Pdp } from './types.ts';
import { CedarEngine } from './cedar-engine.ts';
import { toPdpRequest } from './contract.ts';
import { pdpUnavailable } from './errors.ts';

export class CedarPdp implements Pdp {
  readonly name = 'cedar';
  readonly engine: CedarEngine;
  readonly #logger: Logger | undefined;

  constructor(engine: CedarEngine, logger?: Logger) {
    this.engine = engine;
    this.#logger = logger;
  }

  static async create(opts: { policiesPath: string; schemaPath?: string | undefined; watch?: boolean; logger?: Logger }): Promise<CedarPdp> {
    return new CedarPdp(await CedarEngine.load(opts), opts.logger);
  }

  async decide(req: AuthzRequest): Promise<AuthzDecision> {
    let r;
    try {
      r = this.engine.evaluate(toPdpRequest(req));
    } catch (err) {
      this.#logger?.error({ err: (err as Error).message, request_id: req.requestId }, 'cedar evaluation failed');
      throw pdpUnavailable('the policy engine could not evaluate the request');
    }
    if (r.errors.length > 0) this.#logger?.warn({ errors: r.errors, request_id: req.requestId }, 'cedar policy errors (skipped policies)');
    return { allowed: r.allowed, reasons: r.policyIds, policyVersion: r.policyVersion };
  }

  reload(): Promise<void> {
    return this.engine.reload();
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
