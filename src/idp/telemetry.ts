// Telemetry (KeyCape §13): one JSON line and one Prometheus counter increment per event; events that show
// demand for unsupported features are also kept in the store so `keyward idp telemetry report` can
// summarise them per client. Never carries tokens, secrets or passwords.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { Counter, Registry } from 'prom-client';
import type { AuditRecorder } from '../audit/types.ts';
import type { ProfileErrorClass } from './profile.ts';

export type IdpEventName =
  | 'flow_start'
  | 'token_issued'
  | 'authentication_failed'
  | 'unsupported_request'
  | 'invalid_redirect_or_client'
  | 'invalid_request'
  | 'logout'
  | 'admin_unsupported'
  | 'export'
  | 'break_glass';

export interface IdpEvent {
  event: IdpEventName;
  realm: string;
  client_id?: string | undefined;
  endpoint?: string | undefined;
  feature_category?: string | undefined;
  result: 'success' | 'failure' | 'rejected';
  error_class?: ProfileErrorClass | string | undefined;
  requested_scopes?: string | undefined;
  grant_type?: string | undefined;
  correlation_id?: string | undefined;
  source_ip?: string | undefined;
  principal?: string | undefined;
}

export interface IdpLogger {
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(msg: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
}

/** Events that matter for security reviews go to the audit chain as well. */
const AUDITED: ReadonlySet<IdpEventName> = new Set(['token_issued', 'authentication_failed', 'logout', 'admin_unsupported', 'break_glass', 'invalid_redirect_or_client']);
/** Events that express demand for something outside the profile; persisted for the report. */
const DEMAND: ReadonlySet<IdpEventName> = new Set(['unsupported_request', 'admin_unsupported', 'invalid_redirect_or_client', 'invalid_request']);

export interface TelemetryOptions {
  environment: string;
  deploymentMode: string;
  logger?: IdpLogger | undefined;
  registry?: Registry | undefined;
  audit?: AuditRecorder | undefined;
  db?: Kysely<any> | undefined;
}

export class IdpTelemetry {
  readonly registry: Registry;
  readonly #opts: TelemetryOptions;
  readonly #events: Counter<string>;

  constructor(opts: TelemetryOptions) {
    this.#opts = opts;
    this.registry = opts.registry ?? new Registry();
    const existing = this.registry.getSingleMetric('keyward_idp_events_total') as Counter<string> | undefined;
    this.#events =
      existing ??
      new Counter({
        name: 'keyward_idp_events_total',
        help: 'Identity provider events by type, result, error class and feature',
        labelNames: ['realm', 'event', 'result', 'error_class', 'feature', 'client_id'],
        registers: [this.registry],
      });
  }

  /** Never throws: telemetry must not break a login; audit failures are the exception (fail closed). */
  async emit(e: IdpEvent): Promise<void> {
    const line = {
      timestamp: new Date().toISOString(),
      environment: this.#opts.environment,
      deployment_mode: this.#opts.deploymentMode,
      component: 'idp',
      ...e,
    };
    this.#opts.logger?.info(line, 'idp telemetry');
    this.#events.inc({
      realm: e.realm,
      event: e.event,
      result: e.result,
      error_class: e.error_class ?? '',
      feature: e.feature_category ?? '',
      client_id: e.client_id ?? '',
    });
    if (this.#opts.db && DEMAND.has(e.event)) {
      await this.#opts.db
        .insertInto('idp_telemetry')
        .values({
          id: randomUUID(),
          at: Math.floor(Date.now() / 1000),
          realm: e.realm,
          event: e.event,
          client_id: e.client_id ?? null,
          feature: e.feature_category ?? null,
          error_class: e.error_class ?? null,
          result: e.result,
        })
        .execute()
        .catch(() => {});
    }
    if (this.#opts.audit && AUDITED.has(e.event)) {
      await this.#opts.audit.record({
        event_type: `idp.${e.event}`,
        action: `idp:${e.event}`,
        principal: e.principal ? { id: e.principal, type: 'idp_principal', auth_method: 'oidc' } : null,
        resource: e.client_id ? { type: 'idp_client', id: e.client_id } : null,
        outcome: e.result === 'success' ? 'success' : 'denied',
        error_code: e.error_class ? `idp.${e.error_class}` : undefined,
        request_id: e.correlation_id,
        source_ip: e.source_ip,
        metadata: { realm: e.realm, endpoint: e.endpoint, grant_type: e.grant_type, feature: e.feature_category, scopes: e.requested_scopes },
      });
    }
  }
}

export interface DemandRow {
  client_id: string;
  feature: string;
  error_class: string;
  count: number;
  last_seen: string;
}

/** Demand for features outside the profile, per client: the signal for moving to Keycloak. */
export async function telemetryReport(db: Kysely<any>, opts: { realm?: string; sinceSeconds?: number } = {}): Promise<DemandRow[]> {
  let q = db
    .selectFrom('idp_telemetry')
    .select((eb) => [
      'client_id',
      'feature',
      'error_class',
      eb.fn.countAll<number | string>().as('count'),
      eb.fn.max<number | string>('at').as('last_seen'),
    ])
    .where('error_class', 'is not', null)
    .groupBy(['client_id', 'feature', 'error_class']);
  if (opts.realm) q = q.where('realm', '=', opts.realm);
  if (opts.sinceSeconds) q = q.where('at', '>=', Math.floor(Date.now() / 1000) - opts.sinceSeconds);
  const rows: any[] = await q.execute();
  return rows
    .map((r) => ({
      client_id: r.client_id ?? '(unknown)',
      feature: r.feature ?? '',
      error_class: r.error_class,
      count: Number(r.count),
      last_seen: new Date(Number(r.last_seen) * 1000).toISOString(),
    }))
    .sort((a, b) => b.count - a.count || a.client_id.localeCompare(b.client_id));
}
