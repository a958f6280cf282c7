// keyward identity validate FILE... [--json] [--junit FILE]
//                  provision --to (ldap://…|ldaps://…|builtin) FILE [--dry-run] …   (builtin: --config FILE)
// Canonical identity documents (KeyCape specification §10): validation for people and CI, and provisioning into a
// directory, which refuses any document the validators reject.
import { formatText, type Finding, type Report } from '../../identity/findings.ts';
import { DEFAULT_BASE_DN } from '../../identity/ldap/modes.ts';
import { LDAP_CODES } from '../../identity/ldap/rules.ts';
import { provisionDocument, resolveProvisionTarget, type ProvisionTarget } from '../../identity/provision.ts';
import { builtinProvisionTarget, REALM_DOCUMENT_CODES } from '../../idp/realm-document.ts';
import { IDENTITY_CODES, readIdentityFile, validateIdentityDocument } from '../../identity/validate.ts';
import { isHelp, parseCommand, UsageError, usageError } from '../args.ts';
import { EXIT, type CliIo } from '../io.ts';
import { openIdpStore, type OpenedIdpStore } from './idp.ts';
import { baseDnOption, CONNECTION_OPTIONS, directoryOptions, emitReport, problemExit } from './ldap.ts';

const USAGE = [
  'usage: keyward identity validate FILE... [--json] [--junit FILE]',
  '       keyward identity provision --to (ldap://HOST:PORT | ldaps://HOST:PORT | builtin) FILE [--dry-run] [--json]',
  `                [--base-dn DN (${DEFAULT_BASE_DN})] [--bind-dn DN --bind-password-env VAR] [--starttls] [--ca-file PEM] [--timeout SECONDS]`,
  '                --to builtin: [--config FILE] (or KEYWARD_CONFIG): the store and realm configuration of the server',
  'FILE is a canonical identity document (JSON or YAML, schemas/identity/keycape-identity-v0.1.schema.json).',
  'Exit: 0 valid (or provisioned), 1 findings (nothing written), 2 usage, 3 configuration, 4 directory unreachable, 5 bind refused.',
].join('\n');

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (isHelp(sub)) {
    io.out(USAGE);
    return EXIT.ok;
  }
  const args = parseCommand(rest, io, {
    usage: USAGE,
    options: {
      json: { type: 'boolean' },
      junit: { type: 'string' },
      to: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'base-dn': { type: 'string' },
      config: { type: 'string' },
      ...CONNECTION_OPTIONS,
    },
    args: ['FILE...'],
  });
  if (typeof args === 'number') return args;
  const v = args.values;
  const files = args.positionals;
  const usage = (m: string) => usageError(io, USAGE, m);
  let opened: OpenedIdpStore | undefined;
  try {
    switch (sub) {
      case 'validate': {
        if (files.length === 0) return usage('validate needs at least one FILE');
        const findings: Finding[] = [];
        for (const path of files) {
          const r = await readIdentityFile(path);
          findings.push(...('finding' in r ? [r.finding] : validateIdentityDocument(r.data, path)));
        }
        return await emitReport({ name: 'keyward identity validate', sources: files, findings, codes: IDENTITY_CODES }, v, io);
      }
      case 'provision': {
        if (v.to === undefined) return usage('provision needs --to');
        if (files.length !== 1) return usage('provision takes exactly one FILE');
        const path = files[0]!;
        // The built-in directory is the server's own store: opened from its configuration, like `keyward idp`.
        if (v.to === 'builtin') opened = await openIdpStore(v.config, io);
        const target: ProvisionTarget = resolveProvisionTarget(v.to, {
          ldap: (url) => ({ ...directoryOptions(url, v, io), baseDn: baseDnOption(v['base-dn']) }),
          builtin: () => builtinProvisionTarget(opened!.repos, opened!.idp, io.env),
        });
        const r = await readIdentityFile(path);
        const outcome = 'finding' in r ? { findings: [r.finding] } : await provisionDocument(r.data, path, target, { dryRun: v['dry-run'] ?? false });
        const report: Report = { name: 'keyward identity provision', sources: [path], findings: outcome.findings, codes: [...IDENTITY_CODES, ...(v.to === 'builtin' ? REALM_DOCUMENT_CODES : LDAP_CODES)] };
        if (!('result' in outcome) || outcome.result === undefined) {
          if (v.json) io.out(JSON.stringify({ ok: false, refused: true, findings: outcome.findings }));
          else {
            for (const line of formatText(report)) io.err(line);
            io.err(`refused: ${path} does not pass validation; nothing was written to ${target.name}`);
          }
          return EXIT.failure;
        }
        const { lines, changed } = outcome.result;
        const dry = v['dry-run'] ?? false;
        if (v.json) io.out(JSON.stringify({ ok: true, dry_run: dry, target: target.name, changed, plan: lines }));
        else {
          for (const l of lines) io.out(l);
          io.out(dry ? `dry run: ${changed} change(s) would be applied to ${target.name}` : `${changed} change(s) applied to ${target.name}`);
        }
        return EXIT.ok;
      }
      default:
        return usage(sub ? `unknown identity command: ${sub}` : 'missing identity command');
    }
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    const exit = (e as { exit?: number }).exit;
    if (exit !== undefined) {
      io.err(`error: ${(e as Error).message}`);
      return exit;
    }
    return problemExit(e, io);
  } finally {
    await opened?.close();
  }
}
