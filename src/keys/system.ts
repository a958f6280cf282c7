// System operations (init, unseal, seal, status, reload) with their audit records. Shares never reach the audit
// trail or the log: only progress does.
import type { AuditEventInput, AuditRecorder } from '../audit/types.ts';
import { auditUnavailable } from '../audit/errors.ts';
import { isProblem } from '../core/problem.ts';
import type { OperationContext } from '../authn/context.ts';
import type { InitResult, SealStatus } from './seal/index.ts';
import type { ProviderStatus } from './service.ts';

export interface SealPort {
  init(p: { shares: number; threshold: number }): Promise<InitResult>;
  submitShare(share: string): Promise<SealStatus>;
  checkShares(shares: readonly string[]): void;
  resetProgress(): SealStatus;
  seal(): SealStatus;
  status(): SealStatus;
  /** The status, with a seal initialised meanwhile by another instance sharing the store picked up. */
  currentStatus(): Promise<SealStatus>;
  readonly sealed: boolean;
  /** HSM seals: open the root key with the HSM key. */
  autoUnseal(): Promise<SealStatus>;
  readonly hsmSeal: boolean;
  /** How the root key is wrapped now (seal kind and HSM key reference). */
  wrapping(): { type: string; keyRef: string | null } | undefined;
}

export class SystemService {
  readonly #seal: SealPort;
  readonly #audit: AuditRecorder;
  readonly #reload: (() => Promise<string[]>) | undefined;
  readonly #providers: (() => Promise<ProviderStatus>) | undefined;

  constructor(deps: { seal: SealPort; audit: AuditRecorder; reload?: () => Promise<string[]>; providers?: () => Promise<ProviderStatus> }) {
    this.#seal = deps.seal;
    this.#audit = deps.audit;
    this.#reload = deps.reload;
    this.#providers = deps.providers;
  }

  /** Key providers: configured, default, and each one's health probed now (sys/status). */
  async providers(): Promise<ProviderStatus> {
    return this.#providers ? this.#providers() : { default: 'software', configured: ['software'], health: { software: { ok: true, detail: {} } } };
  }

  get sealed(): boolean {
    return this.#seal.sealed;
  }

  status(): SealStatus {
    return this.#seal.status();
  }

  /** sys/status: this instance's own seal state (each instance sharing a database is unsealed on its own). */
  currentStatus(): Promise<SealStatus> {
    return this.#seal.currentStatus();
  }

  async init(ctx: OperationContext, p: { shares: number; threshold: number }): Promise<InitResult> {
    // Refuse up front when the trail is down: once init has run, its shares exist only in this response, so a
    // failing audit write afterwards must not swallow them (see #run's `deliverAnyway`).
    if (!this.#audit.ready()) {
      throw auditUnavailable('the audit trail cannot record events');
    }
    return this.#run(ctx, 'system.init', 'sys:Init', () => this.#seal.init(p), () => ({ total: p.shares, threshold: p.threshold }), true);
  }

  /**
   * Shares unseal (with an HSM seal they are recovery shares, and unsealing with them re-wraps the root key for the
   * configured seal when it is wrapped otherwise: the seal migration). With an HSM seal and no shares, the HSM
   * opens the root key (after a `seal`, or when it was unreachable at start).
   */
  async unseal(ctx: OperationContext, req: { shares: string[]; reset: boolean }): Promise<SealStatus> {
    const before = this.#seal.wrapping();
    const status = await this.#run(ctx, 'system.unseal', 'sys:Unseal', async () => {
      if (req.shares.length === 0 && !req.reset && this.#seal.hsmSeal) return this.#seal.autoUnseal();
      let status = req.reset ? this.#seal.resetProgress() : this.#seal.status();
      this.#seal.checkShares(req.shares);
      for (const share of req.shares) status = await this.#seal.submitShare(share);
      return status;
    }, (s) => ({ progress: s.progress, threshold: s.threshold, sealed: s.sealed, submitted_count: req.shares.length, reset: req.reset, ...(req.shares.length === 0 && this.#seal.hsmSeal ? { hsm: true } : {}) }));
    const after = this.#seal.wrapping();
    if (before && after && (before.type !== after.type || before.keyRef !== after.keyRef)) {
      // The root key was re-wrapped for the configured seal: its own event, naming both ends (labels, no secrets).
      await this.#audit.record({
        ...this.#base(ctx, 'system.seal_migrated', 'sys:Unseal'),
        outcome: 'success',
        metadata: { from: before.type, to: after.type, ...(before.keyRef ? { from_key: before.keyRef } : {}), ...(after.keyRef ? { to_key: after.keyRef } : {}) },
      });
    }
    return status;
  }

  async seal(ctx: OperationContext): Promise<SealStatus> {
    return this.#run(ctx, 'system.seal', 'sys:Seal', async () => this.#seal.seal(), () => ({}));
  }

  async reload(ctx: OperationContext): Promise<{ reloaded: string[] }> {
    return this.#run(ctx, 'config.reload', 'sys:Reload', async () => ({ reloaded: this.#reload ? await this.#reload() : [] }), (r) => ({ reloaded: r.reloaded }));
  }

  #base(ctx: OperationContext, eventType: string, action: string): Omit<AuditEventInput, 'outcome'> {
    return {
      event_type: eventType,
      action,
      principal: ctx.principal ? { id: ctx.principal.id, type: ctx.principal.type, auth_method: ctx.principal.authMethod } : null,
      resource: { type: 'System', id: 'system' },
      request_id: ctx.requestId,
      source_ip: ctx.sourceIp,
      user_agent: ctx.userAgent,
    };
  }

  async #run<T>(
    ctx: OperationContext,
    eventType: string,
    action: string,
    fn: () => Promise<T>,
    meta: (r: T) => Record<string, unknown>,
    deliverAnyway = false,
  ): Promise<T> {
    const base = this.#base(ctx, eventType, action);
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
