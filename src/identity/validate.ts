// Validation of canonical identity documents: the JSON Schema first, then the cross-entity rules the schema cannot
// express (references, uniqueness, redirect URIs, the profile's client rules). Every finding has a stable dotted
// code from IDENTITY_RULES, a JSON pointer into the document and a message. Rules run only on documents that pass
// the schema, so they can rely on its shapes.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { Finding } from './findings.ts';
import { DISABLED_GROUP, STANDARD_SCOPES, SUPPORTED_PROFILE_VERSIONS, type IdentityDocument } from './model.ts';
import { identitySchemaValidator, type SchemaError } from './schema.ts';

/** Every cross-entity rule: code → what it requires. Tests hold one invalid fixture per entry. */
export const IDENTITY_RULES = {
  'identity.profile_version_count': 'a document states exactly one profile version',
  'identity.profile_version_unsupported': 'the profile version is one this validator knows (0.2)',
  'identity.custom_scope_conflict': 'custom scopes are declared once and do not redefine a standard scope',
  'identity.role_duplicate': 'role names are unique',
  'identity.group_duplicate': 'group names are unique, ignoring case (LDAP compares cn without case)',
  'identity.group_name_reserved': `no group is named ${DISABLED_GROUP} (the canonical LDAP schema's account-state group)`,
  'identity.group_role_unknown': "a group's roles exist",
  'identity.user_id_duplicate': 'user ids are unique',
  'identity.username_duplicate': 'usernames are unique',
  'identity.email_duplicate': 'email addresses are unique, ignoring case (as LLDAP requires)',
  'identity.user_role_unknown': "a user's direct roles exist",
  'identity.user_without_roles': 'every user holds at least one role, directly or through a group (profile v0.2: roles non-empty)',
  'identity.membership_unknown_user': 'a membership names an existing user',
  'identity.membership_unknown_group': 'a membership names an existing group',
  'identity.membership_duplicate': 'a user is in a group once',
  'identity.mfa_unknown_user': 'an MFA enrolment reference belongs to an existing user',
  'identity.mfa_duplicate': 'MFA enrolment reference ids are unique',
  'identity.client_duplicate': 'client ids are unique',
  'identity.client_environment_unknown': "a client's environments are declared by the document",
  'identity.client_claim_profile_mismatch': "a client's claim profile is the document's profile version",
  'identity.client_type_auth_mismatch': 'confidential clients authenticate (auth_method is not none); public clients use none',
  'identity.client_credential_missing': 'client_secret_* clients reference a secret; private_key_jwt clients carry jwks',
  'identity.client_public_credential': 'public clients have neither a secret nor jwks',
  'identity.client_public_grant': 'public clients do not use client_credentials',
  'identity.client_public_not_allowed': 'public clients exist only where the profile version allows them',
  'identity.client_pkce_missing': 'authorization_code clients declare pkce_method S256',
  'identity.client_openid_missing': 'authorization_code clients are assigned the openid scope',
  'identity.client_refresh_without_code': 'refresh_token is granted only together with authorization_code',
  'identity.service_principal_roles_missing': 'client_credentials clients act as a principal with at least one role',
  'identity.client_role_unknown': "a client principal's roles exist",
  'identity.client_group_unknown': "a client principal's groups exist",
  'identity.redirect_uri_missing': 'authorization_code clients have at least one redirect URI',
  'identity.redirect_uri_wildcard': 'redirect URIs are exact: no wildcards',
  'identity.redirect_uri_invalid': 'redirect URIs are absolute, without fragment, and not javascript:, data: or file:',
  'identity.redirect_uri_insecure': 'http redirect URIs only for loopback hosts (localhost, 127.0.0.1, [::1])',
  'identity.client_scope_unknown_client': 'a scope assignment names an existing client',
  'identity.client_scope_unknown': 'an assigned scope is a standard scope or a custom scope of the profile version',
  'identity.client_scope_duplicate': 'a scope is assigned to a client once',
} as const;
export type IdentityRuleCode = keyof typeof IDENTITY_RULES;

/** Codes that are not cross-entity rules: unreadable input and JSON Schema violations (one per schema keyword). */
export const IDENTITY_DOCUMENT_UNREADABLE = 'identity.document_unreadable';
export const SCHEMA_CODE_PREFIX = 'identity.schema.';

