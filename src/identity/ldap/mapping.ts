// Canonical identity document -> the LDAP entries the canonical LDAP schema says it is (fixture mode, rendering,
// provisioning, post-migration). Only directory data maps: users, groups, memberships and the account state. Roles,
// clients, scope assignments and MFA references stay in the canonical document (the directory has no portable
// place for them, and LLDAP none at all).
import type { IdentityDocument } from '../model.ts';
import { childDn, normalizeDn, parseDn } from './dn.ts';
import type { LdapEntry } from './entry.ts';
import { LDAP_RULES } from './rules.ts';

const users = LDAP_RULES.entry_types.user;
const groups = LDAP_RULES.entry_types.group;

export function peopleDn(baseDn: string): string {
  return `${LDAP_RULES.layout.containers.people.rdn},${baseDn}`;
}
export function groupsDn(baseDn: string): string {
  return `${LDAP_RULES.layout.containers.groups.rdn},${baseDn}`;
}
export function userDn(username: string, baseDn: string): string {
  return childDn(users.naming.rdn_attribute, username, peopleDn(baseDn));
}
export function groupDn(name: string, baseDn: string): string {
  return childDn(groups.naming.rdn_attribute, name, groupsDn(baseDn));
}

/** The two containers, so a produced LDIF loads into a directory that has only its base entry. */
export function containerEntries(baseDn: string): LdapEntry[] {
  return Object.values(LDAP_RULES.layout.containers).map((c) => {
    const [rdn] = parseDn(c.rdn);
    return { dn: `${c.rdn},${baseDn}`, attributes: { objectClass: [...c.object_classes], [rdn![0]!.type]: [rdn![0]!.value] } };
  });
}

export interface MappedDirectory {
  containers: LdapEntry[];
  users: LdapEntry[];
  groups: LdapEntry[];
}

export function mapIdentityDocument(doc: IdentityDocument, baseDn: string): MappedDirectory {
  // The base DN is parsed here so a bad one fails before anything is built from it.
  normalizeDn(baseDn);
  const dnOf = new Map(doc.users.map((u) => [u.id, userDn(u.username, baseDn)]));
  const userEntries = doc.users.map((u): LdapEntry => {
    const given = u.directory?.given_name;
    const attributes: Record<string, string[]> = {
      objectClass: [...users.object_classes.written],
      uid: [u.username],
      cn: [u.display_name],
      ...(given !== undefined ? { givenName: [given] } : {}),
      sn: [u.directory?.family_name ?? u.username],
      mail: [u.email],
      employeeNumber: [u.id],
      employeeType: [u.principal_type],
    };
    return { dn: dnOf.get(u.id)!, attributes };
  });
  const placeholder = LDAP_RULES.membership.empty_group_placeholder;
  const groupEntry = (name: string, description: string | undefined, memberIds: string[]): LdapEntry => {
    const members = [...new Set(memberIds.map((id) => dnOf.get(id)).filter((dn): dn is string => dn !== undefined))];
    const attributes: Record<string, string[]> = { objectClass: [...groups.object_classes.written], cn: [name] };
    if (description !== undefined) attributes.description = [description];
    attributes[LDAP_RULES.membership.attribute] = members.length ? members : [placeholder];
    return { dn: groupDn(name, baseDn), attributes };
  };
  const groupEntries = doc.groups.map((g) =>
    groupEntry(
      g.name,
      g.description,
      doc.memberships.filter((m) => m.group === g.name).map((m) => m.user_id),
    ),
  );
  groupEntries.push(
    groupEntry(
      LDAP_RULES.account_state.disabled_group,
      'Disabled accounts (KeyCape canonical LDAP schema account state)',
      doc.users.filter((u) => !u.enabled).map((u) => u.id),
    ),
  );
  return { containers: containerEntries(baseDn), users: userEntries, groups: groupEntries };
}

/** Every entry in write order: containers, users, then the groups that name them. */
export function identityToEntries(doc: IdentityDocument, baseDn: string): LdapEntry[] {
  const m = mapIdentityDocument(doc, baseDn);
  return [...m.containers, ...m.users, ...m.groups];
}
