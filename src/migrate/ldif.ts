// LDIF export of a directory in the canonical LDAP schema (KeyCape specification §11, §14.1 B: LLDAP -> full LDAP).
// The entries come from the canonical mapping (src/identity/ldap/mapping.ts), whatever the source was (a canonical
// document, Keyward's built-in store through its adapter, or a live LDAP read into a document first), and are
// checked by the validator's pre-provision mode (every rule, strictly, secrets forbidden) before anything is
// written. The output loads with `ldapadd -f` into a directory holding only its base entry.
import type { Finding } from '../identity/findings.ts';
import type { DirectoryOptions } from '../identity/ldap/directory.ts';
import { normalizeDn } from '../identity/ldap/dn.ts';
import { values, type LdapEntry } from '../identity/ldap/entry.ts';
import { parseLdif, writeLdif } from '../identity/ldap/ldif.ts';
import { containerEntries, groupDn, groupsDn, identityToEntries, peopleDn } from '../identity/ldap/mapping.ts';
import { fixtureFindings } from '../identity/ldap/modes.ts';
import { LDAP_RULES, LDAP_SCHEMA_VERSION } from '../identity/ldap/rules.ts';
import { loadDirectory } from '../identity/ldap/sources.ts';
import { checkEntries } from '../identity/ldap/validator.ts';
import type { IdentityDocument } from '../identity/model.ts';

export interface LdifExport {
  text: string;
  entries: LdapEntry[];
  /** Fixture-mode findings of the document plus pre-provision findings of the entries; any error means: do not write. */
  findings: Finding[];
  summary: { users: number; groups: number; disabled: number; memberships: number };
}

export function buildLdifExport(doc: IdentityDocument, source: string, baseDn: string): LdifExport {
  const entries = identityToEntries(doc, baseDn);
  const text = writeLdif(entries, {
    schemaVersion: LDAP_SCHEMA_VERSION,
    comments: [`keyward migrate export --to ldif: realm ${doc.realm}, ${doc.tenant}, from ${source}`, 'load with: ldapadd -x -H ldap://HOST -D BIND_DN -W -f FILE (the base entry must exist)'],
  });
  // Fixture mode knows what cannot be represented at all (another tenant's users); pre-provision mode's checks run on
  // the text read back, so what is validated is exactly what ldapadd will be given.
  const readBack = parseLdif(text);
  const findings = [
    ...fixtureFindings(doc, source, baseDn).filter((f) => f.code === 'ldap.tenant_not_representable' || f.code === 'ldap.profile_version_mismatch'),
    ...checkEntries(readBack.entries, { source, baseDn, secretsForbidden: true, tolerateReadOnly: false, statedSchemaVersion: readBack.schemaVersion }),
  ];
  return {
    text,
    entries,
    findings,
    summary: {
      users: doc.users.length,
      groups: doc.groups.length,
      disabled: doc.users.filter((u) => !u.enabled).length,
      memberships: doc.memberships.length,
    },
  };
}

/**
 * An entry as read from a server, reduced to what the canonical LDAP schema writes: the written object classes, the
 * required and optional attributes (in the rule set's spelling), and `uniqueMember` taken from the `member` mirror
 * where a server (LLDAP) answers only that. Everything else (posixAccount, memberOf, entryUUID, timestamps) is left out.
 */
export function canonicalEntry(e: LdapEntry, type: 'user' | 'group'): LdapEntry {
  const rules = LDAP_RULES.entry_types[type];
  const attributes: Record<string, string[]> = { objectClass: [...rules.object_classes.written] };
  for (const name of [...rules.attributes.required, ...rules.attributes.optional]) {
    if (name === 'objectClass') continue;
    let v = values(e, name);
    if (name === LDAP_RULES.membership.attribute && v.length === 0) v = values(e, 'member');
    if (v.length) attributes[name] = v;
  }
  return { dn: e.dn, attributes };
}

/**
 * A live directory (LLDAP or any LDAP holding the canonical layout) -> LDIF for another one. The directory is read
 * and checked by pre-migration mode first (what servers add on read is tolerated, anything else refuses the export);
 * then each entry is reduced to what the canonical LDAP schema writes: the written object classes, the required and
 * optional attributes, `uniqueMember` (from LLDAP's `member` mirror where a server answers only that). Passwords and
 * server-maintained attributes never reach the file. The result passes pre-provision mode like any other LDIF export.
 */
export async function buildLdifFromDirectory(dir: DirectoryOptions, baseDn: string): Promise<LdifExport & { source: string }> {
  const live = await loadDirectory(dir, baseDn);
  const pre = checkEntries(live.entries, { source: live.source, baseDn, secretsForbidden: false, tolerateReadOnly: true });
  if (pre.some((f) => f.severity === 'error')) return { source: live.source, text: '', entries: [], findings: pre, summary: { users: 0, groups: 0, disabled: 0, memberships: 0 } };
  const under = (container: string) => {
    const suffix = ',' + normalizeDn(container);
    return (e: LdapEntry) => normalizeDn(e.dn).endsWith(suffix);
  };
  const users = live.entries.filter(under(peopleDn(baseDn))).map((e) => canonicalEntry(e, 'user'));
  const groups = live.entries.filter(under(groupsDn(baseDn))).map((e) => canonicalEntry(e, 'group'));
  const entries = [...containerEntries(baseDn), ...users, ...groups];
  const text = writeLdif(entries, {
    schemaVersion: LDAP_SCHEMA_VERSION,
    comments: [`keyward migrate export --to ldif: from ${live.source}`, 'load with: ldapadd -x -H ldap://HOST -D BIND_DN -W -f FILE (the base entry must exist)'],
  });
  const readBack = parseLdif(text);
  const findings = [...pre, ...checkEntries(readBack.entries, { source: live.source, baseDn, secretsForbidden: true, tolerateReadOnly: false, statedSchemaVersion: readBack.schemaVersion })];
  const disabledDn = normalizeDn(groupDn(LDAP_RULES.account_state.disabled_group, baseDn));
  const members = (g: LdapEntry) => values(g, LDAP_RULES.membership.attribute).filter((m) => normalizeDn(m) !== normalizeDn(LDAP_RULES.membership.empty_group_placeholder));
  const disabled = groups.find((g) => normalizeDn(g.dn) === disabledDn);
  const others = groups.filter((g) => g !== disabled);
  return {
    source: live.source,
    text,
    entries,
    findings,
    summary: { users: users.length, groups: others.length, disabled: disabled ? members(disabled).length : 0, memberships: others.reduce((n, g) => n + members(g).length, 0) },
  };
}
