// The canonical LDAP schema validator without a server: the rule set, one invalid fixture per entry and
// cross-entry rule (pre-provision mode for LDIF, fixture mode for canonical documents), the read-only mirrors, and
// the post-migration and drift comparisons.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LdapEntry } from '../../../src/identity/ldap/entry.ts';
import { identityToEntries, mapIdentityDocument } from '../../../src/identity/ldap/mapping.ts';
import { driftMode, fixtureMode, preProvisionMode } from '../../../src/identity/ldap/modes.ts';
import { LDAP_CODES, LDAP_RULES } from '../../../src/identity/ldap/rules.ts';
import { checkEntries, compareSnapshots, compareWithCanonical } from '../../../src/identity/ldap/validator.ts';
import type { IdentityDocument } from '../../../src/identity/model.ts';

const BASE = 'dc=example,dc=com';
const DIR = 'fixtures/ldap/invalid';
const tenant = JSON.parse(readFileSync('fixtures/identity/tenant.json', 'utf8')) as IdentityDocument;
const entries = () => structuredClone(identityToEntries(tenant, BASE));
const read = (e: LdapEntry[]) => checkEntries(e, { source: 'live', baseDn: BASE, secretsForbidden: false, tolerateReadOnly: true });
const codes = (f: { code: string }[]) => [...new Set(f.map((x) => x.code))];
const byDn = (e: LdapEntry[], prefix: string) => e.find((x) => x.dn!.startsWith(prefix))!;

/** Resolves a JSON pointer in the rule set. */
function resolve(pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .reduce<unknown>((node, token) => (node as Record<string, unknown>)?.[token.replaceAll('~1', '/').replaceAll('~0', '~')], LDAP_RULES);
}

describe('canonical LDAP schema rule set', () => {
  it('is versioned, names its profile, and every code points at an existing rule', () => {
    assert.equal(LDAP_RULES.ldap_schema_version, '0.1');
    assert.deepEqual(LDAP_RULES.profile, { name: 'netkingdom-iam', version: '0.2' });
    for (const [code, c] of Object.entries(LDAP_RULES.codes)) {
      assert.match(code, /^ldap\.[a-z_.]+$/);
      for (const type of ['user', 'group']) assert.notEqual(resolve(c.rule.replace('{type}', type)), undefined, `${code} -> ${c.rule}`);
    }
  });

  it('the fixture tenant passes fixture mode, and its LDIF rendering passes pre-provision mode', async () => {
    assert.deepEqual((await fixtureMode(['fixtures/identity/tenant.json'], BASE)).findings, []);
    assert.deepEqual((await preProvisionMode(['fixtures/ldap/tenant.ldif', 'fixtures/ldap/minimal.ldif'], BASE)).findings, []);
  });

  it('maps disabled users to the reserved group and empty groups to the placeholder', () => {
    const m = mapIdentityDocument({ ...tenant, memberships: [] }, BASE);
    const disabled = m.groups.find((g) => g.dn === `cn=keyward-disabled,ou=groups,${BASE}`)!;
    assert.deepEqual(disabled.attributes.uniqueMember, [`uid=carol,ou=people,${BASE}`]);
    assert.deepEqual(m.groups.find((g) => g.dn.startsWith('cn=admins,'))!.attributes.uniqueMember, ['cn=empty-membership-placeholder']);
    assert.deepEqual(read([...m.containers, ...m.users, ...m.groups]), []);
    const dave = m.users.find((u) => u.dn.startsWith('uid=dave.o-neill,'))!;
    assert.deepEqual(dave.attributes, {
      objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
      uid: ['dave.o-neill'],
      cn: ["Dave O'Neill"],
      givenName: ['Dave'],
      sn: ["O'Neill"],
      mail: ['dave.oneill@acme.example'],
      employeeNumber: ['u-0004'],
      employeeType: ['human'],
    });
  });
});

