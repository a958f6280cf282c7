// The deprecated realm file (YAML), Keyward's format before realms became canonical identity documents
// (realm-document.ts). Still read, with a deprecation warning from `keyward idp apply`, and applied through the same
// plan: secrets never appear in the file (an argon2id hash or the name of an environment variable holding the
// plaintext, hashed on apply).
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { badRequest } from '../core/problem.ts';
import type { IdpRealmConfig } from './config.ts';
import { STANDARD_SCOPES } from './profile.ts';
import { applyRealmPlan, type ApplyOptions, type RealmWriter, type RealmChange, type RealmPlan } from './realm-apply.ts';

export { argonOptions } from './passwords.ts';
export type { ApplyOptions, RealmChange } from './realm-apply.ts';

const tenant = z.string().regex(/^tenant:(platform|[a-z0-9][a-z0-9_-]{0,62})$/, 'tenant is tenant:platform or tenant:<id>');
const argonHash = z.string().startsWith('$argon2id$', 'only argon2id hashes are accepted');
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/);
/** The canonical model's Label. */
const label = z.string().min(1).max(256).regex(/^[^\u0000-\u001f\u007f]+$/, 'no control characters');
const redirectUri = z
  .string()
  .refine((u) => !u.includes('*'), 'wildcard redirect URIs are rejected for profile safety')
  .refine((u) => URL.canParse(u) && !new URL(u).hash, 'redirect URIs are absolute URLs without fragment');

const userSchema = z
  .object({
    id: z.string().min(1).max(128),
    username: z.string().min(1).max(128),
    display_name: z.string().optional(),
    // The canonical model's users[].directory names (OIDC given_name, family_name).
    given_name: label.optional(),
    family_name: label.optional(),
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

/** The realm file as a plan for the built-in tables; users are left out when the realm reads them from elsewhere. */
export function planFromRealmFile(file: RealmFile, realm: IdpRealmConfig): RealmPlan {
  const builtin = realm.directory.type === 'builtin';
  return {
    realm: file.realm,
    roles: file.roles.map((r) => ({ name: r.name, description: r.description ?? null })),
    groups: file.groups.map((g) => ({ name: g.name, description: g.description ?? null, roles: g.roles })),
    users: builtin
      ? file.users.map((u) => ({
          id: u.id,
          username: u.username,
          displayName: u.display_name ?? null,
          givenName: u.given_name ?? null,
          familyName: u.family_name ?? null,
          email: u.email ?? null,
          emailVerified: u.email_verified,
          enabled: u.enabled,
          principalType: u.principal_type,
          tenant: u.tenant,
          groups: u.groups,
          roles: u.roles,
          password: { hash: u.password_hash, env: u.password_env },
        }))
      : undefined,
    clients: file.clients.map((c) => ({
      clientId: c.client_id,
      enabled: c.enabled,
      name: c.name ?? c.client_id,
      redirectUris: c.redirect_uris,
      postLogoutRedirectUris: c.post_logout_redirect_uris,
      grantTypes: c.grant_types,
      scopes: c.scopes,
      authMethod: c.auth_method,
      jwks: (c.jwks as RealmPlan['clients'][number]['jwks']) ?? null,
      signingAlg: c.signing_alg,
      mfa: c.mfa,
      principalType: c.principal_type,
      tenant: c.tenant,
      roles: c.roles,
      groups: c.groups,
      secret: { hash: c.secret_hash, env: c.secret_env },
    })),
    notes: !builtin && file.users.length > 0 ? [`- users: not applied; realm ${realm.name} reads its users from its ${realm.directory.type} directory`] : [],
  };
}

export async function applyRealmFile(repos: RealmWriter, realm: IdpRealmConfig, file: RealmFile, opts: ApplyOptions): Promise<RealmChange[]> {
  if (file.realm !== realm.name) throw badRequest('idp.realm_mismatch', `the file is for realm ${file.realm}, not ${realm.name}`);
  validate(file, realm);
  return applyRealmPlan(repos, realm, planFromRealmFile(file, realm), opts);
}
