// One flow for every migration output: load the source (a canonical document, or Keyward's identity provider store
// through its adapter), validate it as canonical data (§14.2: canonical data is the source of truth, validated before
// transfer), transform it for the target, check the result against the profile, and describe all of it in a report.
// Writing files is the caller's step, so a refused source writes nothing.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { Finding } from '../identity/findings.ts';
import { LDAP_CODES } from '../identity/ldap/rules.ts';
import type { IdentityDocument } from '../identity/model.ts';
import { loadCanonical } from '../identity/ldap/sources.ts';
import { validateIdentityDocument } from '../identity/validate.ts';
import { idpSectionSchema, idpSettings, type IdpConfig } from '../idp/config.ts';
import type { SecretBox } from '../idp/store/directory.ts';
import { ProblemError } from '../core/problem.ts';
import { documentCredentialSource, type CredentialSource } from './credentials.ts';
import { DEFAULT_SETTINGS, openIdpStore, readIdpStore, realmSettings, type RealmSettings } from './idp-store.ts';
import type { Incompatibility } from './incompatibility.ts';
import { keycloakConformance, type ConformanceCheck } from './keycloak/conformance.ts';
import type { LdapFederationOptions } from './keycloak/federation.ts';
import { keycloakExportFiles, type ExportFile } from './keycloak/files.ts';
import { buildKeycloakRealm, type KeycloakExport } from './keycloak/realm.ts';
import { buildLdifExport, type LdifExport } from './ldif.ts';
import { contractResultsNotRun, summarise, type ContractTestResults, type MigrationReport } from './report.ts';

export interface MigrationSource {
  kind: 'document' | 'idp_store';
  /** File or store the data came from (for findings and reports). */
  name: string;
  document: IdentityDocument;
  credentials: CredentialSource;
  settings: RealmSettings;
  /** Incompatibilities the source itself knows of (configuration the document cannot hold). */
  notes: Incompatibility[];
  /** Validation findings (warnings only: a source with errors is not returned). */
  findings: Finding[];
}

export type SourceOutcome = { source: MigrationSource; findings: Finding[] } | { source?: undefined; findings: Finding[] };

export interface SourceOptions {
  /** A canonical identity document (JSON or YAML). */
  input?: string | undefined;
  /** A Keyward configuration: the store to read when there is no input; realm settings (lifetimes, audience) either way. */
  configPath?: string | undefined;
  /** The identity provider realm to read from the store (default: the document's, or the first configured). */
  realm?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** Opens sealed TOTP seeds when given (a process with the key service). */
  secretBox?: SecretBox | undefined;
}

