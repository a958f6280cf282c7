// The demand table (idp_telemetry): requests for features outside the profile, per client.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';

export interface DemandEvent {
  realm: string;
  event: string;
  client_id: string | null;
  feature: string | null;
  error_class: string | null;
  result: string;
}

export interface DemandStore {
  record(e: DemandEvent): Promise<void>;
  report(opts?: { realm?: string; sinceSeconds?: number }): Promise<DemandRow[]>;
}

export function demandStore(db: Kysely<any>): DemandStore {
  return {
    record: async (e) => {
      await db.insertInto('idp_telemetry').values({ id: randomUUID(), at: Math.floor(Date.now() / 1000), ...e }).execute();
    },
    report: (opts) => telemetryReport(db, opts),
  };
}

export interface DemandRow {
  client_id: string;
  feature: string;
  error_class: string;
  count: number;
  last_seen: string;
}

/** Demand for features outside the profile, per client: the signal for moving to Keycloak. */
async function telemetryReport(db: Kysely<any>, opts: { realm?: string; sinceSeconds?: number } = {}): Promise<DemandRow[]> {
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
