// Migration reports (KeyCape specification §14.4): transformed directory data, client definitions, the profile
// conformance report, validation results, contract test results and the incompatibility report, as one JSON
// document (for CI) and one Markdown page (for people). Reports never contain secret material: credentials appear
// as their type only, client secrets as the placeholder the export writes.
import { z } from 'zod';
import type { Finding } from '../identity/findings.ts';
import type { ConformanceCheck } from './keycloak/conformance.ts';
import type { KcClient } from './keycloak/types.ts';
import { sortIncompatibilities, type Incompatibility } from './incompatibility.ts';

export const REPORT_SCHEMA = 'keyward.migration-report/v1';
export const CONTRACT_RESULTS_SCHEMA = 'keyward.contract-results/v1';

/** Test categories of §15.3; the conformance suite files each test under one. */
export const CONTRACT_CATEGORIES = [
  'discovery',
  'login_flow',
  'token_claims',
  'redirect_validation',
  'client_configuration',
  'logout',
  'mfa_policy',
  'migration_data_integrity',
  'ldap_schema_validation',
  'telemetry',
  'negative_profile',
] as const;

/** The acceptance rule of §15.4, one line each. */
export const ACCEPTANCE_RULES = [
  'profile-conformant apps keep working',
  'required claims remain stable',
  'unsupported cases fail in expected ways',
  'canonical identity data remains valid',
  'telemetry remains available where expected',
] as const;

/**
 * What `keyward conformance run --report FILE.json` writes and `keyward migrate report --contract-results FILE.json`
 * reads. Until a run is attached the report carries `{status: "not_run"}` with empty counts.
 */
export const contractResultsSchema = z
  .object({
    schema: z.literal(CONTRACT_RESULTS_SCHEMA),
    status: z.enum(['not_run', 'passed', 'failed']),
    generated_by: z.string().optional(),
    issuer: z.string().optional(),
    /** Named runs of §15.2: A baseline, B IAM replacement, C full expansion, D negative. */
    scenario: z.enum(['A', 'B', 'C', 'D']).optional(),
    started_at: z.string().optional(),
    finished_at: z.string().optional(),
    summary: z.object({ total: z.number().int().min(0), passed: z.number().int().min(0), failed: z.number().int().min(0), skipped: z.number().int().min(0) }).strict(),
    categories: z.array(
      z
        .object({
          category: z.enum(CONTRACT_CATEGORIES),
          tests: z.array(
            z
              .object({
                name: z.string().min(1),
                status: z.enum(['passed', 'failed', 'skipped']),
                message: z.string().optional(),
                duration_ms: z.number().min(0).optional(),
              })
              .strict(),
          ),
        })
        .strict(),
    ),
    acceptance: z.array(z.object({ rule: z.enum(ACCEPTANCE_RULES), status: z.enum(['met', 'not_met', 'not_checked']), detail: z.string().optional() }).strict()),
  })
  .strict()
  .superRefine((r, ctx) => {
    const tests = r.categories.flatMap((c) => c.tests);
    const count = (s: string) => tests.filter((t) => t.status === s).length;
    if (r.summary.total !== tests.length || r.summary.passed !== count('passed') || r.summary.failed !== count('failed') || r.summary.skipped !== count('skipped'))
      ctx.addIssue({ code: 'custom', path: ['summary'], message: 'the summary does not match the tests listed' });
    if (r.status === 'passed' && r.summary.failed > 0) ctx.addIssue({ code: 'custom', path: ['status'], message: 'status passed with failed tests' });
  });
export type ContractTestResults = z.output<typeof contractResultsSchema>;

export function contractResultsNotRun(): ContractTestResults {
  return {
    schema: CONTRACT_RESULTS_SCHEMA,
    status: 'not_run',
    summary: { total: 0, passed: 0, failed: 0, skipped: 0 },
    categories: [],
    acceptance: ACCEPTANCE_RULES.map((rule) => ({ rule, status: 'not_checked' as const })),
  };
}

export interface ReportFile {
  name: string;
  sha256: string;
  bytes: number;
}

