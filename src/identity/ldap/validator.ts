// The canonical LDAP schema validator: every rule of schemas/identity/keycape-ldap-v0.1.json over a set of entries
// (object classes, required/optional attributes, DN placement, naming, membership representation, forbidden
// attributes and structures, cross-entry consistency, profile version), and the two comparisons the migration
// modes add (a live target against canonical data; two snapshots). Pure functions: the modes in modes.ts feed them.
import type { Finding } from '../findings.ts';
import { normalizeDn, parseDn, tryNormalizeDn, type Rdn } from './dn.ts';
import { normalizeAttributeNames, values, type LdapEntry } from './entry.ts';
import { KNOWN_ATTRIBUTES, LDAP_RULES, LDAP_SCHEMA_VERSION, rulePointer, type EntryType } from './rules.ts';

export interface EntryCheckOptions {
  source: string;
  baseDn: string;
  /**
   * Files (fixtures, LDIF, snapshots) may not hold secrets; a live directory does, and its readers drop them.
   */
  secretsForbidden: boolean;
  /**
   * Accept what LLDAP and directory servers add on read (posixAccount, memberOf, entryUUID, `member` mirrors).
   * Off for data about to be written, which must be exactly the canonical shape.
   */
  tolerateReadOnly: boolean;
  /** The canonical LDAP schema version the input states, if it states one. */
  statedSchemaVersion?: string | undefined;
}

type Kind = EntryType | 'base' | 'container';

interface Classified {
  entry: LdapEntry;
  norm: string;
  kind: Kind | undefined;
}

const lower = (s: string) => s.toLowerCase();
const secretNames = new Set(LDAP_RULES.forbidden.secret_attributes.attributes.map(lower));
const forbiddenClasses = new Set(LDAP_RULES.forbidden.object_classes.classes.map(lower));
const placeholder = normalizeDn(LDAP_RULES.membership.empty_group_placeholder);
const memberAttr = LDAP_RULES.membership.attribute;

function rdnsEqual(a: Rdn, b: Rdn): boolean {
  const s = (r: Rdn) =>
    r
      .map((x) => `${lower(x.type)}=${lower(x.value)}`)
      .sort()
      .join('+');
  return s(a) === s(b);
}

/** Normalized DNs of a DN-valued attribute, without the empty-group placeholder; unparseable values kept raw. */
function dnSet(entry: LdapEntry, attr: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of values(entry, attr)) {
    const n = tryNormalizeDn(v) ?? `invalid:${v}`;
    if (n !== placeholder) out.set(n, v);
  }
  return out;
}

export function checkEntries(input: readonly LdapEntry[], opts: EntryCheckOptions): Finding[] {
  const findings: Finding[] = [];
  const add = (code: string, dn: string, message: string, type?: EntryType, rule?: string) =>
    findings.push({ code, severity: LDAP_RULES.codes[code]!.severity, message, source: opts.source, dn, rule: rule ?? rulePointer(code, type) });

  if (opts.statedSchemaVersion !== undefined && opts.statedSchemaVersion !== LDAP_SCHEMA_VERSION)
    add('ldap.profile_version_mismatch', '', `the input states canonical LDAP schema ${opts.statedSchemaVersion}; this validator implements ${LDAP_SCHEMA_VERSION}`);

  const base = parseDn(opts.baseDn);
  const containers = {
    people: parseDn(LDAP_RULES.layout.containers.people.rdn)[0]!,
    groups: parseDn(LDAP_RULES.layout.containers.groups.rdn)[0]!,
  };
  const seen = new Set<string>();
  const classified: Classified[] = [];
  for (const raw of input) {
    const entry = normalizeAttributeNames(raw, KNOWN_ATTRIBUTES);
    let rdns: Rdn[];
    try {
      rdns = parseDn(entry.dn);
    } catch (e) {
      add('ldap.dn_invalid', entry.dn, (e as Error).message);
      continue;
    }
    const norm = normalizeDn(entry.dn);
    if (seen.has(norm)) add('ldap.dn_duplicate', entry.dn, 'another entry has the same DN');
    seen.add(norm);
    const underBase = rdns.length >= base.length && base.every((r, i) => rdnsEqual(r, rdns[rdns.length - base.length + i]!));
    if (!underBase) {
      add('ldap.dn_outside_base', entry.dn, `the entry is not below the base DN ${opts.baseDn}`);
      classified.push({ entry, norm, kind: undefined });
      continue;
    }
    const rel = rdns.slice(0, rdns.length - base.length);
    let kind: Kind | undefined;
    if (rel.length === 0) kind = 'base';
    else if (rel.length === 1 && (rdnsEqual(rel[0]!, containers.people) || rdnsEqual(rel[0]!, containers.groups))) kind = 'container';
    else if (rel.length === 2 && rdnsEqual(rel[1]!, containers.people)) kind = 'user';
    else if (rel.length === 2 && rdnsEqual(rel[1]!, containers.groups)) kind = 'group';
    if (!kind) {
      const classes = values(entry, 'objectClass').map(lower);
      const looksLike = classes.includes('inetorgperson') ? 'a user entry belongs directly under ou=people' : classes.includes('groupofuniquenames') ? 'a group entry belongs directly under ou=groups' : 'only the base, ou=people, ou=groups, users and groups are allowed';
      add('ldap.dn_placement', entry.dn, `entry outside the canonical layout: ${looksLike}`);
    }
    classified.push({ entry, norm, kind });
    checkForbidden(entry, opts, add);
    if (kind === 'container') {
      const oc = values(entry, 'objectClass').map(lower);
      if (!oc.includes('organizationalunit')) add('ldap.object_class_missing', entry.dn, 'a container is an organizationalUnit', undefined, '/layout/containers');
    }
    if (kind === 'user' || kind === 'group') checkTyped(entry, rel[0]!, kind, opts, add);
  }
  checkCrossEntry(classified, add);
  return findings;
}

