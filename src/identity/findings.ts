// Findings of the identity and LDAP validators, and their three output formats: text for people, JSON for
// scripts, JUnit XML for CI dashboards. A finding always has a stable dotted code; where it is depends on what was
// checked: a JSON pointer into a document, or a DN and the pointer of the LDAP rule it breaks.

export type Severity = 'error' | 'warning';

export interface Finding {
  code: string;
  severity: Severity;
  message: string;
  /** The file or URL the finding is about. */
  source: string;
  /** JSON pointer into the canonical document (identity findings). */
  path?: string;
  /** Distinguished name of the entry (LDAP findings). */
  dn?: string;
  /** JSON pointer into the LDAP rule set naming the rule that is broken (LDAP findings). */
  rule?: string;
}

/** What was checked: each source, so a clean file still shows up as a passing suite. */
export interface Report {
  /** What produced the report, e.g. `keyward identity validate` or `keyward ldap validate --mode drift`. */
  name: string;
  sources: string[];
  findings: Finding[];
  /** Every code the checks can produce; JUnit lists each as a test case per source. */
  codes: readonly string[];
}

export const errorCount = (findings: readonly Finding[]) => findings.filter((f) => f.severity === 'error').length;

function where(f: Finding): string {
  const parts: string[] = [];
  if (f.dn !== undefined) parts.push(f.dn === '' ? '(no dn)' : f.dn);
  if (f.path !== undefined) parts.push(f.path === '' ? '/' : f.path);
  if (f.rule !== undefined) parts.push(`rule ${f.rule}`);
  return parts.join(' ');
}

export function formatText(r: Report): string[] {
  const lines = r.findings.map((f) => `${f.source}: ${f.severity} ${f.code}${where(f) ? ` at ${where(f)}` : ''}: ${f.message}`);
  const errors = errorCount(r.findings);
  const warnings = r.findings.length - errors;
  lines.push(`${r.sources.length} source(s) checked: ${errors} error(s), ${warnings} warning(s)`);
  return lines;
}

export function formatJson(r: Report): string {
  const errors = errorCount(r.findings);
  return JSON.stringify({ ok: errors === 0, errors, warnings: r.findings.length - errors, sources: r.sources, findings: r.findings });
}

/**
 * Escapes text for XML 1.0 content and attribute values. Characters XML 1.0 cannot carry at all (most C0 controls,
 * lone surrogates, U+FFFE/U+FFFF) become U+FFFD, since no escape can represent them.
 */
export function escapeXml(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '"') out += '&quot;';
    else if (ch === "'") out += '&apos;';
    else if (c === 0x9 || c === 0xa || c === 0xd) out += `&#${c};`;
    else if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff) || c === 0xfffe || c === 0xffff) out += '\ufffd';
    else out += ch;
  }
  return out;
}

/**
 * JUnit XML: one test suite per source, one test case per code, failed when the source has error findings with
 * that code (warnings go to the case's system-out). A CI dashboard then shows which rules pass, not only failures.
 */
export function formatJunit(r: Report): string {
  const a = escapeXml;
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  for (const source of r.sources) {
    const mine = r.findings.filter((f) => f.source === source);
    const codes = [...new Set([...r.codes, ...mine.map((f) => f.code)])];
    const cases: string[] = [];
    let suiteFailures = 0;
    for (const code of codes) {
      const errs = mine.filter((f) => f.code === code && f.severity === 'error');
      const warns = mine.filter((f) => f.code === code && f.severity === 'warning');
      const body: string[] = [];
      if (errs.length) {
        suiteFailures++;
        const text = errs.map((f) => `${where(f)}: ${f.message}`).join('\n');
        body.push(`      <failure type="${a(code)}" message="${a(`${errs.length} finding(s): ${errs[0]!.message}`)}">${a(text)}</failure>`);
      }
      if (warns.length) body.push(`      <system-out>${a(warns.map((f) => `warning ${where(f)}: ${f.message}`).join('\n'))}</system-out>`);
      cases.push(
        body.length
          ? `    <testcase classname="${a(source)}" name="${a(code)}">\n${body.join('\n')}\n    </testcase>`
          : `    <testcase classname="${a(source)}" name="${a(code)}"/>`,
      );
    }
    tests += codes.length;
    failures += suiteFailures;
    suites.push(`  <testsuite name="${a(source)}" tests="${codes.length}" failures="${suiteFailures}" errors="0" skipped="0">\n${cases.join('\n')}\n  </testsuite>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${a(r.name)}" tests="${tests}" failures="${failures}" errors="0">\n${suites.join('\n')}\n</testsuites>\n`;
}