export interface MigrationReport {
  schema: typeof REPORT_SCHEMA;
  generated_at: string;
  target: 'keycloak' | 'ldif';
  /** §14.3 path: 1 Keycloak with its own users, 2 Keycloak federating LDAP; LDIF exports are the directory half of 2. */
  path: 1 | 2;
  source: { kind: 'document' | 'idp_store'; name: string; realm: string; tenant: string; profile_version: string };
  target_details: Record<string, string>;
  summary: {
    /** No validation errors, no failed conformance check, no blocking incompatibility. */
    ready: boolean;
    validation_errors: number;
    conformance_failed: number;
    incompatibilities: { blocking: number; degraded: number; info: number };
    counts: Record<string, number>;
  };
  transformed_directory_data: {
    format: 'keycloak-realm-export' | 'ldif';
    /** The files the export writes (written by `keyward migrate export`; the report lists them without credentials). */
    files: ReportFile[];
    users: Array<{ username: string; id?: string | undefined; enabled: boolean; principal_type: string; groups: string[]; roles: string[]; credentials: string[] }>;
    groups: Array<{ name: string; roles: string[]; members: number }>;
    /** LDIF only: the entries, which carry no secrets. */
    ldif?: string;
  };
  client_definitions: KcClient[];
  profile_conformance: ConformanceCheck[];
  validation: { ok: boolean; errors: number; warnings: number; findings: Finding[] };
  contract_tests: ContractTestResults;
  incompatibilities: Incompatibility[];
}

export function summarise(r: Omit<MigrationReport, 'summary'>, counts: Record<string, number>): MigrationReport {
  const by = (s: Incompatibility['severity']) => r.incompatibilities.filter((i) => i.severity === s).length;
  const conformanceFailed = r.profile_conformance.filter((c) => c.status === 'fail').length;
  return {
    ...r,
    incompatibilities: sortIncompatibilities(r.incompatibilities),
    summary: {
      ready: r.validation.errors === 0 && conformanceFailed === 0 && by('blocking') === 0,
      validation_errors: r.validation.errors,
      conformance_failed: conformanceFailed,
      incompatibilities: { blocking: by('blocking'), degraded: by('degraded'), info: by('info') },
      counts,
    },
  };
}

