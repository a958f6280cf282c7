// A realm is a canonical identity document (KeyCape §10, schemas/identity/keycape-identity-v0.1.schema.json):
// `keyward idp apply` and `keyward identity provision --to builtin` read one, check it (the identity rules, then
// what this server's configuration of the realm needs) and write it into the built-in tables.
//
// What goes where: roles, groups (with their roles), clients and their scope assignments always go to the tables;
// users and memberships too when the realm's directory is the built-in one. A realm backed by LDAP reads users and
// memberships from the directory (provision them with `--to ldap://…`), so they are left out here, and only the
// document's group→role bindings give LDAP users their roles. Secrets stay references: `password` and `secret` are
// {env} (read and hashed when applied) or {argon2id_hash}, as the model defines them. Server settings that are not
// identity data (role permissions, MFA policy, theme, lifetimes) stay in the configuration.
import type { Finding } from '../identity/findings.ts';
import type { Client, IdentityDocument, SecretReference } from '../identity/model.ts';
import { provisionDocument, type ProvisionOutcome, type ProvisionTarget } from '../identity/provision.ts';
import { parseIdentityText } from '../identity/validate.ts';
import type { IdpConfig, IdpRealmConfig } from './config.ts';
import { applyRealmPlan, describeChange, type RealmWriter, type RealmPlan, type SecretSource } from './realm-apply.ts';
import { parseRealmFile, type RealmFile } from './realm-file.ts';

/** What this server checks about a valid document before applying it (beyond the identity rules). */
export const REALM_DOCUMENT_RULES = {
  'idp.realm_unknown': "the document's realm is configured (idp.realms)",
  'idp.realm_profile_mismatch': "the document's profile version is the one the server implements (idp.profile_version)",
  'idp.realm_environment_undeclared': 'the document declares the environment the server runs in (idp.environment)',
  'idp.realm_scope_not_configured': "every custom scope the document's profile version declares is configured for the realm (custom_scopes)",
  'idp.realm_public_clients_not_allowed': 'public clients only where the realm configuration allows them (public_clients_allowed)',
  'idp.realm_tenant_mismatch': "an LDAP-backed realm's document names the directory's tenant",
  'idp.realm_user_roles_ignored': "an LDAP-backed realm gives users roles through groups only: a user's direct roles are not applied (warning)",
  'idp.realm_secret_env_missing': 'every environment variable a password or client secret references is set',
} as const;
export type RealmDocumentCode = keyof typeof REALM_DOCUMENT_RULES;
export const REALM_DOCUMENT_CODES: readonly string[] = Object.keys(REALM_DOCUMENT_RULES);

const secretSource = (ref: SecretReference | undefined): SecretSource =>
  ref === undefined ? {} : 'env' in ref ? { env: ref.env } : { hash: ref.argon2id_hash };

/** Clients of the document that exist in the environment the server runs in (§10.4 environment applicability). */
const applicable = (doc: IdentityDocument, idp: IdpConfig): Client[] => doc.clients.filter((c) => c.environments.includes(idp.environment));

function realmOf(doc: IdentityDocument, idp: IdpConfig): IdpRealmConfig | undefined {
  return idp.realms.find((r) => r.name === doc.realm);
}

/** This server's checks of a document that passed the identity rules. */
export function realmDocumentFindings(doc: IdentityDocument, idp: IdpConfig, source: string, env: NodeJS.ProcessEnv): Finding[] {
  const findings: Finding[] = [];
  const add = (code: RealmDocumentCode, path: string, message: string, severity: 'error' | 'warning' = 'error') =>
    findings.push({ code, severity, message, source, path });
  const realm = realmOf(doc, idp);
  if (!realm) {
    add('idp.realm_unknown', '/realm', `realm ${doc.realm} is not configured on this server (configured: ${idp.realms.map((r) => r.name).join(', ')})`);
    return findings;
  }
  const pv = doc.profile_versions[0]!;
  if (pv.version !== idp.profile_version)
    add('idp.realm_profile_mismatch', '/profile_versions/0/version', `the document follows profile ${pv.version}, the server implements ${idp.profile_version}`);
  if (!doc.environments.includes(idp.environment))
    add('idp.realm_environment_undeclared', '/environments', `the server runs in environment ${idp.environment}, which the document does not declare: none of its clients would apply`);
  const configured = new Set(realm.custom_scopes.map((s) => s.name));
  pv.custom_scopes.forEach((s, i) => {
    if (!configured.has(s.name))
      add('idp.realm_scope_not_configured', `/profile_versions/0/custom_scopes/${i}/name`, `custom scope ${s.name} is not configured for realm ${realm.name} (custom_scopes)`);
  });
  if (!realm.public_clients_allowed)
    doc.clients.forEach((c, i) => {
      if (c.type === 'public' && c.environments.includes(idp.environment))
        add('idp.realm_public_clients_not_allowed', `/clients/${i}/type`, `realm ${realm.name} does not allow public clients (public_clients_allowed), so ${c.client_id} cannot be applied`);
    });
  const ldap = realm.directory.type === 'ldap' ? realm.directory : undefined;
  if (ldap && doc.tenant !== ldap.tenant)
    add('idp.realm_tenant_mismatch', '/tenant', `realm ${realm.name} reads users of ${ldap.tenant} from its directory; the document is for ${doc.tenant}`);
  if (ldap)
    doc.users.forEach((u, i) => {
      if (u.roles?.length)
        add('idp.realm_user_roles_ignored', `/users/${i}/roles`, `realm ${realm.name} reads ${u.username} from LDAP, where roles come from groups only; direct roles are not applied`, 'warning');
    });
  const missing = (ref: SecretReference | undefined, path: string, what: string) => {
    if (ref && 'env' in ref && !env[ref.env]) add('idp.realm_secret_env_missing', path, `${what}: environment variable ${ref.env} is not set`);
  };
  if (!ldap) doc.users.forEach((u, i) => missing(u.password, `/users/${i}/password/env`, `user ${u.username}`));
  doc.clients.forEach((c, i) => {
    if (c.environments.includes(idp.environment)) missing(c.secret, `/clients/${i}/secret/env`, `client ${c.client_id}`);
  });
  return findings;
}

