// keyward idp apply REALM.yaml [--dry-run] | users list | users (enable|disable) USERNAME
//   | users set-password USERNAME --password-env VAR | clients list | clients (enable|disable) CLIENT_ID
//   | telemetry report [--since SECONDS]
// Works directly on the store named by the configuration file (storage + idp sections).
import { readFile } from 'node:fs/promises';
import { hash } from '@node-rs/argon2';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { parse as parseYaml } from 'yaml';
import { formatIssues } from '../../config/load.ts';
import { idpConfigSchema, type IdpConfig, type IdpRealmConfig } from '../../idp/config.ts';
import { devIdpConfig } from '../../idp/mount.ts';
import { applyRealmFile, argonOptions, parseRealmFile } from '../../idp/realm-file.ts';
import { Directory } from '../../idp/store/directory.ts';
import { migrateIdp, type IdpDialect } from '../../idp/store/migrations.ts';
import { telemetryReport } from '../../idp/telemetry.ts';
import { isProblem } from '../../core/problem.ts';
import { storageConfigSchema } from '../../store/open.ts';
import { nodeSqliteDialect } from '../../store/sqlite-dialect.ts';
import { parseCommand, usageError } from '../args.ts';
import { EXIT, type CliIo } from '../io.ts';

const USAGE = [
  'usage: keyward idp apply REALM.yaml [--dry-run] [--config FILE]',
  '       keyward idp users list [--realm NAME]',
  '       keyward idp users (enable|disable) USERNAME [--realm NAME]',
  '       keyward idp users set-password USERNAME --password-env VAR [--realm NAME]',
  '       keyward idp clients list [--realm NAME]',
  '       keyward idp clients (enable|disable) CLIENT_ID [--realm NAME]',
  '       keyward idp telemetry report [--since SECONDS] [--realm NAME]',
  '       keyward idp break-glass ...   (served by the running server: POST through the admin API)',
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

interface Opened {
  db: Kysely<any>;
  dialect: IdpDialect;
  idp: IdpConfig;
}

async function open(path: string | undefined, io: CliIo): Promise<Opened> {
  const file = path ?? io.env.KEYWARD_CONFIG;
  if (!file) throw Object.assign(new Error('no configuration: pass --config or set KEYWARD_CONFIG'), { exit: EXIT.config });
  const raw = (parseYaml(await readFile(file, 'utf8')) ?? {}) as Record<string, any>;
  // The CLI works offline on the store, so it checks only the sections it uses (the server validates the rest).
  // Dev mode runs its identity provider without an idp section (realm keyward); the CLI manages that one then.
  const parsed = raw.idp === undefined && raw.mode === 'dev'
    ? { success: true as const, data: devIdpConfig('http://127.0.0.1', String(raw.authz?.permission_prefix ?? 'keyward')) }
    : idpConfigSchema.safeParse(raw.idp);
  if (!parsed.success) throw configProblem('idp', parsed.error.issues);
  const storageParsed = storageConfigSchema.safeParse(raw.storage ?? { type: 'sqlite' });
  if (!storageParsed.success) throw configProblem('storage', storageParsed.error.issues);
  const storage = storageParsed.data;
  let db: Kysely<any>;
  if (storage.type === 'postgres') {
    const pool = new pg.Pool({ connectionString: storage.url, max: 2, ...(storage.schema ? { options: `-c search_path=${storage.schema}` } : {}) });
    db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  } else {
    db = new Kysely<any>({ dialect: nodeSqliteDialect(storage.path ?? './data/keyward.db') });
  }
  const dialect: IdpDialect = storage.type === 'postgres' ? 'postgres' : 'sqlite';
  await migrateIdp(db, dialect);
  return { db, dialect, idp: parsed.data };
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
    if (args.positionals.length < wanted) return usageError(io, USAGE.join('\n'), `missing ${group === 'apply' ? 'REALM.yaml' : group === 'users' ? 'USERNAME' : 'CLIENT_ID'}`);
    if (args.positionals.length > wanted) return usageError(io, USAGE.join('\n'), `unexpected argument ${JSON.stringify(args.positionals[wanted])}`);
  }
  if (group === 'break-glass') {
    io.err('break-glass tokens are signed with keys that never leave the key service; issue them through the running server');
    return EXIT.unavailable;
  }
  let opened: Opened | undefined;
  try {
    opened = await open(v.config, io);
    const { db, idp } = opened;
    const realm = realmOf(idp, v.realm);
    const dir = new Directory(db, realm.name);
    if (group === 'apply' && action) {
      const file = parseRealmFile(await readFile(action, 'utf8'));
      const target = realmOf(idp, file.realm);
      const changes = await applyRealmFile(db, target, file, { dryRun: v['dry-run'] ?? false, env: io.env, argon2: idp.argon2 });
      for (const c of changes) io.out(`${c.action === 'create' ? '+' : c.action === 'update' ? '~' : '='} ${c.kind} ${c.id}${c.fields ? ` (${c.fields.join(', ')})` : ''}`);
      const n = changes.filter((c) => c.action !== 'unchanged').length;
      io.out(v['dry-run'] ? `dry run: ${n} change(s) would be applied` : `${n} change(s) applied`);
      return EXIT.ok;
    }
    if (group === 'users') {
      if (action === 'list') {
        for (const u of await dir.listUsers())
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
        io.out(`${action}: ${target}`);
        return EXIT.ok;
      }
    }
    if (group === 'clients') {
      if (action === 'list') {
        for (const c of await dir.listClients())
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
        io.out(`${action}: ${target}`);
        return EXIT.ok;
      }
    }
    if (group === 'telemetry' && action === 'report') {
      const rows = await telemetryReport(db, { ...(v.realm ? { realm: v.realm } : {}), ...(v.since ? { sinceSeconds: Number(v.since) } : {}) });
      if (v.json) io.out(JSON.stringify(rows));
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
    await opened?.db.destroy();
  }
}