/** Every code `validateIdentityDocument` can produce for a well-formed file, schema keywords included. */
export const IDENTITY_CODES: readonly string[] = [
  IDENTITY_DOCUMENT_UNREADABLE,
  ...['required', 'additional_properties', 'type', 'const', 'enum', 'pattern', 'format', 'min_items', 'min_length', 'max_length', 'unique_items', 'one_of'].map(
    (k) => SCHEMA_CODE_PREFIX + k,
  ),
  ...Object.keys(IDENTITY_RULES),
];

const pointerToken = (s: string | number) => String(s).replaceAll('~', '~0').replaceAll('/', '~1');
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function schemaFinding(e: SchemaError, source: string): Finding {
  let path = e.instancePath;
  if (e.keyword === 'required') path += `/${pointerToken((e.params as { missingProperty: string }).missingProperty)}`;
  if (e.keyword === 'additionalProperties') path += `/${pointerToken((e.params as { additionalProperty: string }).additionalProperty)}`;
  let message = e.message ?? e.keyword;
  if (e.keyword === 'enum') message += `: ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (e.keyword === 'const') message += `: ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
  if (e.keyword === 'additionalProperties') message = 'property not allowed by the schema';
  if (e.keyword === 'required') message = 'required property missing';
  return { code: SCHEMA_CODE_PREFIX + snake(e.keyword), severity: 'error', message, source, path };
}

/** Parses a document file's text (JSON, or YAML for hand-written realm files). */
export function parseIdentityText(text: string, source: string): { data: unknown } | { finding: Finding } {
  try {
    // YAML 1.2 reads JSON too; unlike JSON.parse it refuses duplicate keys instead of keeping the last one.
    return { data: parseYaml(text, { prettyErrors: false }) };
  } catch (e) {
    return { finding: { code: IDENTITY_DOCUMENT_UNREADABLE, severity: 'error', message: `not JSON or YAML: ${(e as Error).message.split('\n')[0]}`, source, path: '' } };
  }
}

export async function readIdentityFile(path: string): Promise<{ data: unknown } | { finding: Finding }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { finding: { code: IDENTITY_DOCUMENT_UNREADABLE, severity: 'error', message: `cannot read: ${err.code ?? err.message}`, source: path, path: '' } };
  }
  return parseIdentityText(text, path);
}

/** Schema, then (for schema-valid documents) every cross-entity rule. */
export function validateIdentityDocument(data: unknown, source: string): Finding[] {
  const validate = identitySchemaValidator();
  if (!validate(data)) {
    const seen = new Set<string>();
    const out: Finding[] = [];
    for (const e of validate.errors ?? []) {
      const f = schemaFinding(e, source);
      const key = `${f.code} ${f.path}`;
      if (!seen.has(key)) out.push(f);
      seen.add(key);
    }
    return out;
  }
  return crossEntityFindings(data, source);
}

