// Keyward's identity-provider telemetry as a scraper sees it: the keyward_idp_events_total counter on /metrics.
// The suite reads it before and after a run; the difference is what the run's requests were counted as.
export interface EventCount {
  realm: string;
  event: string;
  result: string;
  error_class: string;
  feature: string;
  client_id: string;
  value: number;
}

const LINE = /^keyward_idp_events_total\{([^}]*)\}\s+([0-9.eE+-]+)$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

export function parseIdpEvents(text: string): EventCount[] {
  const out: EventCount[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line.trim());
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of m[1]!.matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({
      realm: labels['realm'] ?? '',
      event: labels['event'] ?? '',
      result: labels['result'] ?? '',
      error_class: labels['error_class'] ?? '',
      feature: labels['feature'] ?? '',
      client_id: labels['client_id'] ?? '',
      value: Number(m[2]),
    });
  }
  return out;
}

export async function scrapeIdpEvents(url: string): Promise<EventCount[] | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
  if (!res || res.status !== 200) return undefined;
  return parseIdpEvents(await res.text());
}

const key = (e: Omit<EventCount, 'value'>) => JSON.stringify([e.realm, e.event, e.result, e.error_class, e.feature, e.client_id]);

/** after − before, per label set, leaving out what did not change. */
export function eventDelta(before: EventCount[], after: EventCount[]): EventCount[] {
  const prev = new Map(before.map((e) => [key(e), e.value]));
  return after.map((e) => ({ ...e, value: e.value - (prev.get(key(e)) ?? 0) })).filter((e) => e.value > 0);
}
