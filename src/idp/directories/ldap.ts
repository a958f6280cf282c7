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
import { LDAP_RULES } from '../../identity/ldap/rules.ts';
import { ldapBindPassword, type LdapDirectoryConfig } from './config.ts';
import { LdapPool } from './ldap-pool.ts';
import { DirectoryUnavailableError, type DirectoryUser, type PrincipalType, type UserDirectory } from './types.ts';

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
