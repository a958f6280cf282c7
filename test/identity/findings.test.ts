// Output formats of the validators: text, JSON and JUnit XML (with its escaping).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeXml, formatJson, formatJunit, formatText, type Report } from '../../src/identity/findings.ts';

const report: Report = {
  name: 'keyward identity validate',
  sources: ['a.json', 'b & <c>.json'],
  codes: ['identity.one', 'identity.two'],
  findings: [
    { code: 'identity.one', severity: 'error', message: 'bad "x" & <y>', source: 'a.json', path: '/users/0' },
    { code: 'identity.one', severity: 'error', message: 'second', source: 'a.json', path: '/users/1' },
    { code: 'ldap.x', severity: 'warning', message: "it's odd", source: 'b & <c>.json', dn: 'cn=a\\,b,ou=groups,dc=x', rule: '/codes' },
  ],
};

describe('validator output', () => {
  it('escapeXml escapes markup and quotes, keeps text, replaces what XML 1.0 cannot carry', () => {
    assert.equal(escapeXml(`a<b>&"c"'d'`), 'a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;');
    assert.equal(escapeXml('ünï ☃ 😀'), 'ünï ☃ 😀');
    assert.equal(escapeXml('tab\there\nline\r'), 'tab&#9;here&#10;line&#13;');
    assert.equal(escapeXml('nul\u0000 esc\u001b bad\ud800 \uffff'), 'nul\ufffd esc\ufffd bad\ufffd \ufffd');
    assert.equal(escapeXml(']]>'), ']]&gt;');
  });

  it('text: one line per finding with code and location, then a summary', () => {
    const lines = formatText(report);
    assert.equal(lines[0], 'a.json: error identity.one at /users/0: bad "x" & <y>');
    assert.equal(lines[2], "b & <c>.json: warning ldap.x at cn=a\\,b,ou=groups,dc=x rule /codes: it's odd");
    assert.equal(lines.at(-1), '2 source(s) checked: 2 error(s), 1 warning(s)');
  });

  it('JSON: ok flag, counts and the findings as they are', () => {
    const j = JSON.parse(formatJson(report));
    assert.equal(j.ok, false);
    assert.equal(j.errors, 2);
    assert.equal(j.warnings, 1);
    assert.deepEqual(j.findings, report.findings);
    assert.equal(JSON.parse(formatJson({ ...report, findings: [] })).ok, true);
  });

  it('JUnit: a suite per source, a case per code, failures for errors, warnings as system-out, all escaped', () => {
    const xml = formatJunit(report);
    assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="keyward identity validate" tests="5" failures="1" errors="0">/);
    assert.match(xml, /<testsuite name="a.json" tests="2" failures="1"/);
    assert.match(xml, /<testsuite name="b &amp; &lt;c&gt;.json" tests="3" failures="0"/);
    assert.match(xml, /<testcase classname="a.json" name="identity.two"\/>/);
    assert.match(xml, /<failure type="identity.one" message="2 finding\(s\): bad &quot;x&quot; &amp; &lt;y&gt;">\/users\/0: bad &quot;x&quot; &amp; &lt;y&gt;&#10;\/users\/1: second<\/failure>/);
    assert.match(xml, /<system-out>warning cn=a\\,b,ou=groups,dc=x rule \/codes: it&apos;s odd<\/system-out>/);
    // Well-formed: no raw markup characters survive outside tags.
    const text = xml.replace(/<[^>]*>/g, '');
    assert.ok(!/[<>]/.test(text));
    assert.ok(!/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(xml), 'every & starts an entity');
  });
});