type Add = (code: string, dn: string, message: string, type?: EntryType, rule?: string) => void;

function checkForbidden(entry: LdapEntry, opts: EntryCheckOptions, add: Add): void {
  for (const c of values(entry, 'objectClass')) if (forbiddenClasses.has(lower(c))) add('ldap.object_class_forbidden', entry.dn, `object class ${c} is forbidden`);
  if (opts.secretsForbidden)
    for (const name of Object.keys(entry.attributes))
      // The value is never repeated: the finding names the attribute only.
      if (secretNames.has(lower(name))) add('ldap.attribute_forbidden', entry.dn, `secret attribute ${name} in a file`);
}

function checkTyped(entry: LdapEntry, rdn: Rdn, type: EntryType, opts: EntryCheckOptions, add: Add): void {
  const rules = LDAP_RULES.entry_types[type];
  const naming = rules.naming.rdn_attribute;
  if (rdn.length !== 1 || lower(rdn[0]!.type) !== lower(naming)) {
    add('ldap.rdn_attribute', entry.dn, `a ${type} is named by a single ${naming}=… RDN`, type);
  } else {
    const value = rdn[0]!.value;
    const own = values(entry, naming);
    if (!own.some((v) => lower(v) === lower(value))) add('ldap.rdn_value_mismatch', entry.dn, `the RDN names ${naming} ${value}, the entry's ${naming} is ${own.join(', ') || 'absent'}`, type);
    if (!new RegExp(rules.naming.pattern, 'u').test(value)) add('ldap.naming_value_invalid', entry.dn, `${naming} ${JSON.stringify(value)} does not match ${rules.naming.pattern}`, type);
  }

  const classes = values(entry, 'objectClass');
  const have = new Set(classes.map(lower));
  for (const c of rules.object_classes.required) if (!have.has(lower(c))) add('ldap.object_class_missing', entry.dn, `object class ${c} is required`, type);
  const allowed = new Set([...rules.object_classes.allowed, ...(opts.tolerateReadOnly ? rules.object_classes.tolerated_on_read : [])].map(lower));
  for (const c of classes)
    if (!allowed.has(lower(c)) && !forbiddenClasses.has(lower(c))) add('ldap.object_class_not_allowed', entry.dn, `object class ${c} is not allowed for a ${type}`, type);

  for (const a of rules.attributes.required) {
    const v = values(entry, a).filter((x) => x.trim() !== '');
    if (v.length === 0) add('ldap.attribute_missing', entry.dn, `attribute ${a} is required`, type);
  }
  const known = new Set([...rules.attributes.required, ...rules.attributes.optional, ...(opts.tolerateReadOnly ? rules.attributes.tolerated_on_read : [])].map(lower));
  for (const name of Object.keys(entry.attributes)) {
    const l = lower(name);
    if (known.has(l) || secretNames.has(l)) continue;
    add('ldap.attribute_not_allowed', entry.dn, `attribute ${name} is not part of the canonical ${type} entry`, type);
  }
  for (const a of rules.attributes.single_valued) {
    const v = values(entry, a);
    if (v.length > 1) add('ldap.attribute_single_valued', entry.dn, `${a} has ${v.length} values; the canonical schema allows one`, type);
  }
  for (const [a, rule] of Object.entries(rules.attributes.values)) {
    for (const v of values(entry, a)) {
      if (rule.pattern !== undefined && !new RegExp(rule.pattern, 'u').test(v)) add('ldap.attribute_value_invalid', entry.dn, `${a} ${JSON.stringify(v)} does not match ${rule.pattern}`, type);
      if (rule.enum !== undefined && !rule.enum.includes(v)) add('ldap.attribute_value_invalid', entry.dn, `${a} ${JSON.stringify(v)} is not one of ${rule.enum.join(', ')}`, type);
    }
  }
}

