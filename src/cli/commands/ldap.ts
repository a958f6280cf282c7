// keyward ldap validate --mode fixture|pre-provision|pre-migration|post-migration|drift …
//            | snapshot --url URL [--out FILE] | render DOCUMENT [--out FILE]
// The canonical LDAP schema validator (KeyCape specification §11.3) and the two files CI needs around it: a
// snapshot of a live directory (LDIF, secrets dropped) and the LDIF a canonical document maps to.
import { writeFile } from 'node:fs/promises';
import { errorCount, formatJson, formatJunit, formatText, type Report } from '../../identity/findings.ts';
import { readDirectory, withDirectory, type DirectoryOptions } from '../../identity/ldap/directory.ts';
import { parseDn } from '../../identity/ldap/dn.ts';
import { writeLdif } from '../../identity/ldap/ldif.ts';
import { identityToEntries } from '../../identity/ldap/mapping.ts';
import { DEFAULT_BASE_DN, driftMode, fixtureMode, LDAP_MODES, postMigrationMode, preMigrationMode, preProvisionMode, type LdapMode } from '../../identity/ldap/modes.ts';
import { LDAP_SCHEMA_VERSION } from '../../identity/ldap/rules.ts';
import { loadCanonical, loadDirectory } from '../../identity/ldap/sources.ts';
import { isProblem } from '../../core/problem.ts';
import { integerOption, isHelp, parseCommand, UsageError, usageError } from '../args.ts';
import { EXIT, type CliIo } from '../io.ts';

const CONNECTION = '[--bind-dn DN --bind-password-env VAR] [--starttls] [--ca-file PEM] [--timeout SECONDS]';
const USAGE = [
  'usage: keyward ldap validate --mode fixture [--base-dn DN] DOCUMENT...',
  '       keyward ldap validate --mode pre-provision [--base-dn DN] FILE...        (LDIF, JSON entries or canonical documents)',
  `       keyward ldap validate --mode pre-migration --url URL [--base-dn DN] ${CONNECTION}`,
  `       keyward ldap validate --mode post-migration --url URL [--base-dn DN] ${CONNECTION} DOCUMENT`,
  '       keyward ldap validate --mode drift [--base-dn DN] BEFORE AFTER            (or BEFORE --url URL: the live directory is AFTER)',
  `       keyward ldap snapshot --url URL [--base-dn DN] ${CONNECTION} [--out FILE]`,
  '       keyward ldap render DOCUMENT [--base-dn DN] [--out FILE]',
  `--json: one JSON object on stdout (validate also takes --junit FILE); --base-dn defaults to ${DEFAULT_BASE_DN}; the bind password is read from the`,
  'environment variable --bind-password-env names, never from the command line. Exit: 0 valid, 1 findings, 2 usage,',
  '4 directory unreachable, 5 bind refused.',
].join('\n');

/** The connection options every live command shares (`identity provision` too). */
export const CONNECTION_OPTIONS = {
  'bind-dn': { type: 'string' },
  'bind-password-env': { type: 'string' },
  starttls: { type: 'boolean' },
  'ca-file': { type: 'string' },
  timeout: { type: 'string' },
} as const;

export interface ConnectionValues {
  'bind-dn'?: string | undefined;
  'bind-password-env'?: string | undefined;
  starttls?: boolean | undefined;
  'ca-file'?: string | undefined;
  timeout?: string | undefined;
}

/** --base-dn, checked before anything is read: a DN with at least one RDN. */
export function baseDnOption(value: string | undefined): string {
  const dn = value ?? DEFAULT_BASE_DN;
  let ok = false;
  try {
    ok = parseDn(dn).length > 0;
  } catch {
    ok = false;
  }
  if (!ok) throw new UsageError(`--base-dn ${JSON.stringify(dn)} is not a DN`);
  return dn;
}

/** Directory options from the command line; throws UsageError for a missing password variable. */
export function directoryOptions(url: string, v: ConnectionValues, io: CliIo): DirectoryOptions {
  let bindPassword: string | undefined;
  if (v['bind-password-env'] !== undefined) {
    if (v['bind-dn'] === undefined) throw new UsageError('--bind-password-env needs --bind-dn');
    bindPassword = io.env[v['bind-password-env']];
    if (!bindPassword) throw new UsageError(`environment variable ${v['bind-password-env']} (--bind-password-env) is not set`);
  }
  return {
    url,
    bindDn: v['bind-dn'],
    bindPassword,
    startTls: v.starttls ?? false,
    caFile: v['ca-file'],
    timeoutMs: integerOption('--timeout', v.timeout, 10) * 1000,
  };
}

/** Exit code and one line for a problem raised while talking to a directory. */
export function problemExit(e: unknown, io: CliIo): number {
  if (!isProblem(e)) throw e;
  io.err(`error: ${e.code}: ${e.detail ?? e.title}`);
  if (e.status === 503) return EXIT.unavailable;
  if (e.status === 401 || e.status === 403) return EXIT.denied;
  if (e.status === 400) return EXIT.usage;
  return EXIT.failure;
}

