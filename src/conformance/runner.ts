// Runs the catalogue against one issuer and turns the outcome into the contract-results document that
// `keyward migrate report --contract-results` attaches, with the §15.4 acceptance rule evaluated.
import { ACCEPTANCE_RULES, CONTRACT_RESULTS_SCHEMA, type ContractTestResults } from '../migrate/report.ts';
import type { BrowserDriver } from './browser.ts';
import { scenarioTests, type ConformanceCategory, type ConformanceTestDef, type Scenario } from './catalogue.ts';
import { scrapeIdpEvents, type EventCount } from './metrics.ts';
import { discover, type Discovery } from './rp.ts';
import { IMPLEMENTATIONS, signInOnce, Skip, type ConformanceTarget, type SuiteContext } from './suite.ts';

export interface TestOutcome {
  def: ConformanceTestDef;
  status: 'passed' | 'failed' | 'skipped';
  message?: string | undefined;
  duration_ms: number;
}

export interface ConformanceRun {
  scenario: Scenario;
  issuer: string;
  keyward: boolean;
  outcomes: TestOutcome[];
  results: ContractTestResults;
}

export interface RunOptions {
  scenario: Scenario;
  /** Whether the issuer is Keyward (its profile document, error classes and telemetry); `auto` asks {issuer}/profile. */
  keyward?: boolean | 'auto' | undefined;
  /** Where Keyward's Prometheus metrics are; default {issuer origin}/metrics. */
  metricsUrl?: string | undefined;
  /** Started on first use; the caller closes what it returns. */
  browser: () => Promise<BrowserDriver>;
  /** Only these categories (within the scenario). */
  categories?: readonly ConformanceCategory[] | undefined;
  now?: () => Date;
}

/** Which categories each acceptance rule of §15.4 rests on. */
const RULE_CATEGORIES: Record<(typeof ACCEPTANCE_RULES)[number], ConformanceCategory[]> = {
  'profile-conformant apps keep working': ['discovery', 'login_flow', 'redirect_validation', 'client_configuration', 'logout', 'mfa_policy'],
  'required claims remain stable': ['token_claims'],
  'unsupported cases fail in expected ways': ['negative_profile'],
  'canonical identity data remains valid': ['migration_data_integrity', 'ldap_schema_validation'],
  'telemetry remains available where expected': ['telemetry'],
};

async function isKeyward(issuer: string): Promise<boolean> {
  const res = await fetch(`${issuer}/profile`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
  if (!res || res.status !== 200) return false;
  const body = (await res.json().catch(() => undefined)) as { profile?: unknown; issuer?: unknown } | undefined;
  return body?.profile === 'netkingdom-iam' && body.issuer === issuer;
}

export async function runConformance(target: ConformanceTarget, opts: RunOptions): Promise<ConformanceRun> {
  const now = opts.now ?? (() => new Date());
  const started = now();
  const issuer = target.issuer.replace(/\/$/, '');
  target = { ...target, issuer };
  const keyward = opts.keyward === undefined || opts.keyward === 'auto' ? await isKeyward(issuer) : opts.keyward;
  const metricsUrl = opts.metricsUrl ?? `${new URL(issuer).origin}/metrics`;
  const before: EventCount[] | undefined = keyward ? await scrapeIdpEvents(metricsUrl) : undefined;

  let discovery: Promise<Discovery> | undefined;
  let browser: Promise<BrowserDriver> | undefined;
  let signIn: ReturnType<SuiteContext['signIn']> | undefined;
  const ctx: SuiteContext = {
    target,
    keyward,
    realm: decodeURIComponent(new URL(issuer).pathname.split('/').filter(Boolean).at(-1) ?? ''),
    ran: new Set(),
    discovery: () => (discovery ??= discover(issuer)),
    browser: () => (browser ??= opts.browser()),
    signIn: () => (signIn ??= signInOnce(ctx)),
    events: async () => {
      const current = await scrapeIdpEvents(metricsUrl);
      return before && current ? { before, now: current } : undefined;
    },
  };

  const selected = scenarioTests(opts.scenario).filter((d) => !opts.categories || opts.categories.includes(d.category));
  const outcomes: TestOutcome[] = [];
  try {
    for (const def of selected) {
      const t0 = performance.now();
      const done = (status: TestOutcome['status'], message?: string) =>
        outcomes.push({ def, status, ...(message === undefined ? {} : { message }), duration_ms: Math.round(performance.now() - t0) });
      const missing = unmet(def, target, keyward);
      if (missing) {
        done('skipped', missing);
        continue;
      }
      try {
        await IMPLEMENTATIONS[def.id]!(ctx);
        done('passed');
      } catch (e) {
        if (e instanceof Skip) done('skipped', e.message);
        else done('failed', (e as Error).message.split('\n')[0]);
      }
      ctx.ran.add(def.id);
    }
  } finally {
    if (signIn) await signIn.then((s) => s.session.close()).catch(() => {});
  }
  return { scenario: opts.scenario, issuer, keyward, outcomes, results: toResults(opts.scenario, issuer, outcomes, keyward, started, now()) };
}

function unmet(def: ConformanceTestDef, t: ConformanceTarget, keyward: boolean): string | undefined {
  if (def.applies === 'keyward' && !keyward) return 'applies to Keyward issuers only';
  for (const n of def.needs) {
    if (n === 'client_secret' && t.client.secret === undefined) return 'needs a confidential client (--client-secret-env)';
    if (n === 'post_logout_redirect' && !t.client.postLogoutRedirectUri) return 'needs --post-logout-redirect-uri';
    if (n === 'mfa_client' && !t.mfaClient) return 'needs a client that requires MFA (--mfa-client)';
    if (n === 'document' && !t.document) return 'needs the canonical identity document (--document)';
  }
  return undefined;
}

export function toResults(scenario: Scenario, issuer: string, outcomes: TestOutcome[], keyward: boolean, started: Date, finished: Date): ContractTestResults {
  const categories: ContractTestResults['categories'] = [];
  for (const o of outcomes) {
    let c = categories.find((x) => x.category === o.def.category);
    if (!c) categories.push((c = { category: o.def.category, tests: [] }));
    c.tests.push({ name: `${o.def.id} ${o.def.title}`, status: o.status, ...(o.message ? { message: o.message } : {}), duration_ms: o.duration_ms });
  }
  const count = (s: TestOutcome['status']) => outcomes.filter((o) => o.status === s).length;
  const acceptance = ACCEPTANCE_RULES.map((rule) => {
    const mine = outcomes.filter((o) => RULE_CATEGORIES[rule].includes(o.def.category));
    const failed = mine.filter((o) => o.status === 'failed');
    const passed = mine.filter((o) => o.status === 'passed');
    if (failed.length > 0) return { rule, status: 'not_met' as const, detail: `failed: ${failed.map((o) => o.def.id).join(', ')}` };
    if (passed.length > 0) return { rule, status: 'met' as const, detail: `${passed.length} test(s) passed` };
    const why = rule === 'telemetry remains available where expected' && !keyward ? 'telemetry is asserted on Keyward issuers only' : 'no test of this rule ran';
    return { rule, status: 'not_checked' as const, detail: why };
  });
  return {
    schema: CONTRACT_RESULTS_SCHEMA,
    status: count('failed') > 0 ? 'failed' : 'passed',
    generated_by: 'keyward conformance run',
    issuer,
    scenario,
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    summary: { total: outcomes.length, passed: count('passed'), failed: count('failed'), skipped: count('skipped') },
    categories,
    acceptance,
  };
}
