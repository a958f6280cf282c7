// The validator modes and provisioning against a real OpenLDAP (a private slapd per test, test/support/slapd.ts):
// provision the canonical fixtures, verify post-migration, break entries with ldapmodify and see the findings.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Finding } from '../../../src/identity/findings.ts';
import { readDirectory, withDirectory, type DirectoryOptions } from '../../../src/identity/ldap/directory.ts';
import { parseLdif, writeLdif } from '../../../src/identity/ldap/ldif.ts';
import { driftMode, postMigrationMode, preMigrationMode, preProvisionMode } from '../../../src/identity/ldap/modes.ts';
import { ldapProvisionTarget, provisionDocument } from '../../../src/identity/provision.ts';
import { isProblem } from '../../../src/core/problem.ts';
import { TestPki } from '../../support/certs.ts';
import { startSlapd, type Slapd } from '../../support/slapd.ts';

const TENANT = 'fixtures/identity/tenant.json';
const tenant = () => JSON.parse(readFileSync(TENANT, 'utf8')) as unknown;
const codes = (f: Finding[]) => [...new Set(f.map((x) => x.code))].sort();
const dir = (s: Slapd): DirectoryOptions => ({ url: s.url, bindDn: s.rootDn, bindPassword: s.rootPassword });
const target = (s: Slapd) => ldapProvisionTarget({ ...dir(s), baseDn: s.baseDn });
const entriesOf = (s: Slapd) => withDirectory(dir(s), (c) => readDirectory(c, s.baseDn));

async function modify(s: Slapd, ldif: string): Promise<void> {
  const r = await s.ldapmodify(ldif);
  assert.equal(r.code, 0, r.stderr);
}

