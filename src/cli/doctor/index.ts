// `keyward doctor --production`: the configuration and the running deployment it names, against the production
// checklist. The configuration rules are the ones `serve` and `config check` apply (productionProblems, the
// start-up checks); each problem is shown on the line of the checklist item it is about.
import { productionProblems } from '../../config/production.ts';
import { startupProblems, toProblem, type ConfigProblem } from '../commands/config.ts';
import { auditKeyCheck, auditSinkCheck } from './audit.ts';
import { authnCheck } from './authn.ts';
import { pdpCheck } from './authz.ts';
import { cacheTtlCheck, hsmCheck } from './keys.ts';
import { healthCheck, metricsCheck, tlsCheck } from './listeners.ts';
import { probe, type ProbeResponse } from './probe.ts';
import { storageCheck } from './storage.ts';
import { CHECKS, combine, type CheckFamily, type CheckId, type CheckResult, type DoctorContext, type DoctorInput, type Finding, type RoutedRules, ruleFindings } from './types.ts';

export type { CheckResult, DoctorInput, Status } from './types.ts';
export { CHECKS } from './types.ts';

/** Which checklist item a configuration path is about (the first match wins). */
const ROUTES: Array<[prefix: string, id: CheckId]> = [
  ['server.tls', 'tls'],
  ['grpc', 'tls'],
  ['storage', 'storage'],
  ['authz', 'pdp'],
  ['authn', 'authn'],
  ['audit.signing_key_path', 'audit_key'],
  ['audit', 'audit_sink'],
  ['keys.cache_ttl', 'cache_ttl'],
  ['keys.providers', 'hsm'],
  ['seal.type', 'hsm'],
];

function routeOf(path: string | null): CheckId {
  if (path === null) return 'config';
  return ROUTES.find(([prefix]) => path === prefix || path.startsWith(prefix + '.'))?.[1] ?? 'config';
}

/** The path a warning is about: "path: message" or "path message", as the rules write them. */
function warningPath(text: string): string | null {
  return toProblem(text).path;
}

async function routedRules(input: DoctorInput): Promise<RoutedRules> {
  const errors = new Map<CheckId, ConfigProblem[]>();
  const warnings = new Map<CheckId, string[]>();
  const add = <T>(m: Map<CheckId, T[]>, id: CheckId, v: T) => m.set(id, [...(m.get(id) ?? []), v]);
  const production = productionProblems(input.config);
  const startup = await startupProblems(input.config, input.env);
  for (const p of [...production.errors.map(toProblem), ...startup.errors]) add(errors, routeOf(p.path), p);
  for (const w of [...production.warnings, ...startup.warnings]) add(warnings, routeOf(warningPath(w)), w);
  return { errors, warnings };
}

const configCheck: CheckFamily = async (ctx) => {
  const findings: Finding[] = ruleFindings(ctx, 'config', 'fix the field named (keyward config check FILE shows the same)');
  if (ctx.config.mode !== 'production') findings.push({ status: 'fail', text: `mode is ${ctx.config.mode}`, fix: 'set mode: production' });
  if (findings.length === 0) findings.push({ status: 'pass', text: 'valid, and the production rules and start-up checks pass' });
  return findings;
};

const FAMILIES: Record<CheckId, CheckFamily> = {
  config: configCheck,
  tls: tlsCheck,
  storage: storageCheck,
  pdp: pdpCheck,
  authn: authnCheck,
  audit_sink: auditSinkCheck,
  audit_key: auditKeyCheck,
  hsm: hsmCheck,
  cache_ttl: cacheTtlCheck,
  metrics: metricsCheck,
  health: healthCheck,
};

/** Runs every check; one result per checklist item, in checklist order. A check that throws is a failure. */
export async function runDoctor(input: DoctorInput): Promise<CheckResult[]> {
  const cache = new Map<string, Promise<ProbeResponse>>();
  const ctx: DoctorContext = {
    ...input,
    rules: await routedRules(input),
    get(path) {
      let r = cache.get(path);
      if (!r) {
        r = probe(input.probe, 'GET', path);
        cache.set(path, r);
      }
      return r;
    },
  };
  const results: CheckResult[] = [];
  for (const { id } of CHECKS) {
    let findings: Finding[];
    try {
      findings = await FAMILIES[id](ctx);
    } catch (e) {
      findings = [{ status: 'fail', text: `the check itself failed: ${(e as Error).message}`, fix: 'report this' }];
    }
    results.push(combine(id, findings));
  }
  return results;
}