export async function emitReport(report: Report, v: { json?: boolean | undefined; junit?: string | undefined }, io: CliIo): Promise<number> {
  if (v.junit !== undefined) {
    try {
      await writeFile(v.junit, formatJunit(report));
    } catch (e) {
      io.err(`error: cannot write ${v.junit}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return EXIT.failure;
    }
  }
  if (v.json) io.out(formatJson(report));
  else for (const line of formatText(report)) io.out(line);
  return errorCount(report.findings) ? EXIT.failure : EXIT.ok;
}

/** LDIF to stdout or to --out FILE; with --json, the LDIF (or the file written) inside one JSON object. */
async function output(text: string, v: { out?: string | undefined; json?: boolean | undefined }, io: CliIo): Promise<number> {
  if (v.out === undefined) {
    io.out(v.json ? JSON.stringify({ ok: true, ldif: text }) : text.replace(/\n$/, ''));
    return EXIT.ok;
  }
  await writeFile(v.out, text);
  if (v.json) io.out(JSON.stringify({ ok: true, out: v.out }));
  else io.err(`wrote ${v.out}`);
  return EXIT.ok;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (isHelp(sub)) {
    io.out(USAGE);
    return EXIT.ok;
  }
  const args = parseCommand(rest, io, {
    usage: USAGE,
    options: {
      mode: { type: 'string' },
      url: { type: 'string' },
      'base-dn': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      junit: { type: 'string' },
      ...CONNECTION_OPTIONS,
    },
    args: ['FILE...'],
  });
  if (typeof args === 'number') return args;
  const v = args.values;
  const files = args.positionals;
  const usage = (m: string) => usageError(io, USAGE, m);
  try {
    const baseDn = baseDnOption(v['base-dn']);
    switch (sub) {
      case 'validate': {
        const mode = v.mode as LdapMode | undefined;
        if (mode === undefined) return usage('validate needs --mode');
        if (!LDAP_MODES.includes(mode)) return usage(`--mode is one of ${LDAP_MODES.join(', ')}, not ${JSON.stringify(mode)}`);
        const live = mode === 'pre-migration' || mode === 'post-migration';
        if (live && v.url === undefined) return usage(`--mode ${mode} needs --url`);
        if (!live && mode !== 'drift' && v.url !== undefined) return usage(`--mode ${mode} reads files, not --url`);
        let report: Report;
        if (mode === 'fixture' || mode === 'pre-provision') {
          if (files.length === 0) return usage(`--mode ${mode} needs at least one FILE`);
          report = mode === 'fixture' ? await fixtureMode(files, baseDn) : await preProvisionMode(files, baseDn);
        } else if (mode === 'pre-migration') {
          if (files.length) return usage(`unexpected argument ${JSON.stringify(files[0])}`);
          report = await preMigrationMode(directoryOptions(v.url!, v, io), baseDn);
        } else if (mode === 'post-migration') {
          if (files.length !== 1) return usage('--mode post-migration needs exactly one canonical DOCUMENT');
          report = await postMigrationMode(files[0]!, directoryOptions(v.url!, v, io), baseDn);
        } else {
          const wanted = v.url === undefined ? 2 : 1;
          if (files.length !== wanted) return usage(v.url === undefined ? '--mode drift needs BEFORE and AFTER' : '--mode drift with --url needs BEFORE only');
          const after = v.url === undefined ? files[1]! : await loadDirectory(directoryOptions(v.url, v, io), baseDn);
          report = await driftMode(files[0]!, after, baseDn);
        }
        return await emitReport(report, v, io);
      }
      case 'snapshot': {
        if (v.url === undefined) return usage('snapshot needs --url');
        if (files.length) return usage(`unexpected argument ${JSON.stringify(files[0])}`);
        const entries = await withDirectory(directoryOptions(v.url, v, io), (c) => readDirectory(c, baseDn));
        return await output(writeLdif(entries, { comments: [`snapshot of ${baseDn} (secret attributes dropped)`] }), v, io);
      }
      case 'render': {
        if (files.length !== 1) return usage('render needs exactly one canonical DOCUMENT');
        const { document, findings } = await loadCanonical(files[0]!);
        if (!document) return await emitReport({ name: 'keyward ldap render', sources: [files[0]!], findings, codes: [] }, v, io);
        const text = writeLdif(identityToEntries(document, baseDn), { schemaVersion: LDAP_SCHEMA_VERSION, comments: [`rendered from ${files[0]} (keyward ldap render)`] });
        return await output(text, v, io);
      }
      default:
        return usage(sub ? `unknown ldap command: ${sub}` : 'missing ldap command');
    }
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    return problemExit(e, io);
  }
}
