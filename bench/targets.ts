// The performance targets (issue 16), each read from the figures of one bench run: a ratio or a bound, the target,
// and pass or fail. A section that did not run leaves its targets "not run" rather than failed.
import { existsSync, readFileSync } from 'node:fs';

export interface Target {
  id: string;
  what: string;
  value: string;
  target: string;
  /** undefined: not measured in this run (or a figure reported beside others, with no bound). */
  pass: boolean | undefined;
  note?: string;
}

interface Side { rps: number; cpuUsPerRequest: number; p99: number; late?: number }
type Results = Record<string, unknown>;

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const perRound = (a: Side[] | undefined, b: Side[] | undefined) => (a && b ? a.map((x, i) => pct(x.rps / b[i]!.rps)).join(', ') : '');

export function targets(results: Results, soakFile?: string): Target[] {
  const out: Target[] = [];
  const notRun = (id: string, what: string, target: string, section: string) => out.push({ id, what, value: `not run (BENCH_ONLY=${section})`, target, pass: undefined });

  const sign = results['sign'] as { served: Side; bare_fastify_reference: Side; served_rounds: Side[]; bare_fastify_rounds: Side[]; rss?: { peak_mb: number; after_rounds_mb: number[]; bare_route_peak_mb?: number; small_young_generation?: { semi_space_mb: number; peak_mb: number } } } | undefined;
  if (sign) {
    const r = sign.served.rps / sign.bare_fastify_reference.rps;
    out.push({ id: '1a', what: 'served ES256 sign / bare Fastify route (req/s)', value: pct(r), target: '≥ 75 %', pass: r >= 0.75, note: `rounds ${perRound(sign.served_rounds, sign.bare_fastify_rounds)}` });
    const c = sign.served.cpuUsPerRequest / sign.bare_fastify_reference.cpuUsPerRequest;
    out.push({ id: '1b', what: 'server CPU per sign request / bare route', value: `${c.toFixed(2)}× (${sign.served.cpuUsPerRequest.toFixed(0)} vs ${sign.bare_fastify_reference.cpuUsPerRequest.toFixed(0)} µs)`, target: '≤ 1.35×', pass: c <= 1.35 });
    if (sign.rss) out.push({ id: '4a', what: 'server RSS under the sign load (peak)', value: `${sign.rss.peak_mb.toFixed(0)} MB`, target: '≤ 150 MB', pass: sign.rss.peak_mb <= 150, note: `after each round: ${sign.rss.after_rounds_mb.map((m) => m.toFixed(0)).join(', ')} MB${sign.rss.bare_route_peak_mb ? `; bare route's peak ${sign.rss.bare_route_peak_mb.toFixed(0)} MB` : ''}${sign.rss.small_young_generation ? `; with --max-semi-space-size=${sign.rss.small_young_generation.semi_space_mb}: ${sign.rss.small_young_generation.peak_mb.toFixed(0)} MB` : ''}` });
  } else {
    notRun('1a', 'served ES256 sign / bare Fastify route (req/s)', '≥ 75 %', 'sign');
    notRun('1b', 'server CPU per sign request / bare route', '≤ 1.35×', 'sign');
    notRun('4a', 'server RSS under the sign load (peak)', '≤ 150 MB', 'sign');
  }

  const audit = results['audit'] as { file: Side; baseline_audit_off_jwt: Side; file_fixed_1000: Side; file_rounds: Side[]; audit_off_rounds: Side[] } | undefined;
  if (audit) {
    const r = audit.file.rps / audit.baseline_audit_off_jwt.rps;
    out.push({ id: '2a', what: 'audited (file sink) / audit off (req/s)', value: pct(r), target: '≥ 75 %', pass: r >= 0.75, note: `rounds ${perRound(audit.file_rounds, audit.audit_off_rounds)}` });
    const d = audit.file.cpuUsPerRequest - audit.baseline_audit_off_jwt.cpuUsPerRequest;
    out.push({ id: '2b', what: 'server CPU per audited request above audit off', value: `${d.toFixed(0)} µs (${audit.file.cpuUsPerRequest.toFixed(0)} vs ${audit.baseline_audit_off_jwt.cpuUsPerRequest.toFixed(0)})`, target: '≤ 50 µs', pass: d <= 50 });
    const f = audit.file_fixed_1000;
    out.push({ id: '2c', what: 'audited p99 at a fixed 1,000 req/s', value: `${f.p99.toFixed(2)} ms`, target: '≤ 5 ms', pass: f.p99 <= 5, ...(f.late ? { note: `${f.late} sends late: p99 understates queueing` } : {}) });
  } else {
    notRun('2a', 'audited (file sink) / audit off (req/s)', '≥ 75 %', 'audit');
    notRun('2b', 'server CPU per audited request above audit off', '≤ 50 µs', 'audit');
    notRun('2c', 'audited p99 at a fixed 1,000 req/s', '≤ 5 ms', 'audit');
  }

  const idp = results['idp'] as { keyward: Side; bare: Side; keyward_rounds: Side[]; bare_rounds: Side[] } | undefined;
  if (idp) {
    const r = idp.keyward.rps / idp.bare.rps;
    out.push({ id: '3', what: 'client-credentials tokens, Keyward IdP / bare oidc-provider', value: pct(r), target: '≥ 85 %', pass: r >= 0.85, note: `rounds ${perRound(idp.keyward_rounds, idp.bare_rounds)}` });
  } else notRun('3', 'client-credentials tokens, Keyward IdP / bare oidc-provider', '≥ 85 %', 'idp');

  // RSS flat over the soak: `npm run soak` writes its own results; shown here with the date of that run.
  const soak = soakFile && existsSync(soakFile) ? (JSON.parse(readFileSync(soakFile, 'utf8')) as { at: string; checks: Array<{ what: string; ok: boolean; value: string }> }) : undefined;
  const rssCheck = soak?.checks.find((c) => c.what.startsWith('RSS'));
  if (rssCheck) out.push({ id: '4b', what: 'RSS flat over the soak (end within 10 % of minute 1)', value: rssCheck.value, target: 'flat', pass: rssCheck.ok, note: `npm run soak of ${soak!.at}` });
  else out.push({ id: '4b', what: 'RSS flat over the soak (end within 10 % of minute 1)', value: 'not run (npm run soak)', target: 'flat', pass: undefined });

  // gRPC's section records ratio = gRPC sign rate / REST sign rate, one server, alternating rounds.
  const grpc = results['grpc'] as { ratio?: number; grpc_rounds?: Side[]; rest_rounds?: Side[] } | undefined;
  if (grpc?.ratio !== undefined) out.push({ id: '5a', what: 'gRPC sign rate / REST sign rate', value: pct(grpc.ratio), target: '≥ 100 %', pass: grpc.ratio >= 1, note: `rounds ${perRound(grpc.grpc_rounds, grpc.rest_rounds)}` });
  else notRun('5a', 'gRPC sign rate / REST sign rate', '≥ 100 %', 'grpc');

  const hsm = results['hsm'] as { ratio?: number; software?: Side; softhsm?: Side; skipped?: string } | undefined;
  if (hsm?.ratio !== undefined) out.push({ id: '5b', what: 'SoftHSM2 sign rate beside software sign', value: `${pct(hsm.ratio)} (${hsm.softhsm!.rps.toFixed(0)} vs ${hsm.software!.rps.toFixed(0)} req/s)`, target: 'reported', pass: undefined });
  else notRun('5b', 'SoftHSM2 sign rate beside software sign', 'reported', hsm?.skipped ? `hsm: ${hsm.skipped}` : 'hsm');
  return out;
}

const mark = (t: Target) => (t.pass === undefined ? '—' : t.pass ? 'PASS' : 'FAIL');

/** Aligned text, or with `markdown` a table to paste into the README. */
export function targetTable(ts: Target[], markdown = false): string {
  if (markdown) {
    return ['| # | measurement | result | target | |', '|---|---|---|---|---|', ...ts.map((t) => `| ${t.id} | ${t.what} | ${t.value}${t.note ? ` (${t.note})` : ''} | ${t.target} | ${mark(t)} |`)].join('\n');
  }
  return ts.map((t) => `${t.id.padEnd(3)} ${t.what.padEnd(58)} ${t.value.padEnd(26)} ${t.target.padEnd(9)} ${mark(t)}${t.note ? `  (${t.note})` : ''}`).join('\n');
}