function checkCrossEntry(entries: Classified[], add: Add): void {
  const ofKind = (k: EntryType) => entries.filter((e) => e.kind === k);
  for (const type of ['user', 'group'] as const) {
    for (const a of LDAP_RULES.entry_types[type].attributes.unique) {
      const first = new Map<string, string>();
      for (const { entry } of ofKind(type)) {
        for (const v of new Set(values(entry, a).map(lower))) {
          const prev = first.get(v);
          if (prev !== undefined) add('ldap.unique_value', entry.dn, `${a} ${JSON.stringify(v)} is also on ${prev}`, type);
          else first.set(v, entry.dn);
        }
      }
    }
  }
  const userDns = new Set(ofKind('user').map((e) => e.norm));
  const known = new Map(entries.map((e) => [e.norm, e.kind]));
  const memberships = new Map<string, Set<string>>(); // user -> groups
  for (const { entry, norm } of ofKind('group')) {
    const members = dnSet(entry, memberAttr);
    for (const [m, raw] of members) {
      if (m.startsWith('invalid:')) add('ldap.member_unknown', entry.dn, `${memberAttr} ${JSON.stringify(raw)} is not a DN`);
      else if (userDns.has(m)) memberships.set(m, (memberships.get(m) ?? new Set()).add(norm));
      else if (known.get(m) === 'group') add('ldap.member_not_user', entry.dn, `${memberAttr} ${raw} is a group; groups do not nest`);
      else if (isUnderPeople(m)) add('ldap.member_unknown', entry.dn, `${memberAttr} ${raw} names no user entry`);
      else add('ldap.member_not_user', entry.dn, `${memberAttr} ${raw} is not a user entry of this directory`);
    }
    for (const mirror of LDAP_RULES.membership.mirror_attributes_on_read) {
      if (values(entry, mirror).length === 0) continue;
      const other = dnSet(entry, mirror);
      const same = other.size === members.size && [...other.keys()].every((k) => members.has(k));
      if (!same) add('ldap.member_mirror_mismatch', entry.dn, `${mirror} (${other.size} value(s)) differs from ${memberAttr} (${members.size})`);
    }
  }
  const reverse = LDAP_RULES.membership.reverse_attribute_on_read;
  const users = ofKind('user');
  // Only where the server maintains memberOf (any user carries it) is its absence on a member a disagreement.
  if (users.some((u) => values(u.entry, reverse).length > 0)) {
    for (const { entry, norm } of users) {
      const expected = memberships.get(norm) ?? new Set<string>();
      const actual = new Set(dnSet(entry, reverse).keys());
      const same = expected.size === actual.size && [...expected].every((g) => actual.has(g));
      if (!same) add('ldap.member_of_mismatch', entry.dn, `${reverse} names ${actual.size} group(s), the groups list this user in ${expected.size}`);
    }
  }
}

function isUnderPeople(normDn: string): boolean {
  const rdns = parseDn(normDn);
  return rdns.length >= 2 && rdnsEqual(rdns[1]!, parseDn(LDAP_RULES.layout.containers.people.rdn)[0]!);
}

/** Attributes a canonical entry of each type states, compared value for value after a migration. */
function managedAttributes(type: EntryType): string[] {
  const a = LDAP_RULES.entry_types[type].attributes;
  return [...a.required, ...a.optional].filter((x) => lower(x) !== 'objectclass' && x !== memberAttr);
}

function kindOf(entry: LdapEntry, baseDn: string): EntryType | undefined {
  let rdns: Rdn[];
  try {
    rdns = parseDn(entry.dn);
  } catch {
    return undefined;
  }
  const base = parseDn(baseDn);
  if (rdns.length !== base.length + 2) return undefined;
  const container = rdns[1]!;
  if (rdnsEqual(container, parseDn(LDAP_RULES.layout.containers.people.rdn)[0]!)) return 'user';
  if (rdnsEqual(container, parseDn(LDAP_RULES.layout.containers.groups.rdn)[0]!)) return 'group';
  return undefined;
}

function sameValues(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort();
  const y = [...b].sort();
  return x.every((v, i) => v === y[i]);
}
const show = (v: string[]) => (v.length ? v.map((x) => JSON.stringify(x)).join(', ') : '(absent)');

/**
 * Post-migration: the live target against the entries the canonical source maps to. Every user, group and
 * membership must be there with the same values; anything else in the target is unexpected.
 */
