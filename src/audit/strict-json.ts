// Parsing stored event lines as I-JSON (RFC 7493), which RFC 8785 canonicalisation presupposes. JSON.parse keeps
// the last of two members with the same name, so a line with a second `outcome` would verify against the first
// one's hash while saying something else to a reader that keeps the first. Such lines are refused, as are strings
// with lone surrogates (not representable in UTF-8).
import { createScanner, type SyntaxKind } from 'jsonc-parser';

// jsonc-parser's SyntaxKind is a const enum, which type stripping cannot inline: its values, as the library declares.
const TOKEN = { OpenBrace: 1, CloseBrace: 2, OpenBracket: 3, CloseBracket: 4, Comma: 5, String: 10, EOF: 17 } as const satisfies Record<string, SyntaxKind>;

export class IJsonError extends Error {}

/**
 * The first member name that appears twice in one object of `text`, if any. `text` must already be valid JSON.
 * Token by token, without recursion: a request body may nest deeper than the call stack goes.
 */
export function duplicateMemberName(text: string): string | undefined {
  const scanner = createScanner(text, true);
  // One entry per open object (its names so far) or array (null); `expectName`: the next string names a member.
  const open: Array<Set<string> | null> = [];
  let expectName = false;
  for (let token = scanner.scan(); token !== TOKEN.EOF; token = scanner.scan()) {
    switch (token) {
      case TOKEN.OpenBrace:
        open.push(new Set());
        expectName = true;
        break;
      case TOKEN.OpenBracket:
        open.push(null);
        expectName = false;
        break;
      case TOKEN.CloseBrace:
      case TOKEN.CloseBracket:
        open.pop();
        expectName = false;
        break;
      case TOKEN.Comma:
        expectName = open.at(-1) instanceof Set;
        break;
      case TOKEN.String: {
        const names = open.at(-1);
        if (expectName && names) {
          const name = scanner.getTokenValue();
          if (names.has(name)) return name;
          names.add(name);
        }
        expectName = false;
        break;
      }
      default:
        break;
    }
  }
  return undefined;
}

/**
 * What in `v` JSON.parse could not keep: a string (member names included) that is ill-formed UTF-16, or a number
 * beyond a double's range, which JSON.parse makes ±Infinity and JSON.stringify then writes as null. Iterative, like
 * duplicateMemberName.
 */
function unrepresentable(v: unknown): string | undefined {
  const todo: unknown[] = [v];
  while (todo.length > 0) {
    const x = todo.pop();
    if (typeof x === 'string') {
      if (!x.isWellFormed()) return 'a string contains a lone surrogate';
    } else if (typeof x === 'number') {
      if (!Number.isFinite(x)) return 'a number is beyond the range of a double';
    } else if (Array.isArray(x)) {
      for (const y of x) todo.push(y);
    } else if (x !== null && typeof x === 'object') {
      for (const [k, y] of Object.entries(x)) todo.push(k, y);
    }
  }
  return undefined;
}

/**
 * Why `value`, parsed from `text`, is not I-JSON (a member named twice in one object, a lone surrogate, a number no
 * double holds), or undefined. Request bodies are held to it too: the service would act on the last of two members
 * while a log or another parser reads the first, a lone surrogate has no UTF-8 form to be stored in, and a JWT
 * would be signed with null where the caller sent 1e400.
 */
export function ijsonViolation(text: string, value: unknown): string | undefined {
  if (duplicateIn(text, value) !== undefined) return 'a member name appears twice in one object';
  return unrepresentable(value);
}

/**
 * duplicateMemberName, skipped where it cannot find anything: a text that re-serialises to itself lost no member to
 * a duplicate (compact bodies from JSON.stringify, every line Keyward writes).
 */
function duplicateIn(text: string, value: unknown): string | undefined {
  return reserialisesTo(value, text) ? undefined : duplicateMemberName(text);
}

/** Whether JSON.stringify(value) is `text` (false where it cannot follow the nesting: the scan decides then). */
function reserialisesTo(value: unknown, text: string): boolean {
  try {
    return JSON.stringify(value) === text;
  } catch {
    return false;
  }
}

/** JSON.parse, refusing duplicated member names, lone surrogates and out-of-range numbers; throws IJsonError (or SyntaxError). */
export function parseIJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  const dup = duplicateIn(text, value);
  if (dup !== undefined) throw new IJsonError(`member name ${JSON.stringify(dup)} appears twice in one object`);
  const lost = unrepresentable(value);
  if (lost !== undefined) throw new IJsonError(lost);
  return value;
}
