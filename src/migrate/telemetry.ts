// Telemetry of migration and export operations (KeyCape specification §13.2 "migration/export operations";
// issue 17 item 5).
//
// Migration code does not construct an emitter; it takes a MigrationTelemetry callback and calls it once per
// operation with an event of the identity provider's own shape (IdpEvent, event "migration"). The CLI writes the
// event as one JSON line to stderr (stderrTelemetry). Events never carry secrets, hashes, seeds or user data: the
// realm, the operation, the target and the outcome.
import { randomUUID } from 'node:crypto';
import type { IdpEvent } from '../idp/telemetry.ts';

export type MigrationTelemetry = (event: IdpEvent) => void | Promise<void>;

export interface MigrationOutcome {
  realm: string;
  operation: 'export' | 'report';
  target: 'keycloak' | 'ldif';
  /** success; rejected: the input failed validation and nothing was written; failure: an error stopped it. */
  result: IdpEvent['result'];
  /** A stable dotted code for rejected and failed operations. */
  errorClass?: string | undefined;
  correlationId?: string | undefined;
}

export function migrationEvent(o: MigrationOutcome): IdpEvent {
  return {
    event: 'migration',
    realm: o.realm,
    endpoint: `keyward migrate ${o.operation}`,
    feature_category: `migration.${o.target}`,
    result: o.result,
    ...(o.errorClass ? { error_class: o.errorClass } : {}),
    correlation_id: o.correlationId ?? randomUUID(),
  };
}

/** Emits without letting a telemetry failure change the operation's outcome; the failure is reported through `warn`. */
export async function emitMigrationEvent(telemetry: MigrationTelemetry | undefined, o: MigrationOutcome, warn: (line: string) => void): Promise<void> {
  if (!telemetry) return;
  try {
    await telemetry(migrationEvent(o));
  } catch (e) {
    warn(`warning: telemetry event not emitted: ${(e as Error).message}`);
  }
}

/** The CLI's emitter until the identity provider's is wired in: one JSON line per event. */
export function stderrTelemetry(write: (line: string) => void, environment: string, deploymentMode = 'lightweight'): MigrationTelemetry {
  return (e) => write(JSON.stringify({ telemetry: { timestamp: new Date().toISOString(), environment, deployment_mode: deploymentMode, component: 'idp', ...e } }));
}
