// The doctor's vocabulary: a check family yields findings; the report shows one line per family with the worst
// status, what was found and what to do.
import type { KeywardConfig } from '../../config/index.ts';
import type { ConfigProblem } from '../commands/config.ts';
import type { ProbeOptions } from './probe.ts';

export type Status = 'pass' | 'warn' | 'fail';

export interface Finding {
  status: Status;
  /** What was found, in a few words. Never a secret. */
  text: string;
  /** What to do about it (warn and fail). */
  fix?: string | undefined;
}

/** The checklist items, in the order the report lists them (the KeyRack production checklist plus the configuration itself). */
export const CHECKS = [
  { id: 'config', title: 'production configuration' },
  { id: 'tls', title: 'TLS on every listener' },
  { id: 'storage', title: 'PostgreSQL storage' },
  { id: 'pdp', title: 'policy decision point, fail closed' },
  { id: 'authn', title: 'JWT or mTLS authentication' },
  { id: 'audit_sink', title: 'durable audit sink' },
  { id: 'audit_key', title: 'audit signing key' },
  { id: 'hsm', title: 'HSM key provider' },
  { id: 'cache_ttl', title: 'cache TTL within the HYOK lockout' },
  { id: 'metrics', title: '/metrics scrapeable' },
  { id: 'health', title: '/healthz and /readyz' },
] as const;

export type CheckId = (typeof CHECKS)[number]['id'];

export interface CheckResult {
  id: CheckId;
  title: string;
  status: Status;
  detail: string;
  fix?: string;
}

export interface DoctorInput {
  config: KeywardConfig;
  env: NodeJS.ProcessEnv;
  /** The running deployment. */
  probe: ProbeOptions;
  /** The operator's bound on how long a revoked key may keep working, in ms (--hyok-lockout). */
  hyokLockoutMs?: number | undefined;
  /** A backup copy of the audit signing key to compare (--audit-key-backup). */
  auditKeyBackup?: string | undefined;
}

/** The production rules' and start-up checks' problems, each routed to the family it is about. */
export interface RoutedRules {
  errors: Map<CheckId, ConfigProblem[]>;
  warnings: Map<CheckId, string[]>;
}

export interface DoctorContext extends DoctorInput {
  rules: RoutedRules;
  /** GETs of the deployment, made once and shared by the families that read them. */
  get(path: string): Promise<import('./probe.ts').ProbeResponse>;
}

export type CheckFamily = (ctx: DoctorContext) => Promise<Finding[]>;

const RANK: Record<Status, number> = { pass: 0, warn: 1, fail: 2 };

/** One line: the worst status; the findings in order (failures first when something failed); their fixes. */
export function combine(id: CheckId, findings: Finding[]): CheckResult {
  const title = CHECKS.find((c) => c.id === id)!.title;
  if (findings.length === 0) return { id, title, status: 'pass', detail: 'nothing to check' };
  const status = findings.reduce<Status>((s, f) => (RANK[f.status] > RANK[s] ? f.status : s), 'pass');
  const ordered = [...findings].sort((a, b) => RANK[b.status] - RANK[a.status]);
  const fixes = [...new Set(ordered.filter((f) => f.status !== 'pass' && f.fix).map((f) => f.fix!))];
  return { id, title, status, detail: ordered.map((f) => f.text).join('; '), ...(fixes.length > 0 ? { fix: fixes.join('; ') } : {}) };
}

/** The routed rule problems of a family as findings. */
export function ruleFindings(ctx: DoctorContext, id: CheckId, fix: string): Finding[] {
  return [
    ...(ctx.rules.errors.get(id) ?? []).map((p): Finding => ({ status: 'fail', text: p.path ? `${p.path}: ${p.message}` : p.message, fix })),
    ...(ctx.rules.warnings.get(id) ?? []).map((w): Finding => ({ status: 'warn', text: w, fix })),
  ];
}

export const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
