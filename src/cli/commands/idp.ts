// keyward idp apply REALM_DOCUMENT [--dry-run] | users list | users (enable|disable) USERNAME
//   | users set-password USERNAME --password-env VAR | clients list | clients (enable|disable) CLIENT_ID
//   | telemetry report [--since SECONDS]
// Works directly on the store named by the configuration file (storage + idp sections); without one, on the store of
// a `keyward dev` server run from this directory without one.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hash } from '@node-rs/argon2';
import { parse as parseYaml } from 'yaml';
import { applyEnvOverrides, formatIssues } from '../../config/load.ts';
import type { IdpConfig, IdpRealmConfig } from '../../idp/config.ts';
import { idpStoreSections } from '../../idp/store-sections.ts';
import { formatText } from '../../identity/findings.ts';
import { IDENTITY_CODES } from '../../identity/validate.ts';
import { describeChange } from '../../idp/realm-apply.ts';
import { applyRealmDocument, readRealmInput, REALM_DOCUMENT_CODES } from '../../idp/realm-document.ts';
import { applyRealmFile, argonOptions } from '../../idp/realm-file.ts';
import { storeIdpRepositories, type IdpRepositories } from '../../idp/store/repositories.ts';
import { isProblem } from '../../core/problem.ts';
import { openStore } from '../../store/open.ts';
import { parseCommand, usageError } from '../args.ts';
import { EXIT, type CliIo } from '../io.ts';

const USAGE = [
  'usage: keyward idp apply REALM_DOCUMENT [--dry-run]   (a canonical identity document, JSON or YAML; docs/identity.md)',
  '       keyward idp users list',
  '       keyward idp users (enable|disable) USERNAME',
  '       keyward idp users set-password USERNAME --password-env VAR',
  '       keyward idp clients list',
  '       keyward idp clients (enable|disable) CLIENT_ID',
  '       keyward idp telemetry report [--since SECONDS]',
  '       keyward idp break-glass ...   (served by the running server: POST through the admin API)',
  'options: --config FILE (KEYWARD_CONFIG) the server\'s configuration; without one, the store of a `keyward dev` server',
  '                                      started here without one (./data; realm keyward)',
  '         --realm NAME                 the realm (default: the first one configured)',
  '         --json                       JSON on stdout',
];

/** How many positionals each idp command takes (its words included). */
const ARITY: Record<string, number> = {
  apply: 2,
  'users list': 2,
  'users enable': 3,
  'users disable': 3,
  'users set-password': 3,
  'clients list': 2,
  'clients enable': 3,
  'clients disable': 3,
  'telemetry report': 2,
};

export interface OpenedIdpStore {
  repos: IdpRepositories;
  idp: IdpConfig;
  close(): Promise<void>;
}
type Opened = OpenedIdpStore;

// `keyward dev` without a configuration file: the defaults of storage.path and seal.dev_unseal_file.
const DEV_STORE = './data/keyward.db';
const DEV_UNSEAL_FILE = './data/dev-unseal.json';

/**
 * The store and idp section named by the configuration file (--config or KEYWARD_CONFIG), migrated. Without a file,
 * the store `keyward dev` uses when it is started without one (its defaults, KEYWARD_* overrides applied), but only
 * where such a server has run: its dev unseal file marks the directory, so a mistyped invocation elsewhere does not
 * create and migrate an empty database.
 */
export async function openIdpStore(path: string | undefined, io: CliIo): Promise<OpenedIdpStore> {
  const file = path ?? io.env.KEYWARD_CONFIG;
  let raw: Record<string, any>;
  if (file) raw = (parseYaml(await readFile(file, 'utf8')) ?? {}) as Record<string, any>;
  else {
    raw = applyEnvOverrides({ mode: 'dev', storage: { type: 'sqlite' } }, io.env) as Record<string, any>;
    const mark = String(raw.seal?.dev_unseal_file ?? DEV_UNSEAL_FILE);
    if (raw.mode !== 'dev' || !existsSync(mark)) {
      throw Object.assign(new Error(`no configuration: pass --config FILE or set KEYWARD_CONFIG (the server's); without one, run this where \`keyward dev\` runs (no ${mark} here)`), { exit: EXIT.config });
    }
    io.err(`no configuration given: using the store of the dev server in this directory (${String(raw.storage?.path ?? DEV_STORE)})`);
  }
  const sections = idpStoreSections(raw);
  if ('section' in sections) throw configProblem(sections.section, sections.issues as Parameters<typeof formatIssues>[0]);
  // The server's way of opening it (pool, schema, file modes, its own migrations), so the CLI never differs.
  const store = await openStore(sections.storage);
  const repos = storeIdpRepositories(store);
  try {
    await repos.migrate();
  } catch (e) {
    await store.close();
    throw e;
  }
  return { repos, idp: sections.idp, close: () => store.close() };
}