export function compareWithCanonical(expected: readonly LdapEntry[], actual: readonly LdapEntry[], opts: { source: string; baseDn: string }): Finding[] {
  const findings: Finding[] = [];
  const add = (code: string, dn: string, message: string) => findings.push({ code, severity: LDAP_RULES.codes[code]!.severity, message, source: opts.source, dn, rule: rulePointer(code) });
  const index = (list: readonly LdapEntry[]) => {
    const m = new Map<string, LdapEntry>();
    for (const e of list) {
      const n = tryNormalizeDn(e.dn);
      if (n !== undefined && kindOf(e, opts.baseDn)) m.set(n, normalizeAttributeNames(e, KNOWN_ATTRIBUTES));
    }
    return m;
  };
  const want = index(expected);
  const have = index(actual);
  for (const [norm, exp] of want) {
    const type = kindOf(exp, opts.baseDn)!;
    const got = have.get(norm);
    if (!got) {
      add(type === 'user' ? 'ldap.migration.user_missing' : 'ldap.migration.group_missing', exp.dn, `the canonical ${type} has no entry in the target`);
      continue;
    }
    for (const a of managedAttributes(type)) {
      const e = values(exp, a);
      const g = values(got, a);
      if (!sameValues(e, g)) add('ldap.migration.value_mismatch', exp.dn, `${a}: expected ${show(e)}, found ${show(g)}`);
    }
    if (type === 'group') {
      const e = dnSet(exp, memberAttr);
      const g = dnSet(got, memberAttr);
      for (const [m, raw] of e) if (!g.has(m)) add('ldap.migration.membership_missing', exp.dn, `member ${raw} is missing`);
      for (const [m, raw] of g) if (!e.has(m)) add('ldap.migration.membership_unexpected', exp.dn, `member ${raw} is not in the canonical source`);
    }
  }
  for (const [norm, got] of have) if (!want.has(norm)) add('ldap.migration.entry_unexpected', got.dn, `the target has a ${kindOf(got, opts.baseDn)} the canonical source does not`);
  return findings;
}

/** Attributes a server maintains or mirrors; their changes follow real ones and would only repeat them. */
const driftIgnored = new Set(Object.values(LDAP_RULES.entry_types).flatMap((t) => t.attributes.tolerated_on_read.map(lower)));
const dnValued = new Set([memberAttr, ...LDAP_RULES.membership.mirror_attributes_on_read, LDAP_RULES.membership.reverse_attribute_on_read].map(lower));

/** Drift: what changed from `before` to `after`, entry by entry and attribute by attribute. */
export function compareSnapshots(before: readonly LdapEntry[], after: readonly LdapEntry[], opts: { source: string }): Finding[] {
  const findings: Finding[] = [];
  const add = (code: string, dn: string, message: string) => findings.push({ code, severity: LDAP_RULES.codes[code]!.severity, message, source: opts.source, dn, rule: rulePointer(code) });
  const index = (list: readonly LdapEntry[]) => {
    const m = new Map<string, LdapEntry>();
    for (const e of list) m.set(tryNormalizeDn(e.dn) ?? `invalid:${e.dn}`, normalizeAttributeNames(e, KNOWN_ATTRIBUTES));
    return m;
  };
  const a = index(before);
  const b = index(after);
  for (const [n, e] of b) if (!a.has(n)) add('ldap.drift.entry_added', e.dn, 'entry added');
  for (const [n, e] of a) if (!b.has(n)) add('ldap.drift.entry_removed', e.dn, 'entry removed');
  for (const [n, old] of a) {
    const now = b.get(n);
    if (!now) continue;
    const names = new Map<string, string>();
    for (const k of [...Object.keys(old.attributes), ...Object.keys(now.attributes)]) if (!names.has(lower(k))) names.set(lower(k), k);
    for (const [l, name] of names) {
      if (driftIgnored.has(l)) continue;
      const norm = (vals: string[]) => (dnValued.has(l) ? [...dnSet({ dn: '', attributes: { [name]: vals } }, name).keys()] : vals);
      const x = norm(values(old, name));
      const y = norm(values(now, name));
      if (sameValues(x, y)) continue;
      const gone = x.filter((v) => !y.includes(v));
      const added = y.filter((v) => !x.includes(v));
      const secret = secretNames.has(l);
      add(
        'ldap.drift.value_changed',
        now.dn,
        secret ? `${name} changed` : `${name}: ${[...added.map((v) => `+${JSON.stringify(v)}`), ...gone.map((v) => `-${JSON.stringify(v)}`)].join(' ') || 'order changed'}`,
      );
    }
  }
  return findings;
}
