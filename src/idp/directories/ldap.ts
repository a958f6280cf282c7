// An LDAP directory as a realm's source of users, in LLDAP's layout (the canonical LDAP schema): users
// uid=<name>,ou=people,<base> (inetOrgPerson: uid, cn or displayName, mail, givenName, sn, employeeNumber = the
// stable id, employeeType = the principal type), groups cn=<name>,ou=groups,<base> (groupOfUniqueNames with
// uniqueMember; groupOfNames/member as LLDAP answers it), disabled users in cn=keyward-disabled. The same tree on a
// full OpenLDAP works unchanged.
//
// Searches run on a pool of connections bound as a service account; a password is checked by binding as the user
// on a second pool used for nothing else. Anything that keeps the directory from answering is 503
// idp.directory_unavailable: never an empty answer, never another source of users.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import {
  AndFilter,
  EqualityFilter,
  InappropriateAuthError,
  InsufficientAccessError,
  InvalidCredentialsError,
  OrFilter,
  ResultCodeError,
  UnwillingToPerformError,
  type Client,
  type Entry,
  type Filter,
} from 'ldapts';
import { z } from 'zod';
import { LDAP_RULES } from '../../identity/ldap/rules.ts';
import { DnError, normalizeDn } from '../../identity/ldap/dn.ts';
import { LdapPool } from './ldap-pool.ts';
import { DirectoryUnavailableError, type DirectoryUser, type PrincipalType, type UserDirectory } from './types.ts';

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'an environment variable name');
const dn = z.string().refine((v) => {
  try {
    normalizeDn(v);
    return v.trim() !== '';
  } catch (e) {
    if (e instanceof DnError) return false;
    throw e;
  }
}, 'an RFC 4514 distinguished name');

export const ldapDirectoryConfigSchema = z
  .object({
    type: z.literal('ldap'),
    /** ldap://host:port or ldaps://host:port; nothing after the host. */
    url: z.string().regex(/^ldaps?:\/\/[^/?#\s]+\/?$/i, 'ldap://HOST:PORT or ldaps://HOST:PORT'),
    /** The directory's base; users below ou=people, groups below ou=groups. */
    base_dn: dn,
    /** The service account that searches (LLDAP: a user in lldap_strict_readonly). */
    bind_dn: dn,
    bind_password_env: envName.optional(),
    bind_password_file: z.string().min(1).optional(),
    /** Tenant of every user of this directory (the canonical LDAP schema keeps one tenant per directory). */
    tenant: z.string().regex(/^tenant:(platform|[a-z0-9][a-z0-9_-]{0,62})$/, 'tenant:platform or tenant:<id>'),
    /** Upgrade ldap:// with StartTLS before anything else is sent. */
    start_tls: z.boolean().default(false),
    tls: z
      .object({
        /** CA of the directory's certificate (the system's CAs otherwise). */
        ca_file: z.string().min(1).optional(),
        /** Client certificate and key, when the directory asks for one. */
        cert_file: z.string().min(1).optional(),
        key_file: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    /** Connect, operation and pool-wait timeout. */
    timeout_ms: z.number().int().min(100).max(60_000).default(5000),
    pool: z
      .object({ size: z.number().int().min(1).max(64).default(4) })
      .strict()
      .default({ size: 4 }),
    /** Treat the directory's mail addresses as verified (LDAP has no such flag; Keycloak calls this "trust email"). */
    trust_email: z.boolean().default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.bind_password_env === undefined) === (c.bind_password_file === undefined))
      ctx.addIssue({ code: 'custom', path: ['bind_password_env'], message: 'set exactly one of bind_password_env and bind_password_file' });
    if (c.start_tls && /^ldaps:/i.test(c.url)) ctx.addIssue({ code: 'custom', path: ['start_tls'], message: 'start_tls is for ldap:// URLs; ldaps:// is TLS already' });
    if ((c.tls.cert_file === undefined) !== (c.tls.key_file === undefined))
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'cert_file and key_file go together' });
  });
export type LdapDirectoryConfig = z.output<typeof ldapDirectoryConfigSchema>;

/** Whether the connection carries passwords in the clear (ldap:// without StartTLS). */
export function ldapInClear(c: LdapDirectoryConfig): boolean {
  return /^ldap:/i.test(c.url) && !c.start_tls;
}

