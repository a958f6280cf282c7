// keyward migrate export --to keycloak|ldif … | report --to keycloak|ldif … (KeyCape specification §14)
// Exports canonical identity data (a document, or the identity provider's built-in store) to Keycloak's realm import
// format or to LDIF in the canonical LDAP schema, and writes migration reports. Sources failing validation are
// refused before anything is written.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { formatText } from '../../identity/findings.ts';
import { DEFAULT_BASE_DN } from '../../identity/ldap/modes.ts';
import { LDAP_CODES } from '../../identity/ldap/rules.ts';
import { DISABLED_GROUP } from '../../identity/model.ts';
import { IDENTITY_CODES } from '../../identity/validate.ts';
import { isProblem, ProblemError } from '../../core/problem.ts';
import { loadMigrationSource, planKeycloak, planLdif, type MigrationSource } from '../../migrate/export.ts';
import type { LdapFederationOptions } from '../../migrate/keycloak/federation.ts';
import { buildLdifFromDirectory } from '../../migrate/ldif.ts';
import { DEFAULT_USERS_PER_FILE, writeExportFiles } from '../../migrate/keycloak/files.ts';
import { contractResultsSchema, renderMarkdown, type ContractTestResults, type MigrationReport } from '../../migrate/report.ts';
import { emitMigrationEvent, stderrTelemetry, type MigrationTelemetry } from '../../migrate/telemetry.ts';
import { integerOption, isHelp, parseCommand, UsageError, usageError } from '../args.ts';
import { EXIT, type CliIo } from '../io.ts';
import { baseDnOption, directoryOptions } from './ldap.ts';

const SOURCE = '[--input DOCUMENT | --config FILE [--realm NAME]]';
const USAGE = [
  `usage: keyward migrate export --to keycloak --realm NAME --out DIR ${SOURCE} [--users-per-file N (${DEFAULT_USERS_PER_FILE})] [--overwrite]`,
  '              [--directory ldap://HOST:PORT [--base-dn DN] [--bind-dn DN --bind-password-env VAR] [--starttls]]',
  `       keyward migrate export --to ldif --out FILE ${SOURCE} [--base-dn DN (${DEFAULT_BASE_DN})] [--overwrite]`,
  '       keyward migrate export --to ldif --out FILE --from-directory ldap://HOST:PORT [--base-dn DN] [--bind-dn DN --bind-password-env VAR] [--starttls] [--ca-file PEM] [--timeout SECONDS]',
  '       keyward migrate report --to keycloak|ldif (the export options; --out is the report directory) [--contract-results FILE] [--strict]',
  'DOCUMENT is a canonical identity document; --config reads the identity provider store (and realm settings: token',
  'lifetimes, audience, lockout). --directory writes an LDAP federation component instead of users (Path 2);',
  "--bind-password-env names the variable Keycloak's import substitutes for the bind password (it is not read here);",
  'with --from-directory (a live LDAP directory, e.g. LLDAP, as the LDIF source) it names the variable holding it.',
  'Keycloak exports hold password hashes and TOTP seeds: the files are written owner-only. Reports hold no secrets.',
  'Exit: 0 written, 1 refused (validation findings) or not ready (report --strict), 2 usage, 3 configuration, 4 store unavailable.',
].join('\n');