describe('canonical LDAP schema: one invalid fixture per rule', () => {
  const files = readdirSync(DIR).sort();
  it('covers every entry, cross-entry, input and version rule', () => {
    const have = new Set(files.map((f) => f.replace(/\.(ldif|json)$/, '')));
    const inline = ['ldap.member_mirror_mismatch', 'ldap.member_of_mismatch']; // read-only mirrors: below
    for (const code of LDAP_CODES.filter((c) => !c.startsWith('ldap.migration.') && !c.startsWith('ldap.drift.') && !inline.includes(c)))
      assert.ok(have.has(code), `missing ${DIR}/${code}.ldif`);
  });
  for (const file of files) {
    const code = file.replace(/\.(ldif|json)$/, '');
    it(code, async () => {
      const path = join(DIR, file);
      const report = file.endsWith('.ldif') ? await preProvisionMode([path], BASE) : await fixtureMode([path], BASE);
      assert.deepEqual(codes(report.findings), [code], JSON.stringify(report.findings, null, 1));
      for (const f of report.findings) {
        assert.equal(f.source, path);
        assert.equal(typeof f.rule, 'string');
        assert.notEqual(resolve(f.rule!), undefined, `rule ${f.rule} exists`);
      }
    });
  }
  it('a secret attribute is named, never its value', async () => {
    const r = await preProvisionMode([join(DIR, 'ldap.attribute_forbidden.ldif')], BASE);
    assert.match(r.findings[0]!.message, /userPassword/);
    assert.ok(!JSON.stringify(r).includes('bm90IGEgcmVhbCBoYXNo'));
  });
});

describe('read-only mirrors and tolerance', () => {
  it('accepts what LLDAP adds on read (posixAccount, mailAccount, memberOf, member, entryUUID), but not in data to be written', () => {
    const e = entries();
    const alice = byDn(e, 'uid=alice,');
    alice.attributes.objectClass!.push('posixAccount', 'mailAccount');
    alice.attributes.entryUUID = ['5d2b1a4e-0000-4000-8000-000000000001'];
    const admins = byDn(e, 'cn=admins,');
    admins.attributes.member = [...admins.attributes.uniqueMember!];
    assert.deepEqual(read(e), []);
    const strict = checkEntries(e, { source: 'f', baseDn: BASE, secretsForbidden: true, tolerateReadOnly: false });
    assert.deepEqual(codes(strict).sort(), ['ldap.attribute_not_allowed', 'ldap.object_class_not_allowed']);
  });

  it('ldap.member_mirror_mismatch: member must equal uniqueMember where a server answers it', () => {
    const e = entries();
    byDn(e, 'cn=ops,').attributes.member = [`uid=alice,ou=people,${BASE}`];
    assert.deepEqual(codes(read(e)), ['ldap.member_mirror_mismatch']);
  });

  it('ldap.member_of_mismatch: memberOf, where the server maintains it, agrees with the groups', () => {
    const e = entries();
    // The server maintains memberOf: every member carries it...
    for (const g of e.filter((x) => x.dn.includes(',ou=groups,')))
      for (const m of g.attributes.uniqueMember!) {
        const u = e.find((x) => x.dn === m);
        if (u) (u.attributes.memberOf ??= []).push(g.dn);
      }
    assert.deepEqual(read(e), []);
    // ...so a membership it does not show is a disagreement.
    delete byDn(e, 'uid=bob,').attributes.memberOf;
    assert.deepEqual(codes(read(e)), ['ldap.member_of_mismatch']);
  });

  it('secrets read from a live directory are not findings (readers drop them); in files they are', () => {
    const e = entries();
    byDn(e, 'uid=alice,').attributes.userPassword = ['{SSHA}x'];
    assert.deepEqual(read(e), []);
  });
});

