// The declarative realm file (YAML), applied idempotently: entities are upserted by id, unchanged ones are
// left alone, and --dry-run reports the same diff without writing. Secrets never appear in the file: give
// an argon2id hash or the name of an environment variable holding the plaintext (hashed on apply).
import { hash, verify } from '@node-rs/argon2';
import type { Kysely } from 'kysely';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { badRequest } from '../core/problem.ts';
import type { IdpConfig, IdpRealmConfig } from './config.ts';
import { STANDARD_SCOPES } from './profile.ts';
import { Directory, type IdpClient, type IdpUser } from './store/directory.ts';

const tenant = z.string().regex(/^tenant:(platform|[a-z0-9][a-z0-9_-]{0,62})$/, 'tenant is tenant:platform or tenant:<id>');
const argonHash = z.string().startsWith('$argon2id$', 'only argon2id hashes are accepted');
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/);
const redirectUri = z
  .string()
  .refine((u) => !u.includes('*'), 'wildcard redirect URIs are rejected for profile safety')
  .refine((u) => URL.canParse(u) && !new URL(u).hash, 'redirect URIs are absolute URLs without fragment');

const userSchema = z
  .object({
    id: z.string().min(1).max(128),
    username: z.string().min(1).max(128),
    display_name: z.string().optional(),
    email: z.email().optional(),
    email_verified: z.boolean().default(false),
    enabled: z.boolean().default(true),
    principal_type: z.enum(['human', 'agent']).default('human'),
    tenant: tenant.default('tenant:platform'),
    groups: z.array(z.string()).default([]),
    roles: z.array(z.string()).default([]),
    password_hash: argonHash.optional(),
    password_env: envName.optional(),
  })
  .strict();

const clientSchema = z
  .object({
    client_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/),
    name: z.string().optional(),
    enabled: z.boolean().default(true),
    redirect_uris: z.array(redirectUri).default([]),
    post_logout_redirect_uris: z.array(redirectUri).default([]),
    grant_types: z.array(z.enum(['authorization_code', 'refresh_token', 'client_credentials'])).min(1),
    scopes: z.array(z.string()).default(['openid']),
    auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']).default('client_secret_basic'),
    secret_hash: argonHash.optional(),
    secret_env: envName.optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
    signing_alg: z.enum(['ES256', 'RS256']).default('ES256'),
    mfa: z.enum(['required', 'optional']).default('optional'),
    principal_type: z.enum(['service', 'agent']).default('service'),
    tenant: tenant.default('tenant:platform'),
    roles: z.array(z.string()).default([]),
    groups: z.array(z.string()).default([]),
  })
  .strict();

export const realmFileSchema = z
  .object({
    realm: z.string(),
    roles: z.array(z.object({ name: z.string().min(1), description: z.string().optional() }).strict()).default([]),
    groups: z
      .array(z.object({ name: z.string().min(1), description: z.string().optional(), roles: z.array(z.string()).default([]) }).strict())
      .default([]),
    users: z.array(userSchema).default([]),
    clients: z.array(clientSchema).default([]),
  })
  .strict();
export type RealmFile = z.output<typeof realmFileSchema>;

export interface RealmChange {
  kind: 'role' | 'group' | 'user' | 'client';
  id: string;
  action: 'create' | 'update' | 'unchanged';
  fields?: string[];
}

export interface ApplyOptions {
  dryRun: boolean;
  env: NodeJS.ProcessEnv;
  argon2: IdpConfig['argon2'];
}

export function argonOptions(a: IdpConfig['argon2']) {
  // @node-rs/argon2 defaults to argon2id; the parameters are Keyward's.
  return { memoryCost: a.memory_kib, timeCost: a.iterations, parallelism: a.parallelism };
}