/** The bind password, from the environment or a file (one trailing newline dropped). Throws naming the field. */
export function ldapBindPassword(c: LdapDirectoryConfig, env: NodeJS.ProcessEnv, field: string): string {
  if (c.bind_password_env !== undefined) {
    const v = env[c.bind_password_env];
    if (!v) throw new Error(`${field}.bind_password_env: environment variable ${c.bind_password_env} is not set`);
    return v;
  }
  let text: string;
  try {
    text = readFileSync(c.bind_password_file!, 'utf8');
  } catch (e) {
    throw new Error(`${field}.bind_password_file: cannot read ${c.bind_password_file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const v = text.replace(/\r?\n$/, '');
  if (!v) throw new Error(`${field}.bind_password_file: ${c.bind_password_file} is empty`);
  return v;
}

function tlsOptions(c: LdapDirectoryConfig, field: string): ConnectionOptions {
  const read = (path: string | undefined, name: string) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      throw new Error(`${field}.tls.${name}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  const ca = read(c.tls.ca_file, 'ca_file');
  const cert = read(c.tls.cert_file, 'cert_file');
  const key = read(c.tls.key_file, 'key_file');
  return { minVersion: 'TLSv1.2', ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

const users = LDAP_RULES.entry_types.user;
const groups = LDAP_RULES.entry_types.group;
const DISABLED = LDAP_RULES.account_state.disabled_group.toLowerCase();
const USERNAME = new RegExp(users.naming.pattern);
/** The canonical model's user id pattern: anything else in employeeNumber is not a usable stable id. */
const USER_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const PRINCIPAL_TYPES: readonly string[] = ['human', 'service', 'agent'];
const USER_ATTRIBUTES = ['uid', 'cn', 'displayName', 'givenName', 'sn', 'mail', 'employeeNumber', 'employeeType'];

const eq = (attribute: string, value: string) => new EqualityFilter({ attribute, value });
const first = (e: Entry, name: string): string | undefined => {
  const key = Object.keys(e).find((k) => k.toLowerCase() === name.toLowerCase());
  const v = key === undefined ? undefined : e[key];
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  const s = list[0];
  return s === undefined ? undefined : Buffer.isBuffer(s) ? s.toString('utf8') : String(s);
};
/** Results of a user bind that mean "these credentials do not sign in", as opposed to "the directory is down". */
const REFUSED_BIND = [InvalidCredentialsError, InappropriateAuthError, InsufficientAccessError, UnwillingToPerformError];

export interface LdapDirectoryDeps {
  env: NodeJS.ProcessEnv;
  /** Field path for configuration errors, e.g. idp.realms.0.directory. */
  field: string;
  /** Operator log for entries that cannot be users (never a credential). */
  warn?: ((message: string) => void) | undefined;
}

export class LdapUserDirectory implements UserDirectory {
  readonly kind = 'ldap';
  readonly description: string;
  readonly #cfg: LdapDirectoryConfig;
  readonly #search: LdapPool;
  readonly #auth: LdapPool;
  readonly #people: string;
  readonly #groups: string;
  readonly #warn: (message: string) => void;

  constructor(cfg: LdapDirectoryConfig, deps: LdapDirectoryDeps) {
    this.#cfg = cfg;
    const url = new URL(cfg.url);
    this.description = `${url.protocol}//${url.host}`;
    const base = { url, startTls: cfg.start_tls, tls: tlsOptions(cfg, deps.field), timeoutMs: cfg.timeout_ms, size: cfg.pool.size };
    this.#search = new LdapPool({ ...base, bind: { dn: cfg.bind_dn, password: ldapBindPassword(cfg, deps.env, deps.field) } });
    this.#auth = new LdapPool(base);
    this.#people = `${LDAP_RULES.layout.containers.people.rdn},${cfg.base_dn}`;
    this.#groups = `${LDAP_RULES.layout.containers.groups.rdn},${cfg.base_dn}`;
    this.#warn = deps.warn ?? (() => {});
  }

  async getUser(id: string): Promise<DirectoryUser | undefined> {
    if (!USER_ID.test(id)) return undefined;
    return this.#searching(async (c) => {
      const entry = await this.#findUser(c, eq('employeeNumber', id));
      return entry ? this.#toUser(c, entry) : undefined;
    });
  }

  async authenticate(username: string, password: string): Promise<DirectoryUser | undefined> {
    const uid = username.toLowerCase();
    // An empty password would make a simple bind "unauthenticated" (RFC 4513 §5.1.2), which servers accept.
    if (password === '' || !USERNAME.test(uid)) return undefined;
    const found = await this.#searching(async (c) => {
      const entry = await this.#findUser(c, eq('uid', uid));
      const user = entry ? await this.#toUser(c, entry) : undefined;
      return entry && user ? { dn: entry.dn, user } : undefined;
    });
    // An unknown user is still bound for (its DN as it would be, which fails), so the answer takes as long as a
    // wrong password does and response times do not tell which usernames exist.
    const dn = found?.dn ?? `uid=${uid},${this.#people}`;
    let accepted: boolean;
    try {
      accepted = await this.#auth.use(async (c) => {
        try {
          await c.bind(dn, password);
          return true;
        } catch (e) {
          if (REFUSED_BIND.some((k) => e instanceof k)) return false;
          throw e;
        }
      });
    } catch (e) {
      throw this.#unavailable(e);
    }
    return accepted && found ? found.user : undefined;
  }

  async close(): Promise<void> {
    await Promise.all([this.#search.close(), this.#auth.close()]);
  }

  /** Runs a search on the service pool; every failure there means the directory cannot answer. */
  async #searching<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    try {
      return await this.#search.use(fn);
    } catch (e) {
      throw this.#unavailable(e);
    }
  }

  #unavailable(e: unknown): DirectoryUnavailableError {
    if (e instanceof DirectoryUnavailableError) return e;
    const reason =
      e instanceof InvalidCredentialsError
        ? 'the service account bind was refused'
        : e instanceof ResultCodeError
          ? `${e.name} (${e.code})`
          : ((e as NodeJS.ErrnoException).code ?? (e as Error).message ?? String(e));
    // The operator's log says why (the events only that it happened); never a credential.
    this.#warn(`directory ${this.description} is unavailable: ${reason}`);
    return new DirectoryUnavailableError(this.description, reason);
  }

  /** The one user entry the filter names below ou=people; two are a directory fault, reported and refused. */
  async #findUser(c: Client, match: Filter): Promise<Entry | undefined> {
    const filter = new AndFilter({ filters: [eq('objectClass', users.object_classes.required[0]!), match] });
    const { searchEntries } = await c.search(this.#people, { scope: 'sub', filter, attributes: USER_ATTRIBUTES, sizeLimit: 2 });
    if (searchEntries.length > 1) {
      this.#warn(`directory ${this.description}: ${filter.toString()} matches several entries below ${this.#people}; none of them can sign in`);
      return undefined;
    }
    return searchEntries[0];
  }

  async #groupsOf(c: Client, userDn: string): Promise<string[]> {
    const filter = new AndFilter({
      filters: [
        new OrFilter({ filters: [eq('objectClass', groups.object_classes.required[0]!), eq('objectClass', 'groupOfNames')] }),
        new OrFilter({ filters: [...new Set([LDAP_RULES.membership.attribute, ...LDAP_RULES.membership.mirror_attributes_on_read])].map((a) => eq(a, userDn)) }),
      ],
    });
    const { searchEntries } = await c.search(this.#groups, { scope: 'sub', filter, attributes: [groups.naming.rdn_attribute], paged: { pageSize: 500 } });
    return [...new Set(searchEntries.map((g) => first(g, groups.naming.rdn_attribute)).filter((n): n is string => !!n))].sort();
  }

  /** The provider's view of an entry; undefined (and a warning) when it lacks what the canonical schema requires. */
  async #toUser(c: Client, e: Entry): Promise<DirectoryUser | undefined> {
    const id = first(e, 'employeeNumber');
    const uid = first(e, 'uid');
    const type = first(e, 'employeeType');
    if (!id || !USER_ID.test(id) || !uid || !type || !PRINCIPAL_TYPES.includes(type)) {
      this.#warn(`directory ${this.description}: ${e.dn} lacks a usable employeeNumber (the stable id), uid or employeeType (human, service, agent); it cannot sign in`);
      return undefined;
    }
    const memberOf = await this.#groupsOf(c, e.dn);
    const mail = first(e, 'mail') ?? null;
    // person requires sn, so the canonical mapping writes the username there for a user without a family name: that
    // placeholder is no family name, and the same document gives the same claims from either directory.
    const sn = first(e, 'sn');
    return {
      id,
      username: uid,
      displayName: first(e, 'displayName') ?? first(e, 'cn') ?? null,
      givenName: first(e, 'givenName') || null,
      familyName: sn && sn !== uid ? sn : null,
      email: mail,
      emailVerified: this.#cfg.trust_email && mail !== null,
      enabled: !memberOf.some((g) => g.toLowerCase() === DISABLED),
      principalType: type as PrincipalType,
      tenant: this.#cfg.tenant,
      groups: memberOf.filter((g) => g.toLowerCase() !== DISABLED),
      // Roles are not directory data: they come from the realm document's group→role bindings.
      roles: [],
    };
  }
}