async function readIdpConfig(path: string): Promise<IdpConfig> {
  let raw: Record<string, any>;
  try {
    raw = (parseYaml(await readFile(path, 'utf8')) ?? {}) as Record<string, any>;
  } catch (e) {
    throw new ProblemError({ code: 'migrate.config_invalid', detail: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
  }
  const parsed = idpSectionSchema.safeParse(raw.idp);
  if (!parsed.success) throw new ProblemError({ code: 'migrate.config_invalid', detail: `${path}: the idp section is missing or invalid` });
  const idp = idpSettings(parsed.data);
  if (!idp) throw new ProblemError({ code: 'migrate.config_invalid', detail: `${path}: the identity provider is switched off (idp: { enabled: false }): no realm settings` });
  return idp;
}

export async function loadMigrationSource(o: SourceOptions): Promise<SourceOutcome> {
  if (o.input !== undefined) {
    const { document, findings } = await loadCanonical(o.input);
    if (!document) return { findings };
    let settings = DEFAULT_SETTINGS;
    if (o.configPath !== undefined) {
      const idp = await readIdpConfig(o.configPath);
      const realm = idp.realms.find((r) => r.name === (o.realm ?? document.realm));
      if (realm) settings = realmSettings(realm);
    }
    const source: MigrationSource = { kind: 'document', name: o.input, document, credentials: documentCredentialSource(document, o.env), settings, notes: [], findings };
    return { source, findings };
  }
  if (o.configPath === undefined) throw new ProblemError({ code: 'migrate.source_missing', detail: 'give --input DOCUMENT or --config FILE (the identity provider store)' });
  const store = await openIdpStore(o.configPath);
  try {
    const realm = o.realm === undefined ? store.idp.realms[0] : store.idp.realms.find((r) => r.name === o.realm);
    if (!realm) throw new ProblemError({ code: 'migrate.realm_unknown', detail: `${o.configPath} configures no identity provider realm ${o.realm}` });
    const read = await readIdpStore(store.repos, store.idp, realm, o.secretBox);
    const name = `${o.configPath} (identity provider store, realm ${realm.name})`;
    const findings = validateIdentityDocument(read.document, name);
    if (findings.some((f) => f.severity === 'error')) return { findings };
    // The store's credentials are read while the store is open: materialise them now.
    const credentials = await snapshotCredentials(read.document, read.credentials);
    return { source: { kind: 'idp_store', name, document: read.document, credentials, settings: realmSettings(realm), notes: read.notes, findings }, findings };
  } finally {
    await store.close();
  }
}

/** Reads every credential a document's principals have, so the source outlives the store connection. */
async function snapshotCredentials(doc: IdentityDocument, src: CredentialSource): Promise<CredentialSource> {
  const passwords = new Map<string, string | undefined>();
  const totps = new Map<string, Awaited<ReturnType<CredentialSource['totp']>>>();
  const secrets = new Map<string, Awaited<ReturnType<CredentialSource['clientSecret']>>>();
  for (const u of doc.users) {
    passwords.set(u.id, await src.passwordHash(u.id));
    totps.set(u.id, await src.totp(u.id));
  }
  for (const c of doc.clients) secrets.set(c.client_id, await src.clientSecret(c.client_id));
  return {
    name: src.name,
    passwordHash: async (id) => passwords.get(id),
    totp: async (id) => totps.get(id),
    clientSecret: async (id) => secrets.get(id),
  };
}

export interface KeycloakPlanOptions {
  realmName: string;
  directory?: LdapFederationOptions | undefined;
  usersPerFile?: number | undefined;
  now?: number | undefined;
  contractResults?: ContractTestResults | undefined;
}

export interface KeycloakPlan {
  result: KeycloakExport;
  files: ExportFile[];
  conformance: ConformanceCheck[];
  report: MigrationReport;
}

const validationOf = (findings: Finding[]) => {
  const errors = findings.filter((f) => f.severity === 'error').length;
  return { ok: errors === 0, errors, warnings: findings.length - errors, findings };
};

const sourceOf = (src: MigrationSource): MigrationReport['source'] => ({
  kind: src.kind,
  name: src.name,
  realm: src.document.realm,
  tenant: src.document.tenant,
  profile_version: src.document.profile_versions[0]!.version,
});

export async function planKeycloak(src: MigrationSource, o: KeycloakPlanOptions): Promise<KeycloakPlan> {
  const result = await buildKeycloakRealm(src.document, {
    realmName: o.realmName,
    credentials: src.credentials,
    lifetimes: src.settings.lifetimes,
    lockout: src.settings.lockout,
    audience: src.settings.audience,
    displayName: src.settings.displayName,
    directory: o.directory,
    ...(o.now !== undefined ? { now: o.now } : {}),
  });
  result.incompatibilities.push(...src.notes);
  const files = keycloakExportFiles(result.realm, result.users, o.usersPerFile);
  const conformance = keycloakConformance(src.document, result.realm, result.users);
  // Path 2: the directory data goes to LDAP; it must be representable in the canonical LDAP schema.
  const validation = [...src.findings];
  if (o.directory) validation.push(...buildLdifExport(src.document, src.name, o.directory.baseDn).findings);
  const groupRoles = new Map(result.realm.groups.map((g) => [g.path, g.realmRoles]));
  const report = summarise(
    {
      schema: 'keyward.migration-report/v1',
      generated_at: new Date(o.now ?? Date.now()).toISOString(),
      target: 'keycloak',
      path: result.summary.path,
      source: sourceOf(src),
      target_details: {
        realm: o.realmName,
        issuer: `{keycloak base URL}/realms/${o.realmName}`,
        ...(o.directory ? { directory: o.directory.url, base_dn: o.directory.baseDn } : {}),
      },
      transformed_directory_data: {
        format: 'keycloak-realm-export',
        files: files.map((f) => ({ name: f.name, sha256: f.sha256, bytes: Buffer.byteLength(f.text) })),
        users: result.users.map((u) => ({
          username: u.username,
          id: u.id,
          enabled: u.enabled,
          principal_type: u.attributes.principal_type?.[0] ?? '',
          groups: u.groups.map((g) => g.slice(1)),
          roles: [...new Set([...u.realmRoles, ...u.groups.flatMap((g) => groupRoles.get(g) ?? [])])].sort(),
          credentials: u.credentials.map((c) => c.type),
        })),
        groups: result.realm.groups.map((g) => ({ name: g.name, roles: g.realmRoles, members: src.document.memberships.filter((m) => m.group === g.name).length })),
      },
      client_definitions: result.realm.clients,
      profile_conformance: conformance,
      validation: validationOf(validation),
      contract_tests: o.contractResults ?? contractResultsNotRun(),
      incompatibilities: result.incompatibilities,
    },
    {
      users: result.summary.users,
      service_accounts: result.summary.serviceAccounts,
      password_credentials: result.summary.passwords,
      otp_credentials: result.summary.otpCredentials,
      clients: result.summary.clients,
      groups: result.summary.groups,
      roles: result.summary.roles,
      user_files: files.length - 1,
    },
  );
  return { result, files, conformance, report };
}

export interface LdifPlan {
  ldif: LdifExport;
  report: MigrationReport;
}

/** What the canonical LDAP schema leaves out, and what LDAP offers that it forbids. */
function ldifIncompatibilities(doc: IdentityDocument): Incompatibility[] {
  const out: Incompatibility[] = [];
  const add = (code: string, severity: Incompatibility['severity'], subject: string, message: string, action: string, direction: Incompatibility['direction'] = 'source_not_expressible') =>
    out.push({ code, direction, severity, subject, message, action });
  add('ldif.roles_not_in_directory', 'info', 'roles', 'roles, group roles, clients, scope assignments and MFA references are not directory data in the canonical LDAP schema', 'keep the canonical document (or the realm configuration) as their source');
  const direct = doc.users.filter((u) => (u.roles ?? []).length).map((u) => u.username);
  if (direct.length) add('ldif.direct_roles', 'degraded', `users ${direct.join(', ')}`, 'direct user roles have no place in the directory', 'express them as group roles if the directory becomes the source of truth');
  if (doc.users.some((u) => u.password !== undefined))
    add('ldif.passwords', 'blocking', 'passwords', 'the canonical LDAP schema forbids userPassword in files: passwords are not in the LDIF', 'set passwords in the target directory with its own tools (ldappasswd, LLDAP admin)');
  if (doc.users.some((u) => u.email_verified === true)) add('ldif.email_verified', 'degraded', 'email_verified', 'the canonical LDAP schema has no email-verified attribute', '');
  for (const [feature, what] of [
    ['nested_groups', 'nested groups'],
    ['extra_object_classes', 'object classes beyond inetOrgPerson and groupOfUniqueNames (posixAccount, mailAccount, …)'],
    ['extra_containers', 'containers other than ou=people and ou=groups'],
    ['secret_attributes', 'password and key attributes in files'],
  ])
    add(`ldif.profile_forbids.${feature}`, 'info', `feature ${feature}`, `a full LDAP server allows ${what}; the canonical LDAP schema forbids them and the LDIF contains none`, 'keep them out; `keyward ldap validate --mode drift` catches them in CI', 'target_forbidden_by_profile');
  return out;
}

/** LDAP rule codes as conformance checks: every rule either holds for the LDIF or fails with the finding's text. */
function ldapConformance(findings: Finding[]): ConformanceCheck[] {
  const live = LDAP_CODES.filter((c) => !c.startsWith('ldap.migration.') && !c.startsWith('ldap.drift.') && c !== 'ldap.input_invalid');
  return live.map((code) => {
    const hits = findings.filter((f) => f.code === code && f.severity === 'error');
    return { id: code, requirement: `canonical LDAP schema rule ${code}`, status: hits.length ? 'fail' : 'pass', detail: hits.map((f) => `${f.dn}: ${f.message}`).join('; ') };
  });
}

export function planLdif(src: MigrationSource, o: { baseDn: string; fileName?: string | undefined; now?: number | undefined; contractResults?: ContractTestResults | undefined }): LdifPlan {
  const ldif = buildLdifExport(src.document, src.name, o.baseDn);
  const report = summarise(
    {
      schema: 'keyward.migration-report/v1',
      generated_at: new Date(o.now ?? Date.now()).toISOString(),
      target: 'ldif',
      path: 2,
      source: sourceOf(src),
      target_details: { base_dn: o.baseDn },
      transformed_directory_data: {
        format: 'ldif',
        files: [{ name: o.fileName ?? `${src.document.realm}.ldif`, sha256: createHash('sha256').update(ldif.text).digest('hex'), bytes: Buffer.byteLength(ldif.text) }],
        users: src.document.users.map((u) => ({
          username: u.username,
          id: u.id,
          enabled: u.enabled,
          principal_type: u.principal_type,
          groups: src.document.memberships.filter((m) => m.user_id === u.id).map((m) => m.group),
          roles: [],
          credentials: [],
        })),
        groups: src.document.groups.map((g) => ({ name: g.name, roles: [], members: src.document.memberships.filter((m) => m.group === g.name).length })),
        ldif: ldif.text,
      },
      client_definitions: [],
      profile_conformance: ldapConformance(ldif.findings),
      validation: validationOf([...src.findings, ...ldif.findings]),
      contract_tests: o.contractResults ?? contractResultsNotRun(),
      incompatibilities: ldifIncompatibilities(src.document),
    },
    { users: ldif.summary.users, disabled_users: ldif.summary.disabled, groups: ldif.summary.groups, memberships: ldif.summary.memberships, entries: ldif.entries.length },
  );
  return { ldif, report };
}
