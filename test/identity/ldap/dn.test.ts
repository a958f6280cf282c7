import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { childDn, DnError, escapeDnValue, formatDn, normalizeDn, parseDn } from '../../../src/identity/ldap/dn.ts';

describe('distinguished names (RFC 4514)', () => {
  it('parses RDNs, multi-valued RDNs and spaces around separators', () => {
    assert.deepEqual(parseDn('uid=alice, ou=people ,dc=example,dc=com'), [
      [{ type: 'uid', value: 'alice' }],
      [{ type: 'ou', value: 'people' }],
      [{ type: 'dc', value: 'example' }],
      [{ type: 'dc', value: 'com' }],
    ]);
    assert.deepEqual(parseDn('cn=a+uid=b,dc=x'), [[{ type: 'cn', value: 'a' }, { type: 'uid', value: 'b' }], [{ type: 'dc', value: 'x' }]]);
    assert.deepEqual(parseDn(''), []);
    assert.deepEqual(parseDn('2.5.4.3=x'), [[{ type: '2.5.4.3', value: 'x' }]]);
  });

  it('decodes escapes: specials, escaped spaces, and hex pairs forming UTF-8', () => {
    assert.equal(parseDn('cn=Doe\\, John,dc=x')[0]![0]!.value, 'Doe, John');
    assert.equal(parseDn('cn=\\ lead and trail\\ ,dc=x')[0]![0]!.value, ' lead and trail ');
    assert.equal(parseDn('cn=N\\C3\\BA\\C3\\B1ez,dc=x')[0]![0]!.value, 'Núñez');
    assert.equal(parseDn('cn=Núñez,dc=x')[0]![0]!.value, 'Núñez');
    assert.equal(parseDn('cn=a\\+b\\=c\\\\d\\#,dc=x')[0]![0]!.value, 'a+b=c\\d#');
  });

  it('refuses what is not a DN', () => {
    for (const bad of ['uid=bob,,dc=x', 'novalue', 'uid=', 'uid=a,', '=x', 'u id=a', 'cn=a\\zz', 'cn="quoted"', 'cn=\\C3\\28', 'cn=#04024869'])
      assert.throws(() => parseDn(bad), DnError, bad);
  });

  it('escapes for output and round-trips', () => {
    assert.equal(escapeDnValue(' a,b+c"d\\e<f>g;h=i#'), '\\ a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i#');
    assert.equal(escapeDnValue('#x '), '\\#x\\ ');
    assert.equal(escapeDnValue('nul\u0000'), 'nul\\00');
    for (const v of [' a,b+c"d\\e<f>g;h=i#', '#x ', 'Dave O\'Neill', 'Núñez']) assert.equal(parseDn(childDn('cn', v, 'dc=x'))[0]![0]!.value, v);
    assert.equal(formatDn(parseDn('CN=A\\,B , DC=X')), 'CN=A\\,B,DC=X');
  });

  it('normalizes for comparison: case, spacing, escaping and RDN order', () => {
    assert.equal(normalizeDn('UID=Alice, OU=People,DC=Example,DC=Com'), 'uid=alice,ou=people,dc=example,dc=com');
    assert.equal(normalizeDn('cn=N\\C3\\BA\\C3\\B1ez,dc=x'), normalizeDn('cn=núñez,dc=x'));
    assert.equal(normalizeDn('uid=b+cn=a,dc=x'), normalizeDn('cn=a+uid=b,dc=x'));
    assert.notEqual(normalizeDn('uid=alice,ou=people,dc=x'), normalizeDn('uid=alice,ou=groups,dc=x'));
  });
});