/** Narrows after validation: the document passed the schema and every rule. */
export function isValidIdentityDocument(data: unknown, source = '(document)'): data is IdentityDocument {
  return validateIdentityDocument(data, source).every((f) => f.severity !== 'error');
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const UNSAFE_SCHEMES = new Set(['javascript:', 'data:', 'file:', 'vbscript:']);

function crossEntityFindings(doc: IdentityDocument, source: string): Finding[] {
  const findings: Finding[] = [];
  const add = (code: IdentityRuleCode, path: string, message: string) => findings.push({ code, severity: 'error', message, source, path });

  // Profile version
  const pv = doc.profile_versions.length === 1 ? doc.profile_versions[0]! : undefined;
  if (!pv) add('identity.profile_version_count', '/profile_versions', `exactly one profile version is required, found ${doc.profile_versions.length}`);
  doc.profile_versions.forEach((p, i) => {
    if (!(SUPPORTED_PROFILE_VERSIONS as readonly string[]).includes(p.version))
      add('identity.profile_version_unsupported', `/profile_versions/${i}/version`, `profile version ${p.version} is not supported (supported: ${SUPPORTED_PROFILE_VERSIONS.join(', ')})`);
  });
  const customScopes = new Set<string>();
  doc.profile_versions.forEach((p, i) =>
    p.custom_scopes.forEach((s, j) => {
      if ((STANDARD_SCOPES as readonly string[]).includes(s.name) || customScopes.has(s.name))
        add('identity.custom_scope_conflict', `/profile_versions/${i}/custom_scopes/${j}/name`, `custom scope ${s.name} is already defined`);
      customScopes.add(s.name);
    }),
  );
  const scopes = new Set<string>([...STANDARD_SCOPES, ...customScopes]);

  // Roles and groups
  const roles = new Set<string>();
  doc.roles.forEach((r, i) => {
    if (roles.has(r.name)) add('identity.role_duplicate', `/roles/${i}/name`, `role ${r.name} is declared twice`);
    roles.add(r.name);
  });
  const groups = new Map<string, (typeof doc.groups)[number]>();
  const groupKeys = new Set<string>();
  doc.groups.forEach((g, i) => {
    const key = g.name.toLowerCase();
    if (groupKeys.has(key)) add('identity.group_duplicate', `/groups/${i}/name`, `group ${g.name} is declared twice (names are compared without case)`);
    if (key === DISABLED_GROUP) add('identity.group_name_reserved', `/groups/${i}/name`, `${DISABLED_GROUP} is reserved for the account state of disabled users`);
    groupKeys.add(key);
    if (!groups.has(g.name)) groups.set(g.name, g);
    g.roles.forEach((r, j) => {
      if (!roles.has(r)) add('identity.group_role_unknown', `/groups/${i}/roles/${j}`, `group ${g.name} grants unknown role ${r}`);
    });
  });

  // Users
  const users = new Set<string>();
  const usernames = new Set<string>();
  const emails = new Set<string>();
  doc.users.forEach((u, i) => {
    if (users.has(u.id)) add('identity.user_id_duplicate', `/users/${i}/id`, `user id ${u.id} is used twice`);
    users.add(u.id);
    if (usernames.has(u.username)) add('identity.username_duplicate', `/users/${i}/username`, `username ${u.username} is used twice`);
    usernames.add(u.username);
    const email = u.email.toLowerCase();
    if (emails.has(email)) add('identity.email_duplicate', `/users/${i}/email`, `email ${u.email} is used twice`);
    emails.add(email);
    (u.roles ?? []).forEach((r, j) => {
      if (!roles.has(r)) add('identity.user_role_unknown', `/users/${i}/roles/${j}`, `user ${u.username} has unknown role ${r}`);
    });
  });

  // Memberships
  const pairs = new Set<string>();
  const groupsOf = new Map<string, string[]>();
  doc.memberships.forEach((m, i) => {
    if (!users.has(m.user_id)) add('identity.membership_unknown_user', `/memberships/${i}/user_id`, `membership refers to unknown user ${m.user_id}`);
    if (!groups.has(m.group)) add('identity.membership_unknown_group', `/memberships/${i}/group`, `membership refers to unknown group ${m.group}`);
    const key = `${m.user_id}\u0000${m.group}`;
    if (pairs.has(key)) add('identity.membership_duplicate', `/memberships/${i}`, `user ${m.user_id} is in group ${m.group} twice`);
    pairs.add(key);
    groupsOf.set(m.user_id, [...(groupsOf.get(m.user_id) ?? []), m.group]);
  });
  doc.users.forEach((u, i) => {
    const effective = [...(u.roles ?? []), ...(groupsOf.get(u.id) ?? []).flatMap((g) => groups.get(g)?.roles ?? [])];
    if (effective.length === 0) add('identity.user_without_roles', `/users/${i}`, `user ${u.username} holds no role, directly or through a group`);
  });

  // MFA enrolment references
  const mfaIds = new Set<string>();
  doc.mfa_enrollments.forEach((m, i) => {
    if (mfaIds.has(m.id)) add('identity.mfa_duplicate', `/mfa_enrollments/${i}/id`, `MFA enrolment reference ${m.id} is declared twice`);
    mfaIds.add(m.id);
    if (!users.has(m.user_id)) add('identity.mfa_unknown_user', `/mfa_enrollments/${i}/user_id`, `MFA enrolment ${m.id} refers to unknown user ${m.user_id}`);
  });

  // Clients
  const clients = new Set<string>();
  const assigned = new Map<string, Set<string>>();
  for (const a of doc.client_scope_assignments) assigned.set(a.client_id, (assigned.get(a.client_id) ?? new Set()).add(a.scope));
  const environments = new Set(doc.environments);
  doc.clients.forEach((c, i) => {
    const at = `/clients/${i}`;
    const id = c.client_id;
    if (clients.has(id)) add('identity.client_duplicate', `${at}/client_id`, `client ${id} is declared twice`);
    clients.add(id);
    c.environments.forEach((e, j) => {
      if (!environments.has(e)) add('identity.client_environment_unknown', `${at}/environments/${j}`, `client ${id} names environment ${e}, which the document does not declare`);
    });
    if (pv && c.token_profile.claims !== `netkingdom-iam-${pv.version}`)
      add('identity.client_claim_profile_mismatch', `${at}/token_profile/claims`, `client ${id} follows ${c.token_profile.claims}, the document is netkingdom-iam-${pv.version}`);

    const grants = new Set(c.grant_types);
    const secretMethod = c.auth_method === 'client_secret_basic' || c.auth_method === 'client_secret_post';
    if ((c.type === 'confidential') === (c.auth_method === 'none'))
      add('identity.client_type_auth_mismatch', `${at}/auth_method`, `a ${c.type} client cannot use auth_method ${c.auth_method}`);
    if (c.type === 'confidential') {
      if (secretMethod && !c.secret) add('identity.client_credential_missing', `${at}/secret`, `client ${id} uses ${c.auth_method} but references no secret`);
      if (c.auth_method === 'private_key_jwt' && !c.jwks) add('identity.client_credential_missing', `${at}/jwks`, `client ${id} uses private_key_jwt but has no jwks`);
    } else {
      if (c.secret || c.jwks) add('identity.client_public_credential', `${at}/${c.secret ? 'secret' : 'jwks'}`, `public client ${id} cannot hold a credential`);
      if (grants.has('client_credentials')) add('identity.client_public_grant', `${at}/grant_types`, `public client ${id} cannot use client_credentials`);
      if (pv && !pv.public_clients_allowed) add('identity.client_public_not_allowed', `${at}/type`, `profile ${pv.version} as declared does not allow public clients`);
    }
    if (grants.has('authorization_code')) {
      if (c.redirect_uris.length === 0) add('identity.redirect_uri_missing', `${at}/redirect_uris`, `client ${id} uses authorization_code without a redirect URI`);
      if (!c.pkce_method) add('identity.client_pkce_missing', `${at}/pkce_method`, `client ${id} uses authorization_code and must declare pkce_method S256`);
      if (!assigned.get(id)?.has('openid')) add('identity.client_openid_missing', `${at}`, `client ${id} uses authorization_code but is not assigned the openid scope`);
    }
    if (grants.has('refresh_token') && !grants.has('authorization_code'))
      add('identity.client_refresh_without_code', `${at}/grant_types`, `client ${id} has refresh_token without authorization_code`);
    if (grants.has('client_credentials') && !c.principal?.roles.length)
      add('identity.service_principal_roles_missing', `${at}/principal`, `client ${id} uses client_credentials and must act as a principal with at least one role`);
    c.principal?.roles.forEach((r, j) => {
      if (!roles.has(r)) add('identity.client_role_unknown', `${at}/principal/roles/${j}`, `client ${id} has unknown role ${r}`);
    });
    c.principal?.groups?.forEach((g, j) => {
      if (!groups.has(g)) add('identity.client_group_unknown', `${at}/principal/groups/${j}`, `client ${id} is in unknown group ${g}`);
    });
    const uris: [string, string[]][] = [['redirect_uris', c.redirect_uris], ['post_logout_redirect_uris', c.post_logout_redirect_uris ?? []]];
    for (const [field, list] of uris) list.forEach((u, j) => checkRedirectUri(u, `${at}/${field}/${j}`, id, add));
  });

  // Client scope assignments
  const assignments = new Set<string>();
  doc.client_scope_assignments.forEach((a, i) => {
    if (!clients.has(a.client_id)) add('identity.client_scope_unknown_client', `/client_scope_assignments/${i}/client_id`, `scope assignment refers to unknown client ${a.client_id}`);
    if (!scopes.has(a.scope)) add('identity.client_scope_unknown', `/client_scope_assignments/${i}/scope`, `scope ${a.scope} is neither a standard scope nor declared by the profile version`);
    const key = `${a.client_id}\u0000${a.scope}`;
    if (assignments.has(key)) add('identity.client_scope_duplicate', `/client_scope_assignments/${i}`, `scope ${a.scope} is assigned to ${a.client_id} twice`);
    assignments.add(key);
  });
  return findings;
}

function checkRedirectUri(uri: string, path: string, client: string, add: (code: IdentityRuleCode, path: string, message: string) => void): void {
  // A wildcard is refused before parsing: `https://*.example.com/cb` parses as a URL yet must never match.
  if (uri.includes('*')) return add('identity.redirect_uri_wildcard', path, `client ${client}: redirect URIs are matched exactly, ${uri} has a wildcard`);
  const url = URL.canParse(uri) ? new URL(uri) : undefined;
  if (!url || uri.includes('#') || UNSAFE_SCHEMES.has(url.protocol))
    return add('identity.redirect_uri_invalid', path, `client ${client}: ${uri} is not an absolute URI without fragment`);
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname))
    add('identity.redirect_uri_insecure', path, `client ${client}: ${uri} uses http for a host that is not loopback`);
}
