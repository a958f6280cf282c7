// Distinguished names (RFC 4514): parsing, escaping and a normal form for comparison. ldapts builds DNs but does not
// parse them, and the validator must compare DNs written by different servers and tools (`UID=Alice, ou=People`
// and `uid=alice,ou=people` name the same entry, since every naming attribute of the canonical schema matches
// without case).

export interface Ava {
  type: string;
  value: string;
}
/** One RDN: usually one type=value pair; several only in a multi-valued RDN (`cn=a+uid=b`). */
export type Rdn = Ava[];

export class DnError extends Error {
  override name = 'DnError';
}

const HEX = /^[0-9A-Fa-f]{2}$/;
const TYPE = /^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)$/;
const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** Parses a DN string into RDNs, leftmost (the entry's own) first. The empty string is the root DN (no RDNs). */
export function parseDn(dn: string): Rdn[] {
  if (dn.trim() === '') return [];
  const rdns: Rdn[] = [];
  let rdn: Rdn = [];
  let i = 0;
  const n = dn.length;
  for (;;) {
    // attribute type
    const eq = dn.indexOf('=', i);
    if (eq < 0) throw new DnError(`missing "=" in ${JSON.stringify(dn)}`);
    const type = dn.slice(i, eq).trim();
    if (!TYPE.test(type)) throw new DnError(`invalid attribute type ${JSON.stringify(type)} in ${JSON.stringify(dn)}`);
    i = eq + 1;
    while (i < n && dn[i] === ' ') i++;
    // attribute value, collected as bytes so hex escapes of UTF-8 sequences decode correctly
    const bytes: number[] = [];
    let trailingSpaces = 0; // unescaped spaces at the end are not part of the value
    let end: string | undefined;
    if (dn[i] === '#') throw new DnError(`BER-encoded (#) values are not supported in ${JSON.stringify(dn)}`);
    while (i < n) {
      const ch = dn[i]!;
      if (ch === ',' || ch === ';' || ch === '+') {
        end = ch;
        i++;
        break;
      }
      if (ch === '"') throw new DnError(`unescaped quote in ${JSON.stringify(dn)}`);
      if (ch === '\\') {
        const pair = dn.slice(i + 1, i + 3);
        if (HEX.test(pair)) {
          bytes.push(parseInt(pair, 16));
          i += 3;
        } else if (i + 1 < n && ' "#+,;<=>\\'.includes(dn[i + 1]!)) {
          bytes.push(dn.charCodeAt(i + 1));
          i += 2;
        } else throw new DnError(`invalid escape in ${JSON.stringify(dn)}`);
        trailingSpaces = 0;
        continue;
      }
      const cp = dn.codePointAt(i)!;
      const s = String.fromCodePoint(cp);
      bytes.push(...encoder.encode(s));
      trailingSpaces = ch === ' ' ? trailingSpaces + 1 : 0;
      i += s.length;
    }
    if (trailingSpaces) bytes.splice(bytes.length - trailingSpaces, trailingSpaces);
    let value: string;
    try {
      value = decoder.decode(new Uint8Array(bytes));
    } catch {
      throw new DnError(`value is not UTF-8 in ${JSON.stringify(dn)}`);
    }
    if (value === '') throw new DnError(`empty value for ${type} in ${JSON.stringify(dn)}`);
    rdn.push({ type, value });
    if (end !== '+') {
      rdns.push(rdn);
      rdn = [];
    }
    if (end === undefined) break;
    if (i >= n) throw new DnError(`DN ends with ${JSON.stringify(end)}: ${JSON.stringify(dn)}`);
  }
  return rdns;
}

/** Escapes an attribute value for a DN string (RFC 4514 §2.4). */
export function escapeDnValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\u0000') out += '\\00';
    else if ('"+,;<>\\='.includes(ch)) out += `\\${ch}`;
    else if ((i === 0 && (ch === ' ' || ch === '#')) || (i === value.length - 1 && ch === ' ')) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}

export function formatDn(rdns: Rdn[]): string {
  return rdns.map((r) => r.map((a) => `${a.type}=${escapeDnValue(a.value)}`).join('+')).join(',');
}

function normalRdns(rdns: Rdn[]): string {
  return rdns
    .map((r) =>
      r
        .map((a) => `${a.type.toLowerCase()}=${escapeDnValue(a.value.toLowerCase())}`)
        .sort()
        .join('+'),
    )
    .join(',');
}

/** A normal form for comparing DNs: lower-case types and values, canonical escaping, sorted multi-valued RDNs. */
export function normalizeDn(dn: string): string {
  return normalRdns(parseDn(dn));
}

/** normalizeDn, or undefined when the DN does not parse. */
export function tryNormalizeDn(dn: string): string | undefined {
  try {
    return normalizeDn(dn);
  } catch {
    return undefined;
  }
}

/** The DN of `rdn=value` under `parent`, escaped. */
export function childDn(type: string, value: string, parent: string): string {
  const own = `${type}=${escapeDnValue(value)}`;
  return parent === '' ? own : `${own},${parent}`;
}