describe('canonical LDAP schema against OpenLDAP', () => {
  it('the rendered LDIF loads with ldapadd, then passes pre-migration and post-migration', async (t) => {
    const s = await startSlapd(t);
    if (!s) return;
    const added = await s.ldapadd(readFileSync('fixtures/ldap/tenant.ldif', 'utf8'));
    assert.equal(added.code, 0, added.stderr);
    assert.deepEqual((await preMigrationMode(dir(s), s.baseDn)).findings, []);
    assert.deepEqual((await postMigrationMode(TENANT, dir(s), s.baseDn)).findings, []);
  });

  it('provisioning: dry run writes nothing, the first run creates everything, the second changes nothing', async (t) => {
    const s = await startSlapd(t);
    if (!s) return;
    const dry = await provisionDocument(tenant(), TENANT, target(s), { dryRun: true });
    assert.deepEqual(dry.findings, []);
    assert.equal(dry.result!.changed, 14);
    assert.ok(dry.result!.lines.includes(`+ add uid=alice,ou=people,${s.baseDn}`));
    assert.equal((await entriesOf(s)).length, 1, 'only the base entry: the dry run wrote nothing');

    const first = await provisionDocument(tenant(), TENANT, target(s), { dryRun: false });
    assert.equal(first.result!.changed, 14);
    const second = await provisionDocument(tenant(), TENANT, target(s), { dryRun: false });
    assert.equal(second.result!.changed, 0);
    assert.ok(second.result!.lines.every((l) => l.startsWith('= unchanged')), second.result!.lines.join('\n'));
    assert.deepEqual((await postMigrationMode(TENANT, dir(s), s.baseDn)).findings, []);
    // Non-ASCII values went through as UTF-8.
    const carol = (await entriesOf(s)).find((e) => e.dn.startsWith('uid=carol,'))!;
    assert.deepEqual(carol.attributes.cn, ['Carol Núñez']);
  });

  it('post-migration finds each break made with ldapmodify, and provisioning repairs what it owns', async (t) => {
    const s = await startSlapd(t);
    if (!s) return;
    await provisionDocument(tenant(), TENANT, target(s), { dryRun: false });
    const b = s.baseDn;
    await modify(s, `dn: uid=bob,ou=people,${b}\nchangetype: modify\nreplace: mail\nmail: bob@elsewhere.example\n`);
    await modify(s, `dn: cn=ops,ou=groups,${b}\nchangetype: modify\ndelete: uniqueMember\nuniqueMember: uid=dave.o-neill,ou=people,${b}\n`);
    await modify(s, `dn: cn=developers,ou=groups,${b}\nchangetype: modify\nadd: uniqueMember\nuniqueMember: uid=alice,ou=people,${b}\n`);
    await modify(s, `dn: uid=mallory,ou=people,${b}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: mallory\ncn: Mallory\nsn: M\nmail: mallory@acme.example\nemployeeNumber: x-1\nemployeeType: human\n`);
    await modify(s, `dn: uid=alice,ou=people,${b}\nchangetype: modify\nadd: telephoneNumber\ntelephoneNumber: +1 555 0100\n`);
    await modify(s, `dn: uid=release-agent,ou=people,${b}\nchangetype: delete\n`);

    const post = await postMigrationMode(TENANT, dir(s), s.baseDn);
    const got = post.findings.map((f) => `${f.code} ${f.dn!.split(',')[0]}`).sort();
    assert.deepEqual(got, [
      'ldap.attribute_not_allowed uid=alice',
      'ldap.member_unknown cn=release-bots',
      'ldap.migration.entry_unexpected uid=mallory',
      'ldap.migration.membership_missing cn=ops',
      'ldap.migration.membership_unexpected cn=developers',
      'ldap.migration.user_missing uid=release-agent',
      'ldap.migration.value_mismatch uid=bob',
    ]);
    assert.ok(post.findings.every((f) => f.rule && f.source.startsWith('ldap://127.0.0.1:')));
    assert.deepEqual(codes((await preMigrationMode(dir(s), s.baseDn)).findings), ['ldap.attribute_not_allowed', 'ldap.member_unknown']);

    const repair = await provisionDocument(tenant(), TENANT, target(s), { dryRun: false });
    assert.ok(repair.result!.lines.includes(`+ add uid=release-agent,ou=people,${b}`));
    assert.ok(repair.result!.lines.includes(`~ modify uid=bob,ou=people,${b}`));
    assert.ok(repair.result!.lines.includes(`    replace mail: ["bob@elsewhere.example"] -> ["bob@acme.example"]`));
    assert.ok(repair.result!.lines.includes(`? extra uid=mallory,ou=people,${b} (not in the document; left alone)`));
    // What provisioning does not own stays: the extra user and the attribute outside the canonical set.
    const after = await postMigrationMode(TENANT, dir(s), s.baseDn);
    assert.deepEqual(codes(after.findings), ['ldap.attribute_not_allowed', 'ldap.migration.entry_unexpected']);
  });

  it('refuses documents the validators reject and writes nothing', async (t) => {
    const s = await startSlapd(t);
    if (!s) return;
    for (const path of ['fixtures/identity/invalid/identity.membership_unknown_user.json', 'fixtures/ldap/invalid/ldap.tenant_not_representable.json']) {
      const r = await provisionDocument(JSON.parse(readFileSync(path, 'utf8')), path, target(s), { dryRun: false });
      assert.equal(r.result, undefined);
      assert.ok(r.findings.some((f) => f.severity === 'error'));
    }
    assert.equal((await entriesOf(s)).length, 1);
  });

  it('refuses the whole run when an entry at a canonical DN has another structure', async (t) => {
    const s = await startSlapd(t);
    if (!s) return;
    const added = await s.ldapadd(`dn: ou=groups,${s.baseDn}\nobjectClass: organizationalUnit\nou: groups\n\ndn: cn=ops,ou=groups,${s.baseDn}\nobjectClass: groupOfNames\ncn: ops\nmember: cn=nobody\n`);
    assert.equal(added.code, 0, added.stderr);
    await assert.rejects(provisionDocument(tenant(), TENANT, target(s), { dryRun: false }), (e) => isProblem(e) && e.code === 'ldap.provision_conflict');
    assert.equal((await entriesOf(s)).length, 3, 'nothing was written');
    const dry = await provisionDocument(tenant(), TENANT, target(s), { dryRun: true });
    assert.ok(dry.result!.lines.some((l) => l.startsWith(`! conflict cn=ops,ou=groups,${s.baseDn}`)));
  });

  it('drift: snapshots of the live directory (never holding passwords) and the change between them', async (t) => {
    const s = await startSlapd(t);
    if (!s) return;
    await provisionDocument(tenant(), TENANT, target(s), { dryRun: false });
    await modify(s, `dn: uid=alice,ou=people,${s.baseDn}\nchangetype: modify\nreplace: userPassword\nuserPassword: alice-password-123\n`);
    const before = writeLdif(await entriesOf(s));
    assert.ok(!before.includes('userPassword') && !before.includes('alice-password-123'), 'secrets are dropped on read');
    await modify(s, `dn: uid=alice,ou=people,${s.baseDn}\nchangetype: modify\nreplace: cn\ncn: Alice Pleasance Liddell\n`);
    const afterEntries = await entriesOf(s);
    const r = await driftMode({ source: 'before.ldif', entries: parseLdif(before).entries, findings: [] }, { source: 'after', entries: afterEntries, findings: [] }, s.baseDn);
    assert.deepEqual(
      r.findings.map((f) => `${f.code} ${f.dn} ${f.message}`),
      [`ldap.drift.value_changed uid=alice,ou=people,${s.baseDn} cn: +"Alice Pleasance Liddell" -"Alice Liddell"`],
    );
    // Pre-provision of the snapshot: it loads back as it is.
    const again = await preProvisionMode(['fixtures/ldap/tenant.ldif'], s.baseDn);
    assert.deepEqual(again.findings, []);
  });

  it('a directory that is down, a refused bind and a missing base are problems, never empty results', async (t) => {
    const s = await startSlapd(t);
    if (!s) return;
    await assert.rejects(preMigrationMode({ ...dir(s), bindPassword: 'wrong' }, s.baseDn), (e) => isProblem(e) && e.code === 'ldap.bind_failed' && !e.message.includes('wrong'));
    await assert.rejects(preMigrationMode(dir(s), 'dc=nowhere,dc=example'), (e) => isProblem(e) && e.code === 'ldap.base_not_found');
    await s.stop();
    await assert.rejects(preMigrationMode({ ...dir(s), timeoutMs: 2000 }, s.baseDn), (e) => isProblem(e) && e.code === 'ldap.directory_unavailable' && e.status === 503);
    await assert.rejects(provisionDocument(tenant(), TENANT, target(s), { dryRun: true }), (e) => isProblem(e) && e.code === 'ldap.directory_unavailable');
  });
});

