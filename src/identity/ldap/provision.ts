// Provisioning canonical data into an LDAP directory: read what is there, plan the difference, write it. Plans
// are idempotent (a second run finds every entry unchanged) and computed in full before the first write, so a
// conflict (an entry at a canonical DN with another structure) refuses the whole run instead of half of it.
// Entries the document does not mention are reported and left alone: provisioning never deletes.
import type { Client } from 'ldapts';
import { ProblemError } from '../../core/problem.ts';
import { normalizeDn, parseDn, tryNormalizeDn } from './dn.ts';
import { addEntry, modifyEntry, type AttributeChange } from './directory.ts';
import { normalizeAttributeNames, values, type LdapEntry } from './entry.ts';
import { KNOWN_ATTRIBUTES, LDAP_RULES, type EntryType } from './rules.ts';

export interface LdapPlanStep {
  action: 'add' | 'modify' | 'unchanged' | 'extra' | 'conflict';
  dn: string;
  /** The entry to add. */
  entry?: LdapEntry;
  /** The attribute changes of a modify. */
  changes?: AttributeChange[];
  /** Why an entry is a conflict. */
  reason?: string;
}

const lower = (s: string) => s.toLowerCase();
const placeholder = normalizeDn(LDAP_RULES.membership.empty_group_placeholder);
const dnValued = new Set([LDAP_RULES.membership.attribute].map(lower));

function typeOf(dn: string, baseDn: string): EntryType | 'container' | undefined {
  const rdns = parseDn(dn);
  const base = parseDn(baseDn).length;
  const container = rdns.length === base + 2 ? normalizeDn(`${rdns[1]![0]!.type}=${rdns[1]![0]!.value}`) : undefined;
  if (rdns.length === base + 1) return 'container';
  if (container === normalizeDn(LDAP_RULES.layout.containers.people.rdn)) return 'user';
  if (container === normalizeDn(LDAP_RULES.layout.containers.groups.rdn)) return 'group';
  return undefined;
}

/** Values compared as the directory would: DN values in normal form (placeholder aside), others exactly. */
function comparable(attr: string, vals: string[]): string[] {
  if (!dnValued.has(lower(attr))) return [...vals].sort();
  return [...new Set(vals.map((v) => tryNormalizeDn(v) ?? v).filter((v) => v !== placeholder))].sort();
}

function differs(attr: string, a: string[], b: string[]): boolean {
  const x = comparable(attr, a);
  const y = comparable(attr, b);
  return x.length !== y.length || x.some((v, i) => v !== y[i]);
}

export function planLdapProvision(desired: readonly LdapEntry[], current: readonly LdapEntry[], baseDn: string): LdapPlanStep[] {
  const have = new Map(current.map((e) => [normalizeDn(e.dn), normalizeAttributeNames(e, KNOWN_ATTRIBUTES)]));
  const wanted = new Set<string>();
  const steps: LdapPlanStep[] = [];
  for (const want of desired) {
    const norm = normalizeDn(want.dn);
    wanted.add(norm);
    const got = have.get(norm);
    if (!got) {
      steps.push({ action: 'add', dn: want.dn, entry: want });
      continue;
    }
    const type = typeOf(want.dn, baseDn);
    if (type === 'container' || type === undefined) {
      steps.push({ action: 'unchanged', dn: got.dn });
      continue;
    }
    const rules = LDAP_RULES.entry_types[type];
    const classes = new Set(values(got, 'objectClass').map(lower));
    const missing = rules.object_classes.required.filter((c) => !classes.has(lower(c)));
    if (missing.length) {
      steps.push({ action: 'conflict', dn: got.dn, reason: `the existing entry lacks object class ${missing.join(', ')}; a structural class cannot be changed in place` });
      continue;
    }
    const changes: AttributeChange[] = [];
    for (const attr of [...rules.attributes.required, ...rules.attributes.optional]) {
      if (lower(attr) === 'objectclass' || lower(attr) === lower(rules.naming.rdn_attribute)) continue;
      const after = values(want, attr);
      const before = values(got, attr);
      if (!differs(attr, before, after)) continue;
      changes.push(after.length ? { attribute: attr, operation: 'replace', before, after } : { attribute: attr, operation: 'delete', before, after });
    }
    steps.push(changes.length ? { action: 'modify', dn: got.dn, changes } : { action: 'unchanged', dn: got.dn });
  }
  for (const [norm, e] of have) {
    const type = typeOf(e.dn, baseDn);
    if (!wanted.has(norm) && (type === 'user' || type === 'group')) steps.push({ action: 'extra', dn: e.dn });
  }
  return steps;
}

/**
 * Writes a plan: every add (in plan order: containers, users, groups), then every modify. LDAP has no
 * transactions across entries; if a write fails the error says how far it got, and running again completes it.
 */
export async function applyLdapPlan(client: Client, plan: readonly LdapPlanStep[]): Promise<void> {
  const conflicts = plan.filter((s) => s.action === 'conflict');
  if (conflicts.length)
    throw new ProblemError({ code: 'ldap.provision_conflict', detail: conflicts.map((c) => `${c.dn}: ${c.reason}`).join('; ') });
  const writes = [...plan.filter((s) => s.action === 'add'), ...plan.filter((s) => s.action === 'modify')];
  let done = 0;
  try {
    for (const s of writes) {
      if (s.action === 'add') await addEntry(client, s.entry!);
      else await modifyEntry(client, s.dn, s.changes!);
      done++;
    }
  } catch (e) {
    const err = e as Error;
    throw Object.assign(err, { message: `${err.message} (after ${done} of ${writes.length} write(s); provisioning again completes it)` });
  }
}

/** One line per step for --dry-run and the report of a run. */
export function describeStep(s: LdapPlanStep): string[] {
  switch (s.action) {
    case 'add':
      return [`+ add ${s.dn}`];
    case 'unchanged':
      return [`= unchanged ${s.dn}`];
    case 'extra':
      return [`? extra ${s.dn} (not in the document; left alone)`];
    case 'conflict':
      return [`! conflict ${s.dn}: ${s.reason}`];
    case 'modify':
      return [
        `~ modify ${s.dn}`,
        ...s.changes!.map((c) => `    ${c.operation} ${c.attribute}: ${JSON.stringify(c.before)} -> ${c.operation === 'delete' ? '(none)' : JSON.stringify(c.after)}`),
      ];
  }
}
