// PostgreSQL, not SQLite: the database the configuration names answers, holds Keyward's schema at the latest
// migration, and is reached over TLS when it is not on this machine. Read-only: nothing is created or migrated.
import { migrationProvider } from '../../store/migrations.ts';
import { redactedUrl } from '../../store/open.ts';
import { describeNetworkError } from './probe.ts';
import { type CheckFamily, type Finding, isLoopback, ruleFindings } from './types.ts';

export const storageCheck: CheckFamily = async (ctx) => {
  const storage = ctx.config.storage;
  const findings: Finding[] = ruleFindings(ctx, 'storage', 'configure storage: {type: postgres, url: …}').filter((f) => f.status === 'fail');
  if (storage.type === 'sqlite') {
    findings.push({ status: 'fail', text: `SQLite at ${storage.path}: one process on one machine, no second instance`, fix: 'use storage: {type: postgres, url: postgres://…} (several instances share it)' });
    return findings;
  }
  const where = redactedUrl(storage.url);
  let host = '';
  let sslmode: string | null = null;
  try {
    const u = new URL(storage.url);
    host = u.hostname;
    sslmode = u.searchParams.get('sslmode');
  } catch {
    // pg reports an unparseable URL below
  }
  // pg only for a PostgreSQL store.
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    connectionString: storage.url,
    connectionTimeoutMillis: Math.min(storage.connect_timeout, ctx.probe.timeoutMs),
    ...(storage.schema !== undefined ? { options: `-c search_path=${storage.schema}` } : {}),
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const version = (await client.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? '?';
    const schema = (await client.query<{ s: string | null }>('select current_schema() as s')).rows[0]?.s;
    if (!schema) {
      findings.push({ status: 'fail', text: `PostgreSQL ${version} at ${where}: the search path names no existing schema`, fix: 'set storage.schema, or start keyward serve once to create it' });
      return findings;
    }
    const table = `${pg.escapeIdentifier(schema)}.kysely_migration`;
    const exists = (await client.query<{ t: string | null }>('select to_regclass($1) as t', [table])).rows[0]?.t;
    if (!exists) {
      findings.push({ status: 'fail', text: `PostgreSQL ${version} at ${where}: no Keyward tables in schema ${schema}`, fix: 'point storage at the deployment\'s database (keyward serve creates the tables at its first start)' });
      return findings;
    }
    const applied = new Set((await client.query<{ name: string }>(`select name from ${table}`)).rows.map((r) => r.name));
    const expected = Object.keys(await migrationProvider('postgres').getMigrations());
    const missing = expected.filter((m) => !applied.has(m));
    const unknown = [...applied].filter((m) => !expected.includes(m));
    if (missing.length > 0) findings.push({ status: 'warn', text: `schema ${schema} lacks migrations ${missing.join(', ')}`, fix: 'restart keyward serve with this version (it migrates at start)' });
    if (unknown.length > 0) findings.push({ status: 'warn', text: `schema ${schema} has migrations this version does not know (${unknown.join(', ')}): a newer Keyward wrote it`, fix: 'run the same version everywhere' });
    findings.push({ status: 'pass', text: `PostgreSQL ${version} at ${where}, schema ${schema} at migration ${expected.at(-1)}` });
    if (host && !isLoopback(host) && !['require', 'verify-ca', 'verify-full'].includes(sslmode ?? '')) {
      findings.push({ status: 'warn', text: `the connection to ${host} does not require TLS (sslmode ${sslmode ?? 'unset'})`, fix: 'add sslmode=verify-full to storage.url' });
    }
  } catch (e) {
    findings.push({ status: 'fail', text: `PostgreSQL at ${where} unreachable: ${describeNetworkError(e)}`, fix: 'check storage.url, the network and the database server' });
  } finally {
    await client.end().catch(() => {});
  }
  return findings;
};
