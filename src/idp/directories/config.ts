// The directory kinds' configuration fragments and the checks that need no connection: what the configuration
// schema, `keyward config check` and the production rules read. The directories themselves (ldap.ts with ldapts,
// builtin.ts with argon2) are loaded only by a running identity provider (index.ts).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DnError, normalizeDn } from '../../identity/ldap/dn.ts';

/** Users in Keyward's own tables. */
export const builtinDirectoryConfigSchema = z.object({ type: z.literal('builtin') }).strict();
export type BuiltinDirectoryConfig = z.output<typeof builtinDirectoryConfigSchema>;

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

/** An LDAP server in LLDAP's layout (ldap.ts). */
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

export const directoryConfigSchema = z.discriminatedUnion('type', [builtinDirectoryConfigSchema, ldapDirectoryConfigSchema]);
export type DirectoryConfig = z.output<typeof directoryConfigSchema>;