const OPTIONS = {
  to: { type: 'string' },
  realm: { type: 'string' },
  out: { type: 'string' },
  input: { type: 'string' },
  config: { type: 'string' },
  'users-per-file': { type: 'string' },
  overwrite: { type: 'boolean' },
  directory: { type: 'string' },
  'base-dn': { type: 'string' },
  'bind-dn': { type: 'string' },
  'bind-password-env': { type: 'string' },
  starttls: { type: 'boolean' },
  'from-directory': { type: 'string' },
  'ca-file': { type: 'string' },
  timeout: { type: 'string' },
  'contract-results': { type: 'string' },
  strict: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

interface Values {
  to?: string | undefined;
  realm?: string | undefined;
  out?: string | undefined;
  input?: string | undefined;
  config?: string | undefined;
  'users-per-file'?: string | undefined;
  overwrite?: boolean | undefined;
  directory?: string | undefined;
  'base-dn'?: string | undefined;
  'bind-dn'?: string | undefined;
  'bind-password-env'?: string | undefined;
  starttls?: boolean | undefined;
  'from-directory'?: string | undefined;
  'ca-file'?: string | undefined;
  timeout?: string | undefined;
  'contract-results'?: string | undefined;
  strict?: boolean | undefined;
  json?: boolean | undefined;
}

export interface MigrateDeps {
  /** The telemetry seam (src/migrate/telemetry.ts); the CLI default writes one JSON line to stderr. */
  telemetry?: MigrationTelemetry;
}

function directoryOption(v: Values): LdapFederationOptions | undefined {
  if (v.directory === undefined) {
    for (const o of ['bind-dn', 'bind-password-env', 'starttls'] as const) if (v[o] !== undefined) throw new UsageError(`--${o} needs --directory`);
    return undefined;
  }
  if (!/^ldaps?:\/\/[^/\s]+\/?$/i.test(v.directory)) throw new UsageError('--directory is ldap://HOST:PORT or ldaps://HOST:PORT');
  if (v['bind-password-env'] !== undefined && v['bind-dn'] === undefined) throw new UsageError('--bind-password-env needs --bind-dn');
  if (v['bind-password-env'] !== undefined && !/^[A-Z_][A-Z0-9_]*$/.test(v['bind-password-env'])) throw new UsageError('--bind-password-env is an environment variable name (A-Z, 0-9, _)');
  return {
    url: v.directory.replace(/\/$/, ''),
    baseDn: baseDnOption(v['base-dn']),
    bindDn: v['bind-dn'],
    bindPasswordEnv: v['bind-password-env'],
    startTls: v.starttls ?? false,
  };
}

async function contractResults(path: string | undefined): Promise<ContractTestResults | undefined> {
  if (path === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new ProblemError({ code: 'migrate.contract_results_invalid', detail: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
  }
  const parsed = contractResultsSchema.safeParse(data);
  if (!parsed.success)
    throw new ProblemError({
      code: 'migrate.contract_results_invalid',
      detail: `${path}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '/'}: ${i.message}`).join('; ')}`,
    });
  return parsed.data;
}

/** Writes text through a temporary name; refuses to replace an existing file unless `overwrite`. */
async function writeAtomically(path: string, text: string, overwrite: boolean, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  await writeFile(tmp, text, { mode, flag: 'wx' });
  try {
    if (!overwrite) {
      if (existsSync(path)) throw new ProblemError({ code: 'migrate.output_exists', detail: `${path} exists; choose another path or pass --overwrite` });
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

function exitFor(e: ProblemError): number {
  if (e.code === 'migrate.config_invalid') return EXIT.config;
  if (e.status === 503) return EXIT.unavailable;
  if (e.status === 401 || e.status === 403) return EXIT.denied;
  if (e.status === 400) return EXIT.usage;
  return EXIT.failure;
}

function printRefusal(io: CliIo, findings: Parameters<typeof formatText>[0]['findings'], sources: string[], json: boolean): void {
  if (json) io.out(JSON.stringify({ ok: false, refused: true, findings }));
  else {
    for (const line of formatText({ name: 'keyward migrate', sources, findings, codes: [...IDENTITY_CODES, ...LDAP_CODES] })) io.err(line);
    io.err('refused: the source does not pass validation; nothing was written');
  }
}

function summaryLine(r: MigrationReport): string {
  const i = r.summary.incompatibilities;
  return `${r.summary.ready ? 'ready' : 'not ready'}: ${r.summary.validation_errors} validation error(s), ${r.summary.conformance_failed} failed conformance check(s), incompatibilities ${i.blocking} blocking, ${i.degraded} degraded, ${i.info} info`;
}

export async function run(argv: string[], io: CliIo, deps: MigrateDeps = {}): Promise<number> {
  const [sub, ...rest] = argv;
  if (isHelp(sub)) {
    io.out(USAGE);
    return EXIT.ok;
  }
  const args = parseCommand(rest, io, { usage: USAGE, options: OPTIONS, args: [] });
  if (typeof args === 'number') return args;
  const v = args.values as Values;
  const usage = (m: string) => usageError(io, USAGE, m);
  if (sub !== 'export' && sub !== 'report') return usage(sub ? `unknown migrate command: ${sub}` : 'missing migrate command');
  if (v.to !== 'keycloak' && v.to !== 'ldif') return usage('--to is keycloak or ldif');
  if (v.out === undefined) return usage('--out is required');
  const target = v.to;
  let realmForEvent = v.realm ?? '(unknown)';
  const telemetry = deps.telemetry ?? stderrTelemetry(io.err, 'unspecified');
  const emit = (result: 'success' | 'failure' | 'rejected', errorClass?: string) =>
    emitMigrationEvent(telemetry, { realm: realmForEvent, operation: sub, target, result, errorClass }, io.err);
  try {
    if (target === 'keycloak' && v.realm === undefined) return usage('--to keycloak needs --realm (the Keycloak realm name)');
    if (target === 'ldif' && (v.directory !== undefined || v['users-per-file'] !== undefined)) return usage('--directory and --users-per-file apply to --to keycloak');
    if (v['from-directory'] !== undefined) {
      if (target !== 'ldif' || sub !== 'export') return usage('--from-directory is a source of migrate export --to ldif (check a live directory with keyward ldap validate --mode pre-migration)');
      if (v.input !== undefined || v.config !== undefined) return usage('give one source: --input, --config or --from-directory');
      realmForEvent = v.realm ?? 'directory';
      return await exportLdifFromDirectory(io, v, emit);
    }
    if (target === 'ldif')
      for (const o of ['bind-dn', 'bind-password-env', 'starttls', 'ca-file', 'timeout'] as const) if (v[o] !== undefined) return usage(`--${o} needs --from-directory`);
    if (target === 'keycloak') for (const o of ['ca-file', 'timeout'] as const) if (v[o] !== undefined) return usage(`--${o} applies to --from-directory`);
    if (sub === 'export' && (v['contract-results'] !== undefined || v.strict !== undefined)) return usage('--contract-results and --strict apply to migrate report');
    const directory = target === 'keycloak' ? directoryOption(v) : undefined;
    const baseDn = target === 'ldif' ? baseDnOption(v['base-dn']) : undefined;
    const usersPerFile = integerOption('--users-per-file', v['users-per-file'], DEFAULT_USERS_PER_FILE);
    const attached = sub === 'report' ? await contractResults(v['contract-results']) : undefined;
    if (v.input === undefined && v.config === undefined) v.config = io.env.KEYWARD_CONFIG;
    if (v.input === undefined && v.config === undefined) return usage('give --input DOCUMENT or --config FILE (the identity provider store)');

    const loaded = await loadMigrationSource({ input: v.input, configPath: v.config, realm: v.input === undefined ? v.realm : undefined, env: io.env });
    if (!loaded.source) {
      printRefusal(io, loaded.findings, [v.input ?? v.config ?? ''], v.json ?? false);
      await emit('rejected', 'migrate.source_invalid');
      return EXIT.failure;
    }
    const src: MigrationSource = loaded.source;
    realmForEvent = v.realm ?? src.document.realm;

    if (target === 'keycloak') {
      const plan = await planKeycloak(src, { realmName: v.realm!, directory, usersPerFile, contractResults: attached });
      if (!plan.report.validation.ok) {
        printRefusal(io, plan.report.validation.findings, [src.name], v.json ?? false);
        await emit('rejected', 'migrate.target_invalid');
        return EXIT.failure;
      }
      if (sub === 'export') {
        const paths = await writeExportFiles(v.out, v.realm!, plan.files, { overwrite: v.overwrite ?? false });
        if (v.json) io.out(JSON.stringify({ ok: true, files: paths, summary: plan.report.summary }));
        else {
          for (const p of paths) io.out(`wrote ${p}`);
          io.out(summaryLine(plan.report));
          for (const i of plan.report.incompatibilities.filter((x) => x.severity === 'blocking')) io.out(`  blocking ${i.code} (${i.subject}): ${i.action}`);
          io.out(`import: kc.sh import --dir ${v.out}   (Keycloak 25 or later; see docs/migration.md)`);
        }
        await emit('success');
        return EXIT.ok;
      }
      return await writeReport(io, v, plan.report, target, emit);
    }

    const fileName = sub === 'export' ? v.out.split('/').pop()! : `${src.document.realm}.ldif`;
    const plan = planLdif(src, { baseDn: baseDn!, fileName, contractResults: attached });
    if (!plan.report.validation.ok) {
      printRefusal(io, plan.report.validation.findings, [src.name], v.json ?? false);
      await emit('rejected', 'migrate.target_invalid');
      return EXIT.failure;
    }
    if (sub === 'export') {
      await writeAtomically(v.out, plan.ldif.text, v.overwrite ?? false);
      if (v.json) io.out(JSON.stringify({ ok: true, files: [v.out], summary: plan.report.summary }));
      else {
        io.out(`wrote ${v.out}: ${plan.ldif.entries.length} entries (${plan.ldif.summary.users} users, ${plan.ldif.summary.groups} groups and ${DISABLED_GROUP})`);
        io.out(summaryLine(plan.report));
      }
      await emit('success');
      return EXIT.ok;
    }
    return await writeReport(io, v, plan.report, target, emit);
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    if (isProblem(e)) {
      io.err(`error: ${e.code}: ${e.detail ?? e.title}`);
      await emit('failure', e.code);
      return exitFor(e);
    }
    await emit('failure', 'migrate.internal_error');
    throw e;
  }
}

async function exportLdifFromDirectory(io: CliIo, v: Values, emit: (result: 'success' | 'failure' | 'rejected', errorClass?: string) => Promise<void>): Promise<number> {
  const baseDn = baseDnOption(v['base-dn']);
  const built = await buildLdifFromDirectory(directoryOptions(v['from-directory']!, v, io), baseDn);
  if (built.findings.some((f) => f.severity === 'error')) {
    printRefusal(io, built.findings, [built.source], v.json ?? false);
    await emit('rejected', 'migrate.source_invalid');
    return EXIT.failure;
  }
  await writeAtomically(v.out!, built.text, v.overwrite ?? false);
  if (v.json) io.out(JSON.stringify({ ok: true, files: [v.out], summary: built.summary }));
  else io.out(`wrote ${v.out}: ${built.entries.length} entries (${built.summary.users} users, ${built.summary.groups} groups and ${DISABLED_GROUP}) from ${built.source}`);
  await emit('success');
  return EXIT.ok;
}

async function writeReport(
  io: CliIo,
  v: Values,
  report: MigrationReport,
  target: 'keycloak' | 'ldif',
  emit: (result: 'success' | 'failure' | 'rejected', errorClass?: string) => Promise<void>,
): Promise<number> {
  const dir = v.out!;
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'migration-report.json');
  const md = join(dir, 'migration-report.md');
  // Reports are regenerated freely: they replace the previous ones.
  await writeAtomically(json, JSON.stringify(report, null, 2) + '\n', true);
  await writeAtomically(md, renderMarkdown(report), true);
  if (target === 'ldif' && report.transformed_directory_data.ldif !== undefined)
    await writeAtomically(join(dir, report.transformed_directory_data.files[0]!.name), report.transformed_directory_data.ldif, true);
  if (v.json) io.out(JSON.stringify({ ok: true, files: [json, md], summary: report.summary }));
  else {
    io.out(`wrote ${json}`);
    io.out(`wrote ${md}`);
    io.out(summaryLine(report));
  }
  await emit('success');
  return v.strict && !report.summary.ready ? EXIT.failure : EXIT.ok;
}
