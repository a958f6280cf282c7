// Parsing stored event lines as I-JSON (RFC 7493), which RFC 8785 canonicalisation presupposes. JSON.parse keeps
// the last of two members with the same name, so a line with a second `outcome` would verify against the first
// one's hash while saying something else to a reader that keeps the first. Such lines are refused, as are strings
// with lone surrogates (not representable in UTF-8).
import { visit } from 'jsonc-parser';

export class IJsonError extends Error {}

/** The first member name that appears twice in one object of `text`, if any. `text` must already be valid JSON. */
export function duplicateMemberName(text: string): string | undefined {
  const open: Array<Set<string>> = [];
  let dup: string | undefined;
  visit(
    text,
    {
      onObjectBegin: () => void open.push(new Set()),
      onObjectEnd: () => void open.pop(),
      onObjectProperty: (name) => {
        const names = open.at(-1);
        if (!names || dup !== undefined) return;
        if (names.has(name)) dup = name;
        names.add(name);
      },
    },
    { disallowComments: true, allowTrailingComma: false },
  );
  return dup;
}

function illFormedString(v: unknown): boolean {
  if (typeof v === 'string') return !v.isWellFormed();
  if (Array.isArray(v)) return v.some(illFormedString);
  if (v !== null && typeof v === 'object') return Object.entries(v).some(([k, x]) => !k.isWellFormed() || illFormedString(x));
  return false;
}

/** JSON.parse, refusing duplicated member names and lone surrogates; throws IJsonError (or SyntaxError). */
export function parseIJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  // A line that re-serialises to itself cannot have lost a member to a duplicate (what Keyward itself writes).
  if (JSON.stringify(value) !== text) {
    const dup = duplicateMemberName(text);
    if (dup !== undefined) throw new IJsonError(`member name ${JSON.stringify(dup)} appears twice in one object`);
  }
  if (illFormedString(value)) throw new IJsonError('a string contains a lone surrogate');
  return value;
}
