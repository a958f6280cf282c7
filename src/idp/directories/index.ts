// The one place directory kinds are registered: each kind's configuration fragment, how it is built, and what
// `keyward config check` and production mode check about it. A new kind is one file plus one entry here.
import { z } from 'zod';
import type { IdpConfig, IdpRealmConfig } from '../config.ts';
import type { Directory } from '../store/directory.ts';
import { BuiltinUserDirectory, builtinDirectoryConfigSchema } from './builtin.ts';
import { LdapUserDirectory, ldapBindPassword, ldapDirectoryConfigSchema, ldapInClear, type LdapDirectoryConfig } from './ldap.ts';
import type { UserDirectory } from './types.ts';

export const directoryConfigSchema = z.discriminatedUnion('type', [builtinDirectoryConfigSchema, ldapDirectoryConfigSchema]);
export type DirectoryConfig = z.output<typeof directoryConfigSchema>;

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
  create(cfg: C, deps: DirectoryDeps): UserDirectory;
  /** Start-up checks that need no network (secrets present, files readable); messages start with the field path. */
  startupProblems(cfg: C, env: NodeJS.ProcessEnv, field: string): string[];
  /** What production mode refuses. */
  productionProblems(cfg: C, field: string): string[];
}

const LOOPBACK = /^(localhost|127\.[0-9.]+|\[::1\])(:[0-9]+)?$/i;

const KINDS: { builtin: DirectoryKind<Extract<DirectoryConfig, { type: 'builtin' }>>; ldap: DirectoryKind<LdapDirectoryConfig> } = {
  builtin: {
    create: (_cfg, deps) => new BuiltinUserDirectory(deps.store, deps.argon2),
    startupProblems: () => [],
    productionProblems: () => [],
  },
  ldap: {
    create: (cfg, deps) => new LdapUserDirectory(cfg, { env: deps.env, field: deps.field, warn: deps.warn }),
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

export function createUserDirectory(realm: IdpRealmConfig, deps: DirectoryDeps): UserDirectory {
  return kind(realm.directory).create(realm.directory, deps);
}

export function directoryStartupProblems(idp: IdpConfig, env: NodeJS.ProcessEnv): string[] {
  return idp.realms.flatMap((r, i) => kind(r.directory).startupProblems(r.directory, env, `idp.realms.${i}.directory`));
}

export function directoryProductionProblems(idp: IdpConfig): string[] {
  return idp.realms.flatMap((r, i) => kind(r.directory).productionProblems(r.directory, `idp.realms.${i}.directory`));
}

export { isDirectoryUnavailable, DirectoryUnavailableError, type DirectoryUser, type UserDirectory } from './types.ts';