describe('TLS to the directory', () => {
  it('StartTLS and ldaps:// with the directory CA; an unknown CA is refused, never downgraded', async (t) => {
    const pki = new TestPki();
    t.after(() => rmSync(pki.dir, { recursive: true, force: true }));
    pki.ca('ldap-ca');
    pki.leaf('ldap', 'ldap-ca', '127.0.0.1', 'IP:127.0.0.1');
    pki.ca('other-ca');
    const s = await startSlapd(t, 'OpenLDAP TLS tests', { tls: { certFile: pki.path('ldap.pem'), keyFile: pki.path('ldap.key'), caFile: pki.path('ldap-ca.pem') } });
    if (!s) return;
    await provisionDocument(tenant(), TENANT, target(s), { dryRun: false });
    const secure = { bindDn: s.rootDn, bindPassword: s.rootPassword, caFile: pki.path('ldap-ca.pem') };
    assert.deepEqual((await postMigrationMode(TENANT, { ...secure, url: s.url, startTls: true }, s.baseDn)).findings, []);
    assert.deepEqual((await postMigrationMode(TENANT, { ...secure, url: s.ldapsUrl! }, s.baseDn)).findings, []);
    for (const opts of [{ url: s.url, startTls: true }, { url: s.ldapsUrl! }])
      await assert.rejects(preMigrationMode({ ...secure, ...opts, caFile: pki.path('other-ca.pem') }, s.baseDn), (e) => isProblem(e) && e.code === 'ldap.directory_unavailable');
    await assert.rejects(preMigrationMode({ ...secure, url: s.ldapsUrl!, startTls: true }, s.baseDn), (e) => isProblem(e) && e.code === 'ldap.url_invalid');
  });
});