export function parseRealmFile(text: string): RealmFile {
  const parsed = realmFileSchema.safeParse(parseYaml(text));
  if (!parsed.success) {
    throw badRequest('idp.realm_file_invalid', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

function validate(file: RealmFile, realm: IdpRealmConfig): void {
  const scopes = new Set<string>([...STANDARD_SCOPES, ...realm.custom_scopes.map((s) => s.name)]);
  const errors: string[] = [];
  for (const c of file.clients) {
    for (const s of c.scopes) if (!scopes.has(s)) errors.push(`client ${c.client_id}: unknown scope ${s}`);
    if (c.auth_method === 'none' && !realm.public_clients_allowed) errors.push(`client ${c.client_id}: public clients are not allowed by the profile`);
    if (c.grant_types.includes('authorization_code') && c.redirect_uris.length === 0) errors.push(`client ${c.client_id}: redirect_uris required`);
    if (c.grant_types.includes('client_credentials') && c.roles.length === 0) errors.push(`client ${c.client_id}: service principals need roles`);
    if (c.auth_method === 'private_key_jwt' && !c.jwks) errors.push(`client ${c.client_id}: private_key_jwt needs jwks`);
    if ((c.auth_method === 'client_secret_basic' || c.auth_method === 'client_secret_post') && !c.secret_hash && !c.secret_env)
      errors.push(`client ${c.client_id}: secret_hash or secret_env required`);
  }
  for (const u of file.users) if (u.roles.length === 0 && u.groups.length === 0) errors.push(`user ${u.username}: roles must not be empty`);
  if (errors.length) throw badRequest('idp.realm_file_invalid', errors.join('; '));
}

async function resolveSecret(
  existing: string | null | undefined,
  givenHash: string | undefined,
  env: string | undefined,
  opts: ApplyOptions,
  what: string,
): Promise<string | null> {
  if (givenHash) return givenHash;
  if (!env) return existing ?? null;
  const plain = opts.env[env];
  if (!plain) throw badRequest('idp.secret_env_missing', `${what}: environment variable ${env} is not set`);
  // Keep the stored hash when it still matches, so re-applying is a no-op.
  if (existing && (await verify(existing, plain).catch(() => false))) return existing;
  return opts.dryRun ? '(new hash)' : hash(plain, argonOptions(opts.argon2));
}

function diffFields(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  return Object.keys(after).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

export async function applyRealmFile(db: Kysely<any>, realm: IdpRealmConfig, file: RealmFile, opts: ApplyOptions): Promise<RealmChange[]> {
  if (file.realm !== realm.name) throw badRequest('idp.realm_mismatch', `the file is for realm ${file.realm}, not ${realm.name}`);
  validate(file, realm);
  const dir = new Directory(db, realm.name);
  const changes: RealmChange[] = [];
  const note = (kind: RealmChange['kind'], id: string, before: Record<string, unknown> | undefined, after: Record<string, unknown>) => {
    if (!before) changes.push({ kind, id, action: 'create' });
    else {
      const fields = diffFields(before, after);
      changes.push(fields.length ? { kind, id, action: 'update', fields } : { kind, id, action: 'unchanged' });
    }
    return changes[changes.length - 1]!.action !== 'unchanged';
  };

  const roles = new Map((await dir.listRoles()).map((r) => [r.name, r]));
  for (const r of file.roles) {
    const after = { name: r.name, description: r.description ?? null };
    if (note('role', r.name, roles.get(r.name), after) && !opts.dryRun) await dir.putRole(r.name, after.description);
  }
  const groups = new Map((await dir.listGroups()).map((g) => [g.name, g]));
  for (const g of file.groups) {
    const after = { name: g.name, description: g.description ?? null, roles: g.roles };
    if (note('group', g.name, groups.get(g.name) as Record<string, unknown> | undefined, after) && !opts.dryRun) await dir.putGroup(after);
  }
  for (const u of file.users) {
    const before = await dir.getUser(u.id);
    const after: IdpUser = {
      id: u.id,
      username: u.username,
      displayName: u.display_name ?? null,
      email: u.email ?? null,
      emailVerified: u.email_verified,
      enabled: u.enabled,
      principalType: u.principal_type,
      tenant: u.tenant,
      groups: u.groups,
      roles: u.roles,
      passwordHash: await resolveSecret(before?.passwordHash, u.password_hash, u.password_env, opts, `user ${u.username}`),
    };
    if (note('user', u.id, before as unknown as Record<string, unknown>, after as unknown as Record<string, unknown>) && !opts.dryRun)
      await dir.putUser(after);
  }
  for (const c of file.clients) {
    const before = await dir.getClient(c.client_id);
    const after: IdpClient = {
      clientId: c.client_id,
      enabled: c.enabled,
      name: c.name ?? c.client_id,
      redirectUris: c.redirect_uris,
      postLogoutRedirectUris: c.post_logout_redirect_uris,
      grantTypes: c.grant_types,
      scopes: c.scopes,
      authMethod: c.auth_method,
      jwks: (c.jwks as IdpClient['jwks']) ?? null,
      signingAlg: c.signing_alg,
      mfa: c.mfa,
      principalType: c.principal_type,
      tenant: c.tenant,
      roles: c.roles,
      groups: c.groups,
      secretHash: await resolveSecret(before?.secretHash, c.secret_hash, c.secret_env, opts, `client ${c.client_id}`),
    };
    if (note('client', c.client_id, before as unknown as Record<string, unknown>, after as unknown as Record<string, unknown>) && !opts.dryRun)
      await dir.putClient(after);
  }
  return changes;
}
