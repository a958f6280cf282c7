// The five validator modes of KeyCape specification §11.3, each producing one Report:
//   fixture         canonical documents -> the entries they map to -> every rule (plus what cannot be represented)
//   pre-provision   LDIF or JSON entries about to be written -> every rule, strictly (nothing server-added)
//   pre-migration   a live directory read over LDAP -> every rule, tolerating what servers add on read
//   post-migration  a live target against the canonical source -> every rule, plus every user, group and
//                   membership present with the same values
//   drift           two snapshots -> entries added, removed, changed; plus every rule on the newer one
import type { Finding, Report } from '../findings.ts';
import type { IdentityDocument } from '../model.ts';
import { IDENTITY_CODES } from '../validate.ts';
import type { DirectoryOptions } from './directory.ts';
import { identityToEntries, userDn } from './mapping.ts';
import { LDAP_CODES, LDAP_SCHEMA_VERSION, rulePointer } from './rules.ts';
import { loadCanonical, loadDirectory, loadEntryFile, type EntrySource } from './sources.ts';
import { checkEntries, compareSnapshots, compareWithCanonical } from './validator.ts';

export const LDAP_MODES = ['fixture', 'pre-provision', 'pre-migration', 'post-migration', 'drift'] as const;
export type LdapMode = (typeof LDAP_MODES)[number];

export const DEFAULT_BASE_DN = 'dc=example,dc=com';

const report = (mode: LdapMode, sources: string[], findings: Finding[], withIdentity = false): Report => ({
  name: `keyward ldap validate --mode ${mode}`,
  sources,
  findings,
  codes: withIdentity ? [...IDENTITY_CODES, ...LDAP_CODES] : LDAP_CODES,
});

/**
 * What the canonical LDAP schema says about a valid canonical document: whether it can be represented at all
 * (one tenant per directory, a known LDAP schema version) and whether the entries it maps to pass every rule.
 */
export function fixtureFindings(doc: IdentityDocument, source: string, baseDn: string): Finding[] {
  const findings: Finding[] = [];
  const version = doc.profile_versions[0]?.ldap_schema;
  if (version !== undefined && version !== LDAP_SCHEMA_VERSION)
    findings.push({
      code: 'ldap.profile_version_mismatch',
      severity: 'error',
      message: `the document's profile version names canonical LDAP schema ${version}; this validator implements ${LDAP_SCHEMA_VERSION}`,
      source,
      dn: '',
      rule: rulePointer('ldap.profile_version_mismatch'),
      path: '/profile_versions/0/ldap_schema',
    });
  doc.users.forEach((u, i) => {
    if (u.tenant !== undefined && u.tenant !== doc.tenant)
      findings.push({
        code: 'ldap.tenant_not_representable',
        severity: 'error',
        message: `user ${u.username} belongs to ${u.tenant}, the directory to ${doc.tenant}: one directory holds one tenant`,
        source,
        dn: userDn(u.username, baseDn),
        path: `/users/${i}/tenant`,
        rule: rulePointer('ldap.tenant_not_representable'),
      });
  });
  findings.push(...checkEntries(identityToEntries(doc, baseDn), { source, baseDn, secretsForbidden: true, tolerateReadOnly: false }));
  return findings;
}

export async function fixtureMode(paths: readonly string[], baseDn: string): Promise<Report> {
  const findings: Finding[] = [];
  for (const path of paths) {
    const { document, findings: identity } = await loadCanonical(path);
    findings.push(...identity);
    if (document) findings.push(...fixtureFindings(document, path, baseDn));
  }
  return report('fixture', [...paths], findings, true);
}

function fileChecks(src: EntrySource, baseDn: string, tolerateReadOnly: boolean): Finding[] {
  return [...src.findings, ...checkEntries(src.entries, { source: src.source, baseDn, secretsForbidden: true, tolerateReadOnly, statedSchemaVersion: src.schemaVersion })];
}

export async function preProvisionMode(paths: readonly string[], baseDn: string): Promise<Report> {
  const findings: Finding[] = [];
  for (const path of paths) findings.push(...fileChecks(await loadEntryFile(path, baseDn), baseDn, false));
  // JUnit lists identity rules only where a canonical document was among the inputs.
  return report('pre-provision', [...paths], findings, paths.some((p) => !p.toLowerCase().endsWith('.ldif')));
}

export async function preMigrationMode(dir: DirectoryOptions, baseDn: string): Promise<Report> {
  const live = await loadDirectory(dir, baseDn);
  const findings = checkEntries(live.entries, { source: live.source, baseDn, secretsForbidden: false, tolerateReadOnly: true });
  return report('pre-migration', [live.source], findings);
}

export async function postMigrationMode(canonicalPath: string, dir: DirectoryOptions, baseDn: string): Promise<Report> {
  const { document, findings: identity } = await loadCanonical(canonicalPath);
  // Without valid canonical data there is nothing to verify against: report why, and do not read the target.
  if (!document) return report('post-migration', [canonicalPath], identity, true);
  const live = await loadDirectory(dir, baseDn);
  const findings = [
    ...identity,
    ...checkEntries(live.entries, { source: live.source, baseDn, secretsForbidden: false, tolerateReadOnly: true }),
    ...compareWithCanonical(identityToEntries(document, baseDn), live.entries, { source: live.source, baseDn }),
  ];
  return report('post-migration', [canonicalPath, live.source], findings, true);
}

/** `before` and `after` are files (LDIF, JSON entries, canonical documents) or already loaded sources. */
export async function driftMode(before: string | EntrySource, after: string | EntrySource, baseDn: string): Promise<Report> {
  const a = typeof before === 'string' ? await loadEntryFile(before, baseDn) : before;
  const b = typeof after === 'string' ? await loadEntryFile(after, baseDn) : after;
  const findings = [...a.findings, ...b.findings];
  if (!findings.some((f) => f.severity === 'error')) {
    findings.push(...compareSnapshots(a.entries, b.entries, { source: b.source }));
    findings.push(...checkEntries(b.entries, { source: b.source, baseDn, secretsForbidden: true, tolerateReadOnly: true, statedSchemaVersion: b.schemaVersion }));
  }
  return report('drift', [a.source, b.source], findings, true);
}

