// Where the validator's entries come from: an LDIF file, a JSON list of {dn, attributes}, a canonical identity
// document (mapped to entries) or a live directory. Problems reading an input are findings, so one bad file in a
// CI run is reported with the others instead of stopping the run.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Finding } from '../findings.ts';
import type { IdentityDocument } from '../model.ts';
import { parseIdentityText, validateIdentityDocument } from '../validate.ts';
import { readDirectory, withDirectory, type DirectoryOptions } from './directory.ts';
import type { LdapEntry } from './entry.ts';
import { LdifError, parseLdif } from './ldif.ts';
import { identityToEntries } from './mapping.ts';
import { rulePointer } from './rules.ts';

export interface EntrySource {
  source: string;
  entries: LdapEntry[];
  /** Canonical LDAP schema version the input states (LDIF marker, or the document's profile version). */
  schemaVersion?: string | undefined;
  /** The canonical document, when the input was one. */
  document?: IdentityDocument | undefined;
  /** Problems reading the input; when any is an error, `entries` is empty. */
  findings: Finding[];
}

const inputInvalid = (source: string, message: string): Finding => ({ code: 'ldap.input_invalid', severity: 'error', message, source, dn: '', rule: rulePointer('ldap.input_invalid') });

function isEntryList(v: unknown): v is LdapEntry[] {
  return (
    Array.isArray(v) &&
    v.every(
      (e) =>
        typeof e === 'object' &&
        e !== null &&
        typeof (e as LdapEntry).dn === 'string' &&
        typeof (e as LdapEntry).attributes === 'object' &&
        (e as LdapEntry).attributes !== null &&
        Object.values((e as LdapEntry).attributes).every((vals) => Array.isArray(vals) && vals.every((x) => typeof x === 'string')),
    )
  );
}

/** A canonical document from a file, with its identity findings (the document only when it has no errors). */
export async function loadCanonical(path: string): Promise<{ document?: IdentityDocument; findings: Finding[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return { findings: [inputInvalid(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)] };
  }
  const parsed = parseIdentityText(text, path);
  if ('finding' in parsed) return { findings: [parsed.finding] };
  const findings = validateIdentityDocument(parsed.data, path);
  return findings.some((f) => f.severity === 'error') ? { findings } : { document: parsed.data as IdentityDocument, findings };
}

/**
 * Entries from a file: `.ldif`, or JSON/YAML holding either a list of {dn, attributes} or a canonical identity
 * document (recognised by its `schema_version`), which is mapped below `baseDn`.
 */
export async function loadEntryFile(path: string, baseDn: string): Promise<EntrySource> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return { source: path, entries: [], findings: [inputInvalid(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)] };
  }
  if (extname(path).toLowerCase() === '.ldif') {
    try {
      const doc = parseLdif(text);
      return { source: path, entries: doc.entries, schemaVersion: doc.schemaVersion, findings: [] };
    } catch (e) {
      if (e instanceof LdifError) return { source: path, entries: [], findings: [inputInvalid(path, e.message)] };
      throw e;
    }
  }
  const parsed = parseIdentityText(text, path);
  if ('finding' in parsed) return { source: path, entries: [], findings: [inputInvalid(path, parsed.finding.message)] };
  if (isEntryList(parsed.data)) return { source: path, entries: parsed.data, findings: [] };
  if (typeof parsed.data === 'object' && parsed.data !== null && 'schema_version' in parsed.data) {
    const { document, findings } = await loadCanonical(path);
    if (!document) return { source: path, entries: [], findings };
    return { source: path, entries: identityToEntries(document, baseDn), schemaVersion: document.profile_versions[0]!.ldap_schema, document, findings };
  }
  return { source: path, entries: [], findings: [inputInvalid(path, 'expected LDIF, a JSON list of {dn, attributes} or a canonical identity document')] };
}

/** How a live directory is named in findings: an LDAP URL with the base DN (RFC 4516). */
export function liveSourceName(url: string, baseDn: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/${encodeURIComponent(baseDn).replaceAll('%3D', '=').replaceAll('%2C', ',')}`;
  } catch {
    return url;
  }
}

export async function loadDirectory(opts: DirectoryOptions, baseDn: string): Promise<EntrySource> {
  const entries = await withDirectory(opts, (c) => readDirectory(c, baseDn));
  return { source: liveSourceName(opts.url, baseDn), entries, findings: [] };
}
