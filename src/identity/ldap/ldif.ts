// LDIF (RFC 2849) content records: reading and writing. No maintained npm LDIF parser exists (the `ldif` package
// had one release, years ago), and the subset the canonical schema needs is small: `version: 1`, comments, folded
// lines, `attr: value` and base64 `attr:: value`, `changetype: add`. Everything else (URL values, controls, change
// records other than add) is refused with the line number rather than guessed at.
import type { LdapEntry } from './entry.ts';

export class LdifError extends Error {
  override name = 'LdifError';
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.line = line;
  }
}

export interface LdifDocument {
  entries: LdapEntry[];
  /** The canonical LDAP schema version a `# keycape-ldap-schema: X` comment states, if any. */
  schemaVersion?: string;
}

export const SCHEMA_MARKER = '# keycape-ldap-schema: ';
const ATTR = /^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)(?:;[A-Za-z0-9-]+)*$/;
const decoder = new TextDecoder('utf-8', { fatal: true });

interface Logical {
  line: number;
  text: string;
}

function decodeBase64(text: string, line: number): string {
  const b64 = text.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new LdifError(line, 'invalid base64 value');
  try {
    return decoder.decode(Buffer.from(b64, 'base64'));
  } catch {
    throw new LdifError(line, 'binary values are not supported (base64 value is not UTF-8 text)');
  }
}

/** Splits `name: value`, `name:: base64` lines. */
function splitLine(l: Logical): { name: string; value: string } {
  const colon = l.text.indexOf(':');
  if (colon <= 0) throw new LdifError(l.line, `expected "attribute: value", got ${JSON.stringify(l.text.slice(0, 40))}`);
  const name = l.text.slice(0, colon);
  if (!ATTR.test(name)) throw new LdifError(l.line, `invalid attribute name ${JSON.stringify(name)}`);
  const rest = l.text.slice(colon + 1);
  if (rest.startsWith(':')) return { name, value: decodeBase64(rest.slice(1), l.line) };
  if (rest.startsWith('<')) throw new LdifError(l.line, 'URL values (":<") are not supported');
  return { name, value: rest.replace(/^ +/, '') };
}

export function parseLdif(text: string): LdifDocument {
  const physical = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  // Unfold into records of logical lines; comments (and their continuations) are set aside.
  const records: Logical[][] = [];
  let record: Logical[] = [];
  let last: Logical | undefined;
  let inComment = false;
  let schemaVersion: string | undefined;
  physical.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw.startsWith(' ')) {
      if (inComment) return;
      if (!last) throw new LdifError(line, 'continuation line without a line to continue');
      last.text += raw.slice(1);
      return;
    }
    inComment = false;
    if (raw === '') {
      if (record.length) records.push(record);
      record = [];
      last = undefined;
      return;
    }
    if (raw.startsWith('#')) {
      inComment = true;
      if (raw.startsWith(SCHEMA_MARKER) && schemaVersion === undefined) schemaVersion = raw.slice(SCHEMA_MARKER.length).trim();
      return;
    }
    last = { line, text: raw };
    record.push(last);
  });
  if (record.length) records.push(record);

  const entries: LdapEntry[] = [];
  records.forEach((rec, i) => {
    if (i === 0 && rec.length === 1 && /^version:/i.test(rec[0]!.text)) {
      if (splitLine(rec[0]!).value.trim() !== '1') throw new LdifError(rec[0]!.line, 'only LDIF version 1 is supported');
      return;
    }
    let lines = rec;
    if (i === 0 && /^version:/i.test(rec[0]!.text)) {
      // `version: 1` directly followed by the first record, without a blank line, is allowed too.
      if (splitLine(rec[0]!).value.trim() !== '1') throw new LdifError(rec[0]!.line, 'only LDIF version 1 is supported');
      lines = rec.slice(1);
    }
    const [first, ...rest] = lines;
    const dnLine = splitLine(first!);
    if (dnLine.name.toLowerCase() !== 'dn') throw new LdifError(first!.line, 'a record starts with "dn:"');
    const attributes: Record<string, string[]> = {};
    rest.forEach((l, j) => {
      const { name, value } = splitLine(l);
      const lower = name.toLowerCase();
      if (lower === 'control') throw new LdifError(l.line, 'controls are not supported');
      if (lower === 'changetype') {
        if (j !== 0) throw new LdifError(l.line, 'changetype must follow the dn line');
        if (value.trim().toLowerCase() !== 'add') throw new LdifError(l.line, `changetype ${value.trim()} is a change record, not content; only add is accepted`);
        return;
      }
      if (lower === 'dn') throw new LdifError(l.line, 'a second dn in one record (missing blank line?)');
      (attributes[name] ??= []).push(value);
    });
    entries.push({ dn: dnLine.value, attributes });
  });
  return schemaVersion === undefined ? { entries } : { entries, schemaVersion };
}

const MAX_LINE = 76;

/** RFC 2849 SAFE-STRING: printable ASCII, not starting with space, ':' or '<', not ending with a space. */
function isSafe(value: string): boolean {
  if (value === '') return true;
  if (/^[ :<]/.test(value) || value.endsWith(' ')) return false;
  return /^[\x01-\x09\x0b\x0c\x0e-\x7f]*$/.test(value);
}

function fold(line: string): string {
  if (line.length <= MAX_LINE) return line;
  const parts = [line.slice(0, MAX_LINE)];
  for (let i = MAX_LINE; i < line.length; i += MAX_LINE - 1) parts.push(' ' + line.slice(i, i + MAX_LINE - 1));
  return parts.join('\n');
}

function attrLine(name: string, value: string): string {
  return fold(isSafe(value) ? `${name}: ${value}`.replace(/: $/, ':') : `${name}:: ${Buffer.from(value, 'utf8').toString('base64')}`);
}

export interface WriteLdifOptions {
  /** Comment lines written after `version: 1` (without the leading `# `). */
  comments?: string[];
  /** Writes the `# keycape-ldap-schema: X` marker. */
  schemaVersion?: string;
}

export function writeLdif(entries: readonly LdapEntry[], opts: WriteLdifOptions = {}): string {
  const head = ['version: 1'];
  if (opts.schemaVersion !== undefined) head.push(SCHEMA_MARKER + opts.schemaVersion);
  for (const c of opts.comments ?? []) head.push(...c.split('\n').map((l) => `# ${l}`.trimEnd()));
  const blocks = [head.join('\n')];
  for (const e of entries) {
    const lines = [attrLine('dn', e.dn)];
    for (const [name, vals] of Object.entries(e.attributes)) for (const v of vals) lines.push(attrLine(name, v));
    blocks.push(lines.join('\n'));
  }
  return blocks.join('\n\n') + '\n';
}
