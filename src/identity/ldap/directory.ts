// A live directory over LDAP (ldapts): connect (ldap://, ldaps:// or StartTLS), bind, read the whole tree below a
// base DN, add and modify entries. Failures become problems with stable codes: an unreachable or timing-out
// directory is 503 ldap.directory_unavailable, never an empty result.
import { readFileSync } from 'node:fs';
import {
  AlreadyExistsError,
  Attribute,
  Change,
  Client,
  InsufficientAccessError,
  InvalidCredentialsError,
  NoSuchObjectError,
  ResultCodeError,
  type Entry,
} from 'ldapts';
import { ProblemError, isProblem, type ProblemCode } from '../../core/problem.ts';
import { normalizeDn, parseDn } from './dn.ts';
import { withoutAttributes, type LdapEntry } from './entry.ts';
import { LDAP_RULES } from './rules.ts';

export interface DirectoryOptions {
  /** ldap://host:port or ldaps://host:port (no DN part). */
  url: string;
  bindDn?: string | undefined;
  /** Never logged or printed. */
  bindPassword?: string | undefined;
  /** Upgrade an ldap:// connection with StartTLS before binding. */
  startTls?: boolean | undefined;
  /** PEM file of the CA that signed the directory's certificate (ldaps:// and StartTLS). */
  caFile?: string | undefined;
  /** Connect and per-operation timeout; 10 s by default. */
  timeoutMs?: number | undefined;
}

const problem = (code: Extract<ProblemCode, `ldap.${string}`>, detail: string) => new ProblemError({ code, detail });

function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid URL)';
  }
}

/** Maps ldapts and socket errors to problems; the message never carries the bind password. */
export function directoryProblem(e: unknown, url: string): ProblemError {
  if (isProblem(e)) return e;
  const where = describeUrl(url);
  if (e instanceof InvalidCredentialsError) return problem('ldap.bind_failed', `${where} refused the bind DN's credentials`);
  if (e instanceof InsufficientAccessError) return problem('ldap.insufficient_access', `${where}: the bind DN may not do this: ${e.message}`);
  if (e instanceof NoSuchObjectError) return problem('ldap.no_such_object', `${where}: ${e.message}`);
  if (e instanceof AlreadyExistsError) return problem('ldap.entry_exists', `${where}: ${e.message}`);
  if (e instanceof ResultCodeError) return problem('ldap.operation_failed', `${where}: ${e.name} (${e.code}): ${e.message}`);
  const err = e as NodeJS.ErrnoException;
  return problem('ldap.directory_unavailable', `${where} is unavailable: ${err.code ?? err.message ?? String(e)}`);
}

/** Connects, optionally upgrades to TLS and binds, runs `fn`, and always unbinds. */
export async function withDirectory<T>(opts: DirectoryOptions, fn: (client: Client) => Promise<T>): Promise<T> {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw problem('ldap.url_invalid', 'the directory URL is not a URL');
  }
  if (url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') throw problem('ldap.url_invalid', 'the directory URL must be ldap:// or ldaps://');
  if (opts.startTls && url.protocol === 'ldaps:') throw problem('ldap.url_invalid', 'StartTLS is for ldap:// URLs; ldaps:// is TLS already');
  const timeout = opts.timeoutMs ?? 10_000;
  const tls = opts.caFile ? { ca: readFileSync(opts.caFile), minVersion: 'TLSv1.2' as const } : { minVersion: 'TLSv1.2' as const };
  // ldapts speaks TLS from the first byte whenever tlsOptions are given, so ldap:// URLs get them only via StartTLS.
  const client = new Client({ url: `${url.protocol}//${url.host}`, timeout, connectTimeout: timeout, ...(url.protocol === 'ldaps:' ? { tlsOptions: tls } : {}) });
  try {
    // The certificate is checked against the URL's host (tls.connect on an existing socket knows no host otherwise).
    if (opts.startTls) await client.startTLS({ ...tls, host: url.hostname.replace(/^\[|\]$/g, '') });
    if (opts.bindDn !== undefined) await client.bind(opts.bindDn, opts.bindPassword ?? '');
    return await fn(client);
  } catch (e) {
    throw directoryProblem(e, opts.url);
  } finally {
    await client.unbind().catch(() => {});
  }
}

function toStrings(v: Entry[string]): string[] {
  const list = Array.isArray(v) ? v : [v];
  return list.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));
}

const SECRETS = LDAP_RULES.forbidden.secret_attributes.attributes;

/**
 * Every entry at and below `baseDn`, parents before children (so the list loads back with ldapadd as it is).
 * Secret attributes are dropped as they arrive: nothing downstream ever holds a password hash.
 */
export async function readDirectory(client: Client, baseDn: string): Promise<LdapEntry[]> {
  let entries: Entry[];
  try {
    ({ searchEntries: entries } = await client.search(baseDn, { scope: 'sub', filter: '(objectClass=*)', attributes: ['*'], paged: { pageSize: 500 } }));
  } catch (e) {
    if (e instanceof NoSuchObjectError) throw problem('ldap.base_not_found', `the directory has no entry ${baseDn}`);
    throw e;
  }
  const out = entries.map((e): LdapEntry => {
    const attributes: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(e)) {
      // ldapts lists every requested attribute the entry lacks (here `*`) with no values; LDAP has no such thing.
      const list = k === 'dn' ? [] : toStrings(v);
      if (list.length) attributes[k] = list;
    }
    return withoutAttributes({ dn: e.dn, attributes }, SECRETS);
  });
  const depth = (dn: string) => parseDn(dn).length;
  return out.sort((a, b) => depth(a.dn) - depth(b.dn) || normalizeDn(a.dn).localeCompare(normalizeDn(b.dn)));
}

export async function addEntry(client: Client, entry: LdapEntry): Promise<void> {
  await client.add(entry.dn, entry.attributes);
}

export interface AttributeChange {
  attribute: string;
  operation: 'replace' | 'delete';
  before: string[];
  after: string[];
}

export async function modifyEntry(client: Client, dn: string, changes: readonly AttributeChange[]): Promise<void> {
  await client.modify(
    dn,
    changes.map(
      (c) =>
        new Change({
          operation: c.operation,
          modification: new Attribute({ type: c.attribute, values: c.operation === 'delete' ? [] : c.after }),
        }),
    ),
  );
}
