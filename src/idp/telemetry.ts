// Telemetry (KeyCape §13): one JSON line and one Prometheus counter increment per event; events that show
// demand for unsupported features are also kept in the store so `keyward idp telemetry report` can
// summarise them per client. Never carries tokens, secrets or passwords.
import type { DemandStore } from './store/telemetry.ts';
import { Counter, Registry } from 'prom-client';
import type { AuditRecorder } from '../audit/types.ts';
import type { MfaRefusalEvent } from './mfa/authority.ts';
import type { ProfileErrorClass } from './profile.ts';

/** Every event type (KeyCape §13.2), one per line of the minimum list. */
export const IDP_EVENT_NAMES = [
  'flow_start', // successful authentication flow start
  'token_issued', // successful token issuance
  'authentication_failed', // unsuccessful authentication attempt
  'unsupported_request', // unsupported endpoint, grant, scope or claims usage
  'invalid_redirect_or_client', // invalid redirect or client usage
  'invalid_request', // a supported feature used wrongly
  'logout', // logout attempts
  'admin_unsupported', // admin/config-related unsupported requests
  'migration', // migration/export operations
  'break_glass', // emergency token issuance
] as const;
export type IdpEventName = (typeof IDP_EVENT_NAMES)[number];

/**
 * One event with the §13.3 fields (timestamp, environment and deployment mode are added by the emitter). Optional
 * fields are those that do not apply to every event: the client when the request named one, the error class when
 * the result is not a success, the scopes and grant type when the request is part of an OAuth flow.
 */
export interface IdpEvent {
  event: IdpEventName;
  realm: string;
  /** The client the request named (authenticated or not); `client_known` says whether the realm has it. */
  client_id?: string | undefined;
  client_known?: boolean | undefined;
  /** The path below the realm (e.g. /protocol/openid-connect/token), or the route for non-realm operations. */
  endpoint: string;
  feature_category: string;
  result: 'success' | 'failure' | 'rejected';
  /** A §9.2 profile error class, or the OAuth error / failure kind for failures outside the profile taxonomy. */
  error_class?: ProfileErrorClass | string | undefined;
  /** Space-separated, as requested ('' when the request asked for none). */
  requested_scopes?: string | undefined;
  grant_type?: string | undefined;
  correlation_id: string;
  source_ip?: string | undefined;
  principal?: string | undefined;
  /** Why an authentication failed (bad_credentials, locked, disabled, invalid_code): never which secret was wrong. */
  reason?: string | undefined;
  /** A refused or unanswered second-factor check of an MFA authority (privacyIDEA): for the audit record. */
  mfa?: MfaRefusalEvent['mfa'] | undefined;
}

export interface IdpLogger {
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(msg: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
}

/**
 * Events that matter for security reviews go to the audit chain as well. (Break-glass issuance is audited by its
 * route before the token exists, fail-closed; its telemetry event is not audited a second time.)
 */
const AUDITED: ReadonlySet<IdpEventName> = new Set(['token_issued', 'authentication_failed', 'logout', 'admin_unsupported', 'invalid_redirect_or_client', 'migration']);

/** Client ids come from requests: bounded before they reach logs, metrics or the store. */
// What a caller sends (client id, path, scope, grant type) reaches logs, metrics and the audit trail cut to a bound:
// an unauthenticated request must not write 64 KiB into every one of them.
const bounded = (v: string | undefined, max: number) => (v === undefined || v.length <= max ? v : `${v.slice(0, max)}…`);
const boundedClientId = (id: string | undefined) => (id === undefined ? undefined : id.slice(0, 128));
/** Events that express demand for something outside the profile; persisted for the report. */
const DEMAND: ReadonlySet<IdpEventName> = new Set(['unsupported_request', 'admin_unsupported', 'invalid_redirect_or_client', 'invalid_request']);

export interface TelemetryOptions {
  environment: string;
  deploymentMode: string;
  logger?: IdpLogger | undefined;
  registry?: Registry | undefined;
  audit?: AuditRecorder | undefined;
  /** Keeps demand for features outside the profile (`keyward idp telemetry report`). */
  demand?: Pick<DemandStore, 'record'> | undefined;
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
  async emit(input: IdpEvent): Promise<void> {
    const e = {
      ...input,
      client_id: boundedClientId(input.client_id),
      endpoint: bounded(input.endpoint, 256)!,
      ...(input.requested_scopes !== undefined ? { requested_scopes: bounded(input.requested_scopes, 1024) } : {}),
      ...(input.grant_type !== undefined ? { grant_type: bounded(input.grant_type, 128) } : {}),
    };
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
      feature: e.feature_category,
      // A label per name a caller makes up would grow the metrics without bound: unknown clients share one.
      client_id: e.client_id === undefined ? '' : e.client_known === false ? '(unknown)' : e.client_id,
    });
    if (this.#opts.demand && DEMAND.has(e.event)) {
      await this.#opts.demand
        .record({
          realm: e.realm,
          event: e.event,
          client_id: e.client_id ?? null,
          feature: e.feature_category ?? null,
          error_class: e.error_class ?? null,
          result: e.result,
        })
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
        metadata: { realm: e.realm, endpoint: e.endpoint, grant_type: e.grant_type, feature: e.feature_category, scopes: e.requested_scopes, ...(e.reason ? { reason: e.reason } : {}), ...(e.mfa ? { mfa: e.mfa } : {}) },
      });
    }
  }
}

/** A failed sign-in at the login or TOTP page: part of an authorization-code flow, attributed to its client. */
export function loginFailureEvent(f: {
  realm: string;
  params: Record<string, unknown>;
  endpoint: '/login' | '/login/totp' | '/login/recovery';
  feature: 'password' | 'totp' | 'recovery_code';
  reason: string;
  correlationId: string;
  ip: string;
}): IdpEvent {
  return {
    event: 'authentication_failed',
    realm: f.realm,
    client_id: typeof f.params['client_id'] === 'string' ? f.params['client_id'] : undefined,
    client_known: true,
    endpoint: f.endpoint,
    feature_category: f.feature,
    result: 'failure',
    error_class: 'authentication_failed',
    reason: f.reason,
    requested_scopes: typeof f.params['scope'] === 'string' ? f.params['scope'] : '',
    grant_type: 'authorization_code',
    correlation_id: f.correlationId,
    source_ip: f.ip,
  };
}

export type MigrationOperation = 'export' | 'import' | 'migrate';

/**
 * Telemetry of a migration or export operation (KeyCape §13.2, §14): what ran, on which realm, with what result.
 * For the migration commands to call; `endpoint` names the command or route that ran it (e.g. `keyward idp export`).
 */
export function emitMigration(
  telemetry: IdpTelemetry,
  m: { realm: string; operation: MigrationOperation; endpoint: string; result: 'success' | 'failure'; correlationId: string; errorClass?: string | undefined; principal?: string | undefined },
): Promise<void> {
  return telemetry.emit({
    event: 'migration',
    realm: m.realm,
    endpoint: m.endpoint,
    feature_category: m.operation,
    result: m.result,
    ...(m.result === 'failure' ? { error_class: m.errorClass ?? 'migration_failed' } : {}),
    correlation_id: m.correlationId,
    principal: m.principal,
  });
}

export type { DemandRow } from './store/telemetry.ts';
