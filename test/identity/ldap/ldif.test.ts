import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { LdifError, parseLdif, writeLdif } from '../../../src/identity/ldap/ldif.ts';
import { identityToEntries } from '../../../src/identity/ldap/mapping.ts';
import type { LdapEntry } from '../../../src/identity/ldap/entry.ts';

const tricky: LdapEntry[] = [
  {
    dn: 'cn=Núñez\\, Carol,ou=people,dc=example,dc=com',
    attributes: {
      objectClass: ['top', 'inetOrgPerson'],
      cn: ['Núñez, Carol'],
      description: [' leading space', 'trailing space ', ':colon first', '<angle first', 'line\nbreak', 'x'.repeat(200), ''],
      sn: ['😀 emoji'],
    },
  },
  { dn: 'ou=people,dc=example,dc=com', attributes: { objectClass: ['organizationalUnit'], ou: ['people'] } },
];

describe('LDIF (RFC 2849)', () => {
  it('round-trips values that need base64, folding and non-ASCII DNs', () => {
    const text = writeLdif(tricky, { schemaVersion: '0.1', comments: ['two\nlines'] });
    for (const line of text.split('\n')) assert.ok(line.length <= 76, `folded: ${line.length}`);
    assert.match(text, /^version: 1\n# keycape-ldap-schema: 0\.1\n# two\n# lines\n\ndn:: /);
    assert.match(text, /\ndescription:\n/, 'an empty value is written as "name:"');
    const back = parseLdif(text);
    assert.deepEqual(back.entries, tricky);
    assert.equal(back.schemaVersion, '0.1');
  });

  it('round-trips the canonical fixture tenant, and the committed fixtures/ldap/tenant.ldif is its rendering', () => {
    const doc = JSON.parse(readFileSync('fixtures/identity/tenant.json', 'utf8'));
    const entries = identityToEntries(doc, 'dc=example,dc=com');
    assert.deepEqual(parseLdif(writeLdif(entries)).entries, entries);
    const golden = readFileSync('fixtures/ldap/tenant.ldif', 'utf8');
    assert.deepEqual(parseLdif(golden).entries, entries);
  });

  it('reads what other tools write: CRLF, comments, folded comments, changetype add, version on the first record, a BOM', () => {
    const text = '\uFEFFversion: 1\r\ndn: uid=a,ou=people,dc=x\r\n# a comment\r\n  that continues\r\nchangetype: add\r\nobjectClass: inetOrgPerson\r\ncn: A long\r\n  value\r\nsn:: QsOp\r\n\r\n\r\ndn: uid=b,ou=people,dc=x\r\ncn:\r\n';
    assert.deepEqual(parseLdif(text).entries, [
      { dn: 'uid=a,ou=people,dc=x', attributes: { objectClass: ['inetOrgPerson'], cn: ['A long value'], sn: ['Bé'] } },
      { dn: 'uid=b,ou=people,dc=x', attributes: { cn: [''] } },
    ]);
  });

  it('refuses what it does not support, with the line number', () => {
    const cases: [string, number, RegExp][] = [
      ['dn: a=b\ncn:< file:///etc/passwd\n', 2, /URL values/],
      ['dn: a=b\nchangetype: modify\nreplace: cn\n', 2, /change record/],
      ['dn: a=b\ncn\n', 2, /expected "attribute: value"/],
      ['cn: x\n', 1, /starts with "dn:"/],
      ['dn: a=b\njpegPhoto:: /9j/4AAQ\n', 2, /binary values/],
      ['dn: a=b\ncn:: not*base64\n', 2, /invalid base64/],
      ['version: 2\n\ndn: a=b\n', 1, /version 1/],
      [' continued\n', 1, /continuation/],
      ['dn: a=b\ncontrol: 1.2.3 true\n', 2, /controls/],
      ['dn: a=b\ncn: x\ndn: c=d\n', 3, /second dn/],
      ['dn: a=b\nbad name: x\n', 2, /invalid attribute name/],
    ];
    for (const [text, line, message] of cases) {
      assert.throws(
        () => parseLdif(text),
        (e: unknown) => e instanceof LdifError && e.line === line && message.test(e.message),
        JSON.stringify(text),
      );
    }
  });
});
