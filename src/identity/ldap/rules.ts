// The canonical LDAP schema rule set (schemas/identity/keycape-ldap-v0.1.json), typed. The validator reads every
// rule from it, so the published document and the checks cannot disagree; findings point back into it.
import ruleset from '../../../schemas/identity/keycape-ldap-v0.1.json' with { type: 'json' };

export type EntryType = 'user' | 'group';

export interface EntryTypeRules {
  container: string;
  naming: { rdn_attribute: string; pattern: string; single_valued_rdn: boolean };
  object_classes: { required: string[]; written: string[]; allowed: string[]; tolerated_on_read: string[] };
  attributes: {
    required: string[];
    optional: string[];
    tolerated_on_read: string[];
    single_valued: string[];
    unique: string[];
    values: Record<string, { pattern?: string; enum?: string[] }>;
  };
}

export interface LdapRuleSet {
  $id: string;
  ldap_schema_version: string;
  identity_model_version: string;
  profile: { name: string; version: string };
  layout: { containers: Record<'people' | 'groups', { rdn: string; object_classes: string[] }>; base_entry_object_classes: string[] };
  entry_types: Record<EntryType, EntryTypeRules>;
  membership: { attribute: string; mirror_attributes_on_read: string[]; reverse_attribute_on_read: string; empty_group_placeholder: string };
  account_state: { disabled_group: string };
  forbidden: { secret_attributes: { attributes: string[] }; object_classes: { classes: string[] } };
  codes: Record<string, { severity: 'error' | 'warning'; rule: string; description: string }>;
}

export const LDAP_RULES: LdapRuleSet = ruleset as LdapRuleSet;
export const LDAP_SCHEMA_VERSION = LDAP_RULES.ldap_schema_version;
export const LDAP_CODES: readonly string[] = Object.keys(LDAP_RULES.codes);

/** The pointer of a code's rule, with `{type}` filled in for rules that differ per entry type. */
export function rulePointer(code: string, type?: EntryType): string {
  const rule = LDAP_RULES.codes[code]?.rule;
  if (!rule) throw new Error(`unknown LDAP rule code ${code}`);
  return type ? rule.replace('{type}', type) : rule;
}

/** Every attribute name the rule set knows, in its spelling (used to merge `CN` into `cn`). */
export const KNOWN_ATTRIBUTES: readonly string[] = [
  ...new Set([
    'objectClass',
    'ou',
    'dc',
    'o',
    ...Object.values(LDAP_RULES.entry_types).flatMap((t) => [...t.attributes.required, ...t.attributes.optional, ...t.attributes.tolerated_on_read]),
    ...LDAP_RULES.forbidden.secret_attributes.attributes,
  ]),
];