/** The document as a plan for the built-in tables (call after the checks passed). */
export function planFromDocument(doc: IdentityDocument, idp: IdpConfig): RealmPlan {
  const realm = realmOf(doc, idp)!;
  const builtin = realm.directory.type === 'builtin';
  const scopesOf = (clientId: string) => doc.client_scope_assignments.filter((a) => a.client_id === clientId).map((a) => a.scope);
  const groupsOf = (userId: string) => doc.memberships.filter((m) => m.user_id === userId).map((m) => m.group).sort();
  const notes: string[] = [];
  const clients = applicable(doc, idp);
  for (const c of doc.clients) if (!clients.includes(c)) notes.push(`- client ${c.client_id}: not for environment ${idp.environment} (${c.environments.join(', ')}); left alone`);
  if (!builtin && doc.users.length > 0)
    notes.push(`- users and memberships: not applied; realm ${realm.name} reads them from its ${realm.directory.type} directory (keyward identity provision --to ldap://…)`);
  return {
    realm: doc.realm,
    roles: doc.roles.map((r) => ({ name: r.name, description: r.description ?? null })),
    groups: doc.groups.map((g) => ({ name: g.name, description: g.description ?? null, roles: [...g.roles] })),
    users: builtin
      ? doc.users.map((u) => ({
          id: u.id,
          username: u.username,
          displayName: u.display_name,
          givenName: u.directory?.given_name ?? null,
          familyName: u.directory?.family_name ?? null,
          email: u.email,
          emailVerified: u.email_verified ?? false,
          enabled: u.enabled,
          principalType: u.principal_type,
          tenant: u.tenant ?? doc.tenant,
          groups: groupsOf(u.id),
          roles: [...(u.roles ?? [])],
          password: secretSource(u.password),
        }))
      : undefined,
    clients: clients.map((c) => ({
      clientId: c.client_id,
      enabled: c.enabled,
      name: c.name,
      redirectUris: [...c.redirect_uris],
      postLogoutRedirectUris: [...(c.post_logout_redirect_uris ?? [])],
      grantTypes: [...c.grant_types],
      scopes: scopesOf(c.client_id),
      authMethod: c.auth_method,
      jwks: (c.jwks as RealmPlan['clients'][number]['jwks']) ?? null,
      signingAlg: c.token_profile.signing_alg,
      mfa: c.mfa ?? 'optional',
      principalType: c.principal?.principal_type ?? 'service',
      tenant: c.principal?.tenant ?? doc.tenant,
      roles: [...(c.principal?.roles ?? [])],
      groups: [...(c.principal?.groups ?? [])],
      secret: secretSource(c.secret),
    })),
    mfaReferences: doc.mfa_enrollments.map((e) => ({ ...e })),
    notes,
  };
}

/** A realm input file: a canonical identity document, or the deprecated realm file. */
export type RealmInput =
  | { format: 'document'; data: unknown }
  | { format: 'legacy'; file: RealmFile };

/**
 * Reads a realm file's text (JSON or YAML). A document states `schema_version`; anything else is taken for the
 * deprecated realm file, whose own schema then decides. Throws idp.realm_file_invalid for an unreadable legacy file.
 */
export function readRealmInput(text: string, source: string): RealmInput | { finding: Finding } {
  const parsed = parseIdentityText(text, source);
  if ('finding' in parsed) return parsed;
  const data = parsed.data;
  if (data !== null && typeof data === 'object' && !Array.isArray(data) && 'schema_version' in data) return { format: 'document', data };
  return { format: 'legacy', file: parseRealmFile(text) };
}

/**
 * Validates a canonical document (the identity rules, then this server's) and applies it to the built-in tables;
 * refuses it, writing nothing, on any error. The same flow as `keyward identity provision --to builtin`.
 */
export function applyRealmDocument(repos: RealmWriter, idp: IdpConfig, data: unknown, source: string, opts: { dryRun: boolean; env: NodeJS.ProcessEnv }): Promise<ProvisionOutcome> {
  return provisionDocument(data, source, builtinProvisionTarget(repos, idp, opts.env), { dryRun: opts.dryRun });
}

/** `keyward identity provision --to builtin`: the built-in tables of the realm the document names. */
export function builtinProvisionTarget(repos: RealmWriter, idp: IdpConfig, env: NodeJS.ProcessEnv): ProvisionTarget {
  return {
    name: 'builtin',
    check: (doc, source) => realmDocumentFindings(doc, idp, source, env),
    apply: async (doc, { dryRun }) => {
      const plan = planFromDocument(doc, idp);
      const changes = await applyRealmPlan(repos, realmOf(doc, idp)!, plan, { dryRun, env, argon2: idp.argon2 });
      return { lines: [...changes.map(describeChange), ...plan.notes], changed: changes.filter((c) => c.action !== 'unchanged').length };
    },
  };
}
