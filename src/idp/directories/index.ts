// The one place directory kinds are registered: how each is built, and what `keyward config check` and production
// mode check about it. A new kind is its configuration fragment in config.ts, one file, and one entry here.
import type { IdpConfig, IdpRealmConfig } from '../config.ts';
import type { Directory } from '../store/directory.ts';
import { ldapBindPassword, ldapInClear, type BuiltinDirectoryConfig, type DirectoryConfig, type LdapDirectoryConfig } from './config.ts';
import type { UserDirectory } from './types.ts';

export { directoryConfigSchema, type DirectoryConfig } from './config.ts';

export interface DirectoryDeps {
  /** The realm's built-in tables (users of the built-in directory). */
  store: Directory;
  argon2: IdpConfig['argon2'];
  env: NodeJS.ProcessEnv;
  /** Field path of the realm's directory section, for configuration errors. */
  field: string;
  warn?: ((message: string) => void) | undefined;
}

interface DirectoryKind<C> {
  /** Loads the kind's implementation (and its library) only for a realm that uses it. */
  create(cfg: C, deps: DirectoryDeps): Promise<UserDirectory>;
  /** Start-up checks that need no network (secrets present, files readable); messages start with the field path. */
  startupProblems(cfg: C, env: NodeJS.ProcessEnv, field: string): string[];
  /** What production mode refuses. */
  productionProblems(cfg: C, field: string): string[];
}

const LOOPBACK = /^(localhost|127\.[0-9.]+|\[::1\])(:[0-9]+)?$/i;

const KINDS: { builtin: DirectoryKind<BuiltinDirectoryConfig>; ldap: DirectoryKind<LdapDirectoryConfig> } = {
  builtin: {
    create: async (_cfg, deps) => new (await import('./builtin.ts')).BuiltinUserDirectory(deps.store, deps.argon2),
    startupProblems: () => [],
    productionProblems: () => [],
  },
  ldap: {
    create: async (cfg, deps) => new (await import('./ldap.ts')).LdapUserDirectory(cfg, { env: deps.env, field: deps.field, warn: deps.warn }),
    startupProblems: (cfg, env, field) => {
      const problems: string[] = [];
      try {
        ldapBindPassword(cfg, env, field);
      } catch (e) {
        problems.push((e as Error).message);
      }
      return problems;
    },
    // Users type their passwords into Keyward, which hands them to the directory: never over plain ldap:// to
    // another machine.
    productionProblems: (cfg, field) =>
      ldapInClear(cfg) && !LOOPBACK.test(new URL(cfg.url).host)
        ? [`${field}.url: ${cfg.url} would carry passwords in the clear; use ldaps:// or start_tls: true`]
        : [],
  },
};

function kind(cfg: DirectoryConfig): DirectoryKind<DirectoryConfig> {
  return KINDS[cfg.type] as DirectoryKind<DirectoryConfig>;
}

export function createUserDirectory(realm: IdpRealmConfig, deps: DirectoryDeps): Promise<UserDirectory> {
  return kind(realm.directory).create(realm.directory, deps);
}

export function directoryStartupProblems(idp: IdpConfig, env: NodeJS.ProcessEnv): string[] {
  return idp.realms.flatMap((r, i) => kind(r.directory).startupProblems(r.directory, env, `idp.realms.${i}.directory`));
}

export function directoryProductionProblems(idp: IdpConfig): string[] {
  return idp.realms.flatMap((r, i) => kind(r.directory).productionProblems(r.directory, `idp.realms.${i}.directory`));
}

export { isDirectoryUnavailable, DirectoryUnavailableError, type DirectoryUser, type UserDirectory } from './types.ts';
