// LDIF export of a directory in the canonical LDAP schema (KeyCape specification §11, §14.1 B: LLDAP -> full LDAP).
// The entries come from the canonical mapping (src/identity/ldap/mapping.ts), whatever the source was (a canonical
// document, Keyward's built-in store through its adapter, or a live LDAP read into a document first), and are
// checked by the validator's pre-provision mode (every rule, strictly, secrets forbidden) before anything is
// written. The output loads with `ldapadd -f` into a directory holding only its base entry.
import type { Finding } from '../identity/findings.ts';
import type { LdapEntry } from '../identity/ldap/entry.ts';
import { parseLdif, writeLdif } from '../identity/ldap/ldif.ts';
import { identityToEntries } from '../identity/ldap/mapping.ts';
import { fixtureFindings } from '../identity/ldap/modes.ts';
import { LDAP_SCHEMA_VERSION } from '../identity/ldap/rules.ts';
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
