// How a run is shown: a JUnit XML report for CI systems (one testsuite per category) and plain-text tables for
// people, the §15.4 acceptance rule last.
import type { ConformanceRun } from './runner.ts';

const xml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

const seconds = (ms: number) => (ms / 1000).toFixed(3);

export function junitXml(run: ConformanceRun): string {
  const r = run.results;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="keyward conformance ${run.scenario}" tests="${r.summary.total}" failures="${r.summary.failed}" skipped="${r.summary.skipped}" errors="0" time="${seconds(run.outcomes.reduce((n, o) => n + o.duration_ms, 0))}">`,
  ];
  const categories = [...new Set(run.outcomes.map((o) => o.def.category))];
  for (const c of categories) {
    const mine = run.outcomes.filter((o) => o.def.category === c);
    const n = (s: string) => mine.filter((o) => o.status === s).length;
    out.push(
      `  <testsuite name="${xml(c)}" tests="${mine.length}" failures="${n('failed')}" skipped="${n('skipped')}" errors="0" time="${seconds(mine.reduce((x, o) => x + o.duration_ms, 0))}" timestamp="${xml(r.started_at ?? '')}">`,
    );
    out.push(`    <properties><property name="issuer" value="${xml(run.issuer)}"/><property name="scenario" value="${run.scenario}"/></properties>`);
    for (const o of mine) {
      const open = `    <testcase classname="conformance.${xml(c)}" name="${xml(`${o.def.id} ${o.def.title}`)}" time="${seconds(o.duration_ms)}"`;
      if (o.status === 'passed') out.push(`${open}/>`);
      else if (o.status === 'skipped') out.push(`${open}><skipped message="${xml(o.message ?? '')}"/></testcase>`);
      else out.push(`${open}><failure message="${xml(o.message ?? 'failed')}" type="${xml(o.def.section)}">${xml(o.def.asserts)}</failure></testcase>`);
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}

/** Columns padded to the widest cell; long cells are cut so a line stays readable in a terminal. */
export function textTable(head: string[], rows: string[][], max = 70): string[] {
  const cut = (s: string) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);
  const cells = [head, ...rows].map((r) => r.map(cut));
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)];
}

export function printRun(run: ConformanceRun): string[] {
  const r = run.results;
  return [
    `conformance scenario ${run.scenario} against ${run.issuer} (${run.keyward ? 'Keyward' : 'another issuer'})`,
    '',
    ...textTable(
      ['test', 'category', 'status', 'detail'],
      run.outcomes.map((o) => [`${o.def.id} ${o.def.title}`, o.def.category, o.status, o.message ?? '']),
    ),
    '',
    ...textTable(
      ['acceptance rule (§15.4)', 'status', 'detail'],
      r.acceptance.map((a) => [a.rule, a.status.replace('_', ' '), a.detail ?? '']),
    ),
    '',
    `${r.status}: ${r.summary.passed} passed, ${r.summary.failed} failed, ${r.summary.skipped} skipped`,
  ];
}