/** Table cells: one line, pipes escaped. */
const cell = (v: unknown) => String(v ?? '').replace(/\r?\n/g, ' ').replaceAll('|', '\\|');
const table = (head: string[], rows: unknown[][]) =>
  rows.length ? [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n') : '_none_';

export function renderMarkdown(r: MigrationReport): string {
  const s = r.summary;
  const out: string[] = [];
  out.push(`# Migration report: ${r.source.realm} → ${r.target === 'keycloak' ? `Keycloak (Path ${r.path})` : 'LDIF (canonical LDAP schema)'}`);
  out.push('');
  out.push(`Generated ${r.generated_at} from ${r.source.kind === 'idp_store' ? "Keyward's identity provider store" : 'a canonical document'} (${cell(r.source.name)}), tenant \`${r.source.tenant}\`, NetKingdom profile ${r.source.profile_version}.`);
  out.push('');
  out.push(
    s.ready
      ? '**Ready**: no validation errors, every checkable profile requirement passes, no blocking incompatibility.'
      : `**Not ready**: ${s.validation_errors} validation error(s), ${s.conformance_failed} failed conformance check(s), ${s.incompatibilities.blocking} blocking incompatibilit${s.incompatibilities.blocking === 1 ? 'y' : 'ies'}.`,
  );
  out.push('');
  out.push(table(['what', 'count'], Object.entries(s.counts)));
  out.push('');
  if (Object.keys(r.target_details).length) {
    out.push(table(['target', 'value'], Object.entries(r.target_details)));
    out.push('');
  }

  out.push('## Incompatibilities');
  out.push('');
  out.push(`${s.incompatibilities.blocking} blocking, ${s.incompatibilities.degraded} degraded, ${s.incompatibilities.info} informational.`);
  const dirs: Array<[Incompatibility['direction'], string]> = [
    ['source_not_expressible', 'In the source, not expressible in the target'],
    ['behaviour_differs', 'Carried over, behaves differently'],
    ['target_forbidden_by_profile', 'Target features the profile forbids'],
  ];
  for (const [d, title] of dirs) {
    out.push('');
    out.push(`### ${title}`);
    out.push('');
    out.push(table(['severity', 'code', 'subject', 'what', 'operator action'], r.incompatibilities.filter((i) => i.direction === d).map((i) => [i.severity, `\`${i.code}\``, i.subject, i.message, i.action])));
  }
  out.push('');

  out.push('## Validation results');
  out.push('');
  out.push(`${r.validation.errors} error(s), ${r.validation.warnings} warning(s).`);
  out.push('');
  out.push(table(['severity', 'code', 'where', 'message'], r.validation.findings.map((f) => [f.severity, `\`${f.code}\``, f.dn ?? f.path ?? '', f.message])));
  out.push('');

  out.push('## Profile conformance');
  out.push('');
  out.push(table(['check', 'requirement', 'status', 'detail'], r.profile_conformance.map((c) => [`\`${c.id}\``, c.requirement, c.status === 'pass' ? 'pass' : c.status === 'fail' ? '**FAIL**' : 'not expressible', c.detail])));
  out.push('');

  out.push('## Contract test results');
  out.push('');
  const ct = r.contract_tests;
  if (ct.status === 'not_run') out.push('Not run yet: attach a run with `keyward migrate report … --contract-results FILE` (written by `keyward conformance run --report FILE`).');
  else {
    out.push(`${ct.status === 'passed' ? 'Passed' : '**Failed**'}: ${ct.summary.passed} passed, ${ct.summary.failed} failed, ${ct.summary.skipped} skipped of ${ct.summary.total}${ct.scenario ? `, scenario ${ct.scenario}` : ''}${ct.issuer ? ` against ${ct.issuer}` : ''}.`);
    out.push('');
    out.push(table(['category', 'test', 'status', 'message'], ct.categories.flatMap((c) => c.tests.map((t) => [c.category, t.name, t.status, t.message ?? '']))));
  }
  out.push('');
  out.push(table(['acceptance rule (§15.4)', 'status', 'detail'], ct.acceptance.map((a) => [a.rule, a.status.replace('_', ' '), a.detail ?? ''])));
  out.push('');

  out.push('## Client definitions');
  out.push('');
  if (r.target === 'ldif') out.push('Clients are not directory data: they stay in the canonical document (and the realm configuration).');
  else
    out.push(
      table(
        ['client', 'type', 'authenticator', 'flows', 'redirect URIs', 'optional scopes', 'PKCE'],
        r.client_definitions.map((c) => [
          c.clientId,
          c.publicClient ? 'public' : 'confidential',
          c.clientAuthenticatorType ?? 'none',
          [c.standardFlowEnabled ? 'code' : '', c.serviceAccountsEnabled ? 'client_credentials' : ''].filter(Boolean).join(', '),
          c.redirectUris.join(' '),
          c.optionalClientScopes.join(' '),
          c.attributes['pkce.code.challenge.method'] ?? '',
        ]),
      ),
    );
  out.push('');

  out.push('## Transformed directory data');
  out.push('');
  out.push(table(['file', 'bytes', 'sha256'], r.transformed_directory_data.files.map((f) => [f.name, f.bytes, `\`${f.sha256}\``])));
  out.push('');
  out.push(
    table(
      ['user', 'id', 'enabled', 'type', 'groups', 'roles', 'credentials'],
      r.transformed_directory_data.users.map((u) => [u.username, u.id ?? '(generated)', u.enabled ? 'yes' : 'no', u.principal_type, u.groups.join(' '), u.roles.join(' '), u.credentials.join(' ')]),
    ),
  );
  out.push('');
  out.push(table(['group', 'roles', 'members'], r.transformed_directory_data.groups.map((g) => [g.name, g.roles.join(' '), g.members])));
  out.push('');
  return out.join('\n');
}