function configProblem(section: string, issues: Parameters<typeof formatIssues>[0]): Error {
  const problems = formatIssues(issues.map((i) => ({ ...i, path: [section, ...i.path] })));
  return Object.assign(new Error(`invalid configuration:\n  ${problems.join('\n  ')}`), { exit: EXIT.config });
}

function realmOf(idp: IdpConfig, name: string | undefined): IdpRealmConfig {
  const r = name ? idp.realms.find((x) => x.name === name) : idp.realms[0];
  if (!r) throw Object.assign(new Error(`unknown realm ${name}`), { exit: EXIT.usage });
  return r;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const args = parseCommand(argv, io, {
    usage: USAGE.join('\n'),
    options: {
      config: { type: 'string' },
      realm: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'password-env': { type: 'string' },
      since: { type: 'string' },
      json: { type: 'boolean' },
    },
    args: ['GROUP...'],
  });
  if (typeof args === 'number') return args;
  const [group, action, target] = args.positionals;
  const v = args.values;
  if (group === 'help') {
    USAGE.forEach((l) => io.out(l));
    return EXIT.ok;
  }
  if (group === undefined) return usageError(io, USAGE.join('\n'), 'missing idp command');
  if (group !== 'break-glass') {
    // Checked before the store is opened: a typo should not migrate a database.
    const wanted = ARITY[group === 'apply' ? 'apply' : `${group} ${action ?? ''}`];
    if (wanted === undefined) return usageError(io, USAGE.join('\n'), `unknown idp command ${JSON.stringify(args.positionals.slice(0, 2).join(' '))}`);
    if (args.positionals.length < wanted) return usageError(io, USAGE.join('\n'), `missing ${group === 'apply' ? 'REALM_DOCUMENT' : group === 'users' ? 'USERNAME' : 'CLIENT_ID'}`);
    if (args.positionals.length > wanted) return usageError(io, USAGE.join('\n'), `unexpected argument ${JSON.stringify(args.positionals[wanted])}`);
    // Number('abc') is NaN, which the report took for "no bound" and so answered for all time.
    if (v.since !== undefined && !/^[1-9][0-9]{0,9}$/.test(String(v.since))) return usageError(io, USAGE.join('\n'), `--since is a whole number of seconds, not ${JSON.stringify(v.since)}`);
  }
  if (group === 'break-glass') {
    io.err('break-glass tokens are signed with keys that never leave the key service; issue them through the running server');
    return EXIT.unavailable;
  }
  let opened: Opened | undefined;
  try {
    opened = await openIdpStore(v.config, io);
    const { repos, idp } = opened;
    const realm = realmOf(idp, v.realm);
    const dir = repos.directory(realm.name);
    const json = v.json === true;
    const done = (result: Record<string, unknown>, human?: string) => {
      io.out(json ? JSON.stringify(result) : human!);
      return EXIT.ok;
    };
    if (group === 'apply' && action) {
      const dryRun = v['dry-run'] ?? false;
      const input = readRealmInput(await readFile(action, 'utf8'), action);
      if ('finding' in input) {
        if (json) io.out(JSON.stringify({ ok: false, refused: true, findings: [input.finding] }));
        io.err(`${input.finding.source}: ${input.finding.code}: ${input.finding.message}`);
        return EXIT.failure;
      }
      let lines: string[];
      let n: number;
      let findings: unknown[] = [];
      if (input.format === 'document') {
        const outcome = await applyRealmDocument(repos, idp, input.data, action, { dryRun, env: io.env });
        const report = { name: 'keyward idp apply', sources: [action], findings: outcome.findings, codes: [...IDENTITY_CODES, ...REALM_DOCUMENT_CODES] };
        if (!outcome.result) {
          if (json) io.out(JSON.stringify({ ok: false, refused: true, findings: outcome.findings }));
          else for (const line of formatText(report)) io.err(line);
          io.err(`refused: ${action} does not pass validation; nothing was applied`);
          return EXIT.failure;
        }
        if (!json) for (const f of outcome.findings) io.err(`${f.source}: ${f.severity} ${f.code} at ${f.path}: ${f.message}`);
        findings = outcome.findings;
        ({ lines, changed: n } = outcome.result);
      } else {
        // Still read, not for long: the canonical document says the same and more, and is what the tools check.
        io.err(`warning: ${action} is a realm file in the deprecated pre-canonical format; write the realm as a canonical identity document (docs/identity.md, "Realm documents")`);
        const changes = await applyRealmFile(repos, realmOf(idp, input.file.realm), input.file, { dryRun, env: io.env, argon2: idp.argon2 });
        lines = changes.map(describeChange);
        n = changes.filter((c) => c.action !== 'unchanged').length;
      }
      if (json) return done({ ok: true, dry_run: dryRun, changed: n, changes: lines, findings });
      for (const l of lines) io.out(l);
      io.out(dryRun ? `dry run: ${n} change(s) would be applied` : `${n} change(s) applied`);
      return EXIT.ok;
    }
    if (group === 'users' && realm.directory.type !== 'builtin') {
      io.err(`realm ${realm.name} reads its users from its ${realm.directory.type} directory; manage them there (keyward identity provision --to ldap://…, ldappasswd)`);
      return EXIT.failure;
    }
    if (group === 'users') {
      if (action === 'list') {
        const users = await dir.listUsers();
        if (json) {
          // Never the password hash.
          const shown = users.map((u) => ({
            id: u.id, username: u.username, display_name: u.displayName, given_name: u.givenName, family_name: u.familyName, email: u.email,
            enabled: u.enabled, principal_type: u.principalType, tenant: u.tenant, groups: u.groups, roles: u.roles,
          }));
          return done({ realm: realm.name, users: shown });
        }
        for (const u of users)
          io.out(`${u.id}\t${u.username}\t${u.enabled ? 'enabled' : 'disabled'}\t${u.principalType}\t${u.tenant}\tgroups=${u.groups.join(',')}\troles=${u.roles.join(',')}`);
        return EXIT.ok;
      }
      if ((action === 'enable' || action === 'disable' || action === 'set-password') && target) {
        const u = await dir.findUserByUsername(target);
        if (!u) {
          io.err(`no user ${target}`);
          return EXIT.failure;
        }
        if (action === 'set-password') {
          const name = v['password-env'];
          const plain = name ? io.env[name] : undefined;
          if (!plain) {
            io.err('--password-env must name a set environment variable');
            return EXIT.usage;
          }
          await dir.putUser({ ...u, passwordHash: await hash(plain, argonOptions(idp.argon2)) });
        } else await dir.putUser({ ...u, enabled: action === 'enable' });
        return done({ ok: true, realm: realm.name, action, username: target }, `${action}: ${target}`);
      }
    }
    if (group === 'clients') {
      if (action === 'list') {
        const clients = await dir.listClients();
        if (json) {
          const shown = clients.map((c) => ({ client_id: c.clientId, enabled: c.enabled, auth_method: c.authMethod, grant_types: c.grantTypes, scopes: c.scopes }));
          return done({ realm: realm.name, clients: shown });
        }
        for (const c of clients)
          io.out(`${c.clientId}\t${c.enabled ? 'enabled' : 'disabled'}\t${c.authMethod}\tgrants=${c.grantTypes.join(',')}\tscopes=${c.scopes.join(' ')}`);
        return EXIT.ok;
      }
      if ((action === 'enable' || action === 'disable') && target) {
        const c = await dir.getClient(target);
        if (!c) {
          io.err(`no client ${target}`);
          return EXIT.failure;
        }
        await dir.putClient({ ...c, enabled: action === 'enable' });
        return done({ ok: true, realm: realm.name, action, client_id: target }, `${action}: ${target}`);
      }
    }
    if (group === 'telemetry' && action === 'report') {
      const rows = await repos.demand.report({ ...(v.realm ? { realm: v.realm } : {}), ...(v.since ? { sinceSeconds: Number(v.since) } : {}) });
      if (json) io.out(JSON.stringify(rows));
      else {
        io.out('client_id\tfeature\terror_class\tcount\tlast_seen');
        for (const r of rows) io.out(`${r.client_id}\t${r.feature}\t${r.error_class}\t${r.count}\t${r.last_seen}`);
      }
      return EXIT.ok;
    }
    USAGE.forEach((l) => io.err(l));
    return EXIT.usage;
  } catch (e) {
    const exit = (e as { exit?: number }).exit;
    io.err(isProblem(e) ? `${e.code}: ${e.detail ?? e.title}` : String((e as Error).message ?? e));
    return exit ?? (isProblem(e) ? EXIT.failure : EXIT.failure);
  } finally {
    await opened?.close();
  }
}
