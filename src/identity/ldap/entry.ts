// An LDAP entry as the validator, the LDIF module and the directory reader share it: a DN and attribute values as
// strings. Attribute names are matched without case, as LDAP does.

export interface LdapEntry {
  dn: string;
  attributes: Record<string, string[]>;
}

/** The values of an attribute, whatever the case of its name in the entry; [] when absent. */
export function values(entry: LdapEntry, name: string): string[] {
  const want = name.toLowerCase();
  const out: string[] = [];
  for (const [k, v] of Object.entries(entry.attributes)) if (k.toLowerCase() === want) out.push(...v);
  return out;
}

export function hasAttribute(entry: LdapEntry, name: string): boolean {
  return values(entry, name).length > 0;
}

/**
 * One spelling per attribute (`CN` and `cn` merge into the spelling of `known`, or the first seen), so later steps
 * can compare entries from different sources key by key.
 */
export function normalizeAttributeNames(entry: LdapEntry, known: readonly string[]): LdapEntry {
  const spelling = new Map(known.map((k) => [k.toLowerCase(), k]));
  const attributes: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(entry.attributes)) {
    const lower = k.toLowerCase();
    const name = spelling.get(lower) ?? k;
    if (!spelling.has(lower)) spelling.set(lower, k);
    attributes[name] = [...(attributes[name] ?? []), ...v];
  }
  return { dn: entry.dn, attributes };
}

export function withoutAttributes(entry: LdapEntry, drop: readonly string[]): LdapEntry {
  const gone = new Set(drop.map((d) => d.toLowerCase()));
  return { dn: entry.dn, attributes: Object.fromEntries(Object.entries(entry.attributes).filter(([k]) => !gone.has(k.toLowerCase()))) };
}
