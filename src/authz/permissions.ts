// The permission grammar and its matcher.
//   <prefix>.key.<keyId>.<action>   <prefix>.keys.list   <prefix>.keys.random   <prefix>.system.<op>
//   <prefix>.audit.read             <prefix>.authz.explain
// A grant may use `*`: inside a segment it matches within that segment only (keyward.key.payments-*.sign);
// a final lone `*` matches one or more segments below (keyward.system.*, keyward.*). A grant starting with
// `-` denies and wins over every allow. The first segment (the prefix) is always literal, so a stray `*`
// scope or a grant for another prefix can never match.
// Key ids may contain dots, so a key permission is parsed structurally: prefix, `key`, the id (everything
// between), the action (last segment).
import { ACTION_PERMISSIONS, isAction } from '../core/actions.ts';
import { isValidKeyId } from '../keys/types.ts';

export const PREFIX_RE = /^[a-z][a-z0-9_-]{0,31}$/;

/** `<scope>.<segment>` of the permissions that only an exact grant allows (see ACTION_PERMISSIONS `explicit`). */
const EXPLICIT_ONLY = new Set(Object.values(ACTION_PERMISSIONS).filter((p) => p.explicit).map((p) => `${p.scope}.${p.segment}`));

/** Whether only a grant naming this permission exactly can allow it. */
export function isExplicitOnly(permission: string): boolean {
  const p = permission.split('.');
  return p.length === 3 && EXPLICIT_ONLY.has(`${p[1]}.${p[2]}`);
}

export function permissionFor(prefix: string, action: string, keyId?: string, opts: { overwrite?: boolean } = {}): string {
  if (!isAction(action)) throw new TypeError(`unknown action ${action}`);
  const { scope, segment } = ACTION_PERMISSIONS[action];
  if (scope !== 'key') return `${prefix}.${scope}.${segment}`;
  if (keyId === undefined || !isValidKeyId(keyId)) throw new TypeError(`action ${action} needs a valid key id`);
  // Replacing an existing key, by creating or by importing over it, is its own permission.
  const seg = (action === 'kms:CreateKey' || action === 'kms:ImportKey') && opts.overwrite ? 'overwrite' : segment;
  return `${prefix}.key.${keyId}.${seg}`;
}

function split(s: string): string[] {
  const parts = s.split('.');
  if (parts[1] === 'key' && parts.length > 4) return [parts[0]!, 'key', parts.slice(2, -1).join('.'), parts.at(-1)!];
  return parts;
}

const globCache = new Map<string, RegExp>();
function glob(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  let re = globCache.get(pattern);
  if (!re) {
    re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 's');
    if (globCache.size > 10_000) globCache.clear();
    globCache.set(pattern, re);
  }
  return re.test(value);
}

// TKeeper names, understood when the prefix is `tkeeper`, so existing TKeeper tokens keep working:
//   dkg.generate → key.*.create, dkg.generate.overwrite → key.*.overwrite, storage.write → key.*.import,
//   storage.delete → key.*.destroy, integrity.regen → system.reload (TKeeper's maintenance of its own
//   integrity state; Keyward's closest operation re-reads keyrings, policies and config; it grants no key access).
const TKEEPER_ALIASES: Record<string, string> = {
  'dkg.generate': 'key.*.create',
  'dkg.generate.overwrite': 'key.*.overwrite',
  'storage.write': 'key.*.import',
  'storage.delete': 'key.*.destroy',
  'integrity.regen': 'system.reload',
};

function expand(grant: string): string {
  if (!grant.startsWith('tkeeper.')) return grant;
  const alias = TKEEPER_ALIASES[grant.slice('tkeeper.'.length)];
  return alias ? `tkeeper.${alias}` : grant;
}

/** Whether one (positive) grant covers a permission. A leading `-` is ignored here; see evaluate. */
export function matchGrant(grant: string, permission: string): boolean {
  const positive = expand(grant.startsWith('-') ? grant.slice(1) : grant);
  // A wildcard may deny an explicit-only permission, never allow it.
  if (!grant.startsWith('-') && positive.includes('*') && isExplicitOnly(permission)) return false;
  const g = split(positive);
  const p = split(permission);
  if (g.length === 0 || g[0] !== p[0] || g[0]!.includes('*') || g[0] === '') return false;
  for (let i = 1; i < g.length; i++) {
    const seg = g[i]!;
    if (seg === '*' && i === g.length - 1) return p.length > i;
    if (i >= p.length || !glob(seg, p[i]!)) return false;
  }
  return p.length === g.length;
}

export interface Evaluation {
  allowed: boolean;
  /** The allow grants that match. */
  matched: string[];
  /** The first deny grant that matches, if any. */
  deniedBy?: string;
}

export function evaluate(grants: readonly string[], permission: string): Evaluation {
  const matched: string[] = [];
  let deniedBy: string | undefined;
  for (const grant of grants) {
    if (typeof grant !== 'string') continue;
    if (!matchGrant(grant, permission)) continue;
    if (grant.startsWith('-')) deniedBy ??= grant;
    else matched.push(grant);
  }
  return deniedBy !== undefined ? { allowed: false, matched, deniedBy } : { allowed: matched.length > 0, matched };
}