describe('post-migration comparison', () => {
  const expected = () => identityToEntries(tenant, BASE);
  it('passes when the target holds the same data, server additions aside', () => {
    const target = entries();
    byDn(target, 'uid=alice,').attributes.entryUUID = ['x'];
    assert.deepEqual(compareWithCanonical(expected(), target, { source: 't', baseDn: BASE }), []);
  });
  it('reports missing users and groups, changed values, missing and unexpected memberships, unexpected entries', () => {
    const target = entries().filter((x) => !x.dn.startsWith('uid=bob,') && !x.dn.startsWith('cn=auditors,'));
    byDn(target, 'uid=alice,').attributes.cn = ['Alice L.'];
    byDn(target, 'uid=alice,').attributes.telephoneNumber = ['1'];
    delete byDn(target, 'uid=dave.o-neill,').attributes.givenName;
    const ops = byDn(target, 'cn=ops,');
    ops.attributes.uniqueMember = [`uid=alice,ou=people,${BASE}`, `uid=carol,ou=people,${BASE}`];
    target.push({ dn: `uid=mallory,ou=people,${BASE}`, attributes: { uid: ['mallory'] } });
    const f = compareWithCanonical(expected(), target, { source: 't', baseDn: BASE });
    const summary = f.map((x) => `${x.code} ${x.dn!.split(',')[0]}`).sort();
    assert.deepEqual(summary, [
      'ldap.migration.entry_unexpected uid=mallory',
      'ldap.migration.group_missing cn=auditors',
      'ldap.migration.membership_missing cn=ops',
      'ldap.migration.membership_unexpected cn=ops',
      'ldap.migration.user_missing uid=bob',
      'ldap.migration.value_mismatch uid=alice',
      'ldap.migration.value_mismatch uid=dave.o-neill',
    ]);
    assert.match(f.find((x) => x.dn!.startsWith('uid=alice'))!.message, /cn: expected "Alice Liddell", found "Alice L\."/);
  });
  it('compares DNs as LDAP does (case, spacing) and values exactly', () => {
    const target = entries().map((e) => ({ ...e, dn: e.dn.toUpperCase().replace(/,/g, ', ') }));
    const ops = byDn(target, 'CN=OPS,');
    ops.attributes.uniqueMember = ops.attributes.uniqueMember!.map((m) => m.toUpperCase());
    assert.deepEqual(compareWithCanonical(expected(), target, { source: 't', baseDn: BASE }), []);
    byDn(target, 'UID=ALICE,').attributes.mail = ['ALICE@acme.example'];
    assert.deepEqual(codes(compareWithCanonical(expected(), target, { source: 't', baseDn: BASE })), ['ldap.migration.value_mismatch']);
  });
});

describe('drift', () => {
  it('reports added, removed and changed entries between two snapshots, and nothing for identical ones', async () => {
    const before = entries();
    assert.deepEqual(compareSnapshots(before, entries(), { source: 's' }), []);
    const after = entries().filter((x) => !x.dn.startsWith('uid=bob,'));
    after.push({ ...structuredClone(byDn(before, 'uid=bob,')), dn: `uid=robert,ou=people,${BASE}` });
    byDn(after, 'cn=ops,').attributes.uniqueMember!.pop();
    byDn(after, 'uid=alice,').attributes.entryUUID = ['server-side noise'];
    const f = compareSnapshots(before, after, { source: 's' });
    assert.deepEqual(f.map((x) => `${x.code} ${x.dn!.split(',')[0]}`).sort(), [
      'ldap.drift.entry_added uid=robert',
      'ldap.drift.entry_removed uid=bob',
      'ldap.drift.value_changed cn=ops',
    ]);
    assert.match(f.find((x) => x.code === 'ldap.drift.value_changed')!.message, /uniqueMember: -"uid=dave\.o-neill/);
  });

  it('drift mode compares files of any kind: a canonical document against its own LDIF rendering is no drift', async () => {
    assert.deepEqual((await driftMode('fixtures/identity/tenant.json', 'fixtures/ldap/tenant.ldif', BASE)).findings, []);
    const r = await driftMode('fixtures/ldap/minimal.ldif', 'fixtures/ldap/tenant.ldif', BASE);
    assert.ok(r.findings.length > 0);
    assert.ok(r.findings.every((f) => f.code.startsWith('ldap.drift.')), codes(r.findings).join());
  });
});
