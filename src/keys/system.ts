// System operations (init, unseal, seal, status, reload) with their audit records. Shares never reach the audit
// trail or the log: only progress does.
import type { AuditEventInput, AuditRecorder } from '../audit/types.ts';
import { ProblemError, isProblem } from '../core/problem.ts';
import type { OperationContext } from '../authn/context.ts';
import type { InitResult, SealStatus } from './seal/index.ts';

export interface SealPort {
  init(p: { shares: number; threshold: number }): Promise<InitResult>;
  submitShare(share: string): Promise<SealStatus>;
  resetProgress(): SealStatus;
  seal(): SealStatus;
  status(): SealStatus;
  readonly sealed: boolean;
}

export class SystemService {
  readonly #seal: SealPort;
  readonly #audit: AuditRecorder;
  readonly #reload: (() => Promise<string[]>) | undefined;

  constructor(deps: { seal: SealPort; audit: AuditRecorder; reload?: () => Promise<string[]> }) {
    this.#seal = deps.seal;
    this.#audit = deps.audit;
    this.#reload = deps.reload;
  }

  get sealed(): boolean {
    return this.#seal.sealed;
  }

  status(): SealStatus {
    return this.#seal.status();
  }

  async init(ctx: OperationContext, p: { shares: number; threshold: number }): Promise<InitResult> {
    // Refuse up front when the trail is down: once init has run, its shares exist only in this response, so a
    // failing audit write afterwards must not swallow them (see #run's `deliverAnyway`).
    if (!this.#audit.ready()) {
      throw new ProblemError({ status: 503, code: 'audit.unavailable', title: 'Service unavailable', detail: 'the audit trail cannot record events' });
    }
    return this.#run(ctx, 'system.init', 'sys:Init', () => this.#seal.init(p), () => ({ total: p.shares, threshold: p.threshold }), true);
  }

  async unseal(ctx: OperationContext, req: { shares: string[]; reset: boolean }): Promise<SealStatus> {
    return this.#run(ctx, 'system.unseal', 'sys:Unseal', async () => {
      let status = req.reset ? this.#seal.resetProgress() : this.#seal.status();
      for (const share of req.shares) status = await this.#seal.submitShare(share);
      return status;
    }, (s) => ({ progress: s.progress, threshold: s.threshold, sealed: s.sealed, submitted_count: req.shares.length, reset: req.reset }));
  }

  async seal(ctx: OperationContext): Promise<SealStatus> {
    return this.#run(ctx, 'system.seal', 'sys:Seal', async () => this.#seal.seal(), () => ({}));
  }

  async reload(ctx: OperationContext): Promise<{ reloaded: string[] }> {
    return this.#run(ctx, 'config.reload', 'sys:Reload', async () => ({ reloaded: this.#reload ? await this.#reload() : [] }), (r) => ({ reloaded: r.reloaded }));
  }

  async #run<T>(
    ctx: OperationContext,
    eventType: string,
    action: string,
    fn: () => Promise<T>,
    meta: (r: T) => Record<string, unknown>,
    deliverAnyway = false,
  ): Promise<T> {
    const base: Omit<AuditEventInput, 'outcome'> = {
      event_type: eventType,
      action,
      principal: ctx.principal ? { id: ctx.principal.id, type: ctx.principal.type, auth_method: ctx.principal.authMethod } : null,
      resource: { type: 'System', id: 'system' },
      request_id: ctx.requestId,
      source_ip: ctx.sourceIp,
      user_agent: ctx.userAgent,
    };
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      await this.#audit.record({ ...base, outcome: 'error', error_code: isProblem(e) ? e.code : 'internal.error', metadata: { progress: this.#seal.status().progress } });
      throw e;
    }
    // For seal, the effect has happened (material dropped) even if the audit write fails: sealing is always safe.
    try {
      await this.#audit.record({ ...base, outcome: 'success', metadata: meta(result) });
    } catch (e) {
      if (!deliverAnyway) throw e;
    }
    return result;
  }
}
