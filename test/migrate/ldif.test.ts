// keyward migrate export --to ldif: the canonical LDAP schema's LDIF, validated by the validator's pre-provision
// mode, loaded with ldapadd into a private OpenLDAP, and verified there by post-migration mode.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseLdif } from '../../src/identity/ldap/ldif.ts';
import { postMigrationMode, preMigrationMode, preProvisionMode } from '../../src/identity/ldap/modes.ts';
import { canonicalEntry } from '../../src/migrate/ldif.ts';
import { runCli } from '../cli/helpers.ts';
import { startSlapd } from '../support/slapd.ts';

const TENANT = 'fixtures/identity/tenant.json';
const tmp = mkdtempSync(join(tmpdir(), 'kw-migrate-ldif-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('keyward migrate export --to ldif', () => {
  it('writes the canonical rendering, which passes pre-provision mode', async () => {
    const out = join(tmp, 'tenant.ldif');
    const r = await runCli(['migrate', 'export', '--to', 'ldif', '--input', TENANT, '--out', out], {});
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /wrote .*tenant\.ldif: 14 entries \(6 users, 5 groups and keyward-disabled\)/);
    const text = readFileSync(out, 'utf8');
    assert.match(text, /^version: 1\n# keycape-ldap-schema: 0\.1\n/);
    assert.deepEqual((await preProvisionMode([out], 'dc=example,dc=com')).findings, []);
    // The same entries as the committed rendering of the fixture.
    assert.deepEqual(parseLdif(text).entries, parseLdif(readFileSync('fixtures/ldap/tenant.ldif', 'utf8')).entries);
    assert.ok(!/userPassword|password/i.test(text), 'no password material');
  });

  it('loads with ldapadd into OpenLDAP, which then passes pre-migration and post-migration against the source', async (t) => {
    const s = await startSlapd(t, 'LDIF export tests');
    if (!s) return;
    const out = join(tmp, 'load.ldif');
    const r = await runCli(['migrate', 'export', '--to', 'ldif', '--input', TENANT, '--out', out, '--base-dn', s.baseDn], {});
    assert.equal(r.code, 0, r.err);
    const added = await s.ldapadd(readFileSync(out, 'utf8'));
    assert.equal(added.code, 0, added.stderr);
    const dir = { url: s.url, bindDn: s.rootDn, bindPassword: s.rootPassword };
    assert.deepEqual((await preMigrationMode(dir, s.baseDn)).findings, []);
    assert.deepEqual((await postMigrationMode(TENANT, dir, s.baseDn)).findings, []);
  });

  it('reduces entries as LLDAP serves them to what the canonical schema writes', () => {
    const user = canonicalEntry(
      {
        dn: 'uid=ann,ou=people,dc=example,dc=com',
        attributes: { objectclass: ['inetOrgPerson', 'posixAccount', 'mailAccount', 'person'], UID: ['ann'], cn: ['Ann'], sn: ['A'], mail: ['ann@x.example'], employeeNumber: ['u-1'], employeeType: ['human'], memberOf: ['cn=g,ou=groups,dc=example,dc=com'], entryUUID: ['x'], uidNumber: ['1000'] },
      },
      'user',
    );
    assert.deepEqual(user.attributes, { objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'], uid: ['ann'], cn: ['Ann'], sn: ['A'], mail: ['ann@x.example'], employeeNumber: ['u-1'], employeeType: ['human'] });
    const group = canonicalEntry({ dn: 'cn=g,ou=groups,dc=example,dc=com', attributes: { objectClass: ['groupOfUniqueNames'], cn: ['g'], member: ['uid=ann,ou=people,dc=example,dc=com'], displayName: ['G'] } }, 'group');
    assert.deepEqual(group.attributes, { objectClass: ['top', 'groupOfUniqueNames'], cn: ['g'], uniqueMember: ['uid=ann,ou=people,dc=example,dc=com'] });
  });

  it('--from-directory: a live directory to canonical LDIF for the next one', async (t) => {
    const s = await startSlapd(t, 'LDIF export tests');
    if (!s) return;
    assert.equal((await s.ldapadd(readFileSync('fixtures/ldap/tenant.ldif', 'utf8'))).code, 0);
    const b = s.baseDn;
    const out = join(tmp, 'live.ldif');
    const r = await runCli(['migrate', 'export', '--to', 'ldif', '--from-directory', s.url, '--base-dn', b, '--bind-dn', s.rootDn, '--bind-password-env', 'ROOT_PW', '--out', out], { ROOT_PW: s.rootPassword });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /14 entries \(6 users, 5 groups and keyward-disabled\) from ldap:\/\/127\.0\.0\.1:\d+\//);
    assert.deepEqual((await preProvisionMode([out], b)).findings, []);
    const sort = (l: { dn: string }[]) => [...l].sort((x, y) => x.dn.localeCompare(y.dn));
    assert.deepEqual(sort(parseLdif(readFileSync(out, 'utf8')).entries), sort(parseLdif(readFileSync('fixtures/ldap/tenant.ldif', 'utf8')).entries));

    // Something the canonical schema does not allow in the source refuses the export.
    assert.equal((await s.ldapmodify(`dn: uid=alice,ou=people,${b}\nchangetype: modify\nadd: telephoneNumber\ntelephoneNumber: +1 555 0100\n`)).code, 0);
    const bad = join(tmp, 'live-bad.ldif');
    const refused = await runCli(['migrate', 'export', '--to', 'ldif', '--from-directory', s.url, '--base-dn', b, '--bind-dn', s.rootDn, '--bind-password-env', 'ROOT_PW', '--out', bad], { ROOT_PW: s.rootPassword });
    assert.equal(refused.code, 1);
    assert.match(refused.err, /ldap\.attribute_not_allowed at uid=alice/);
    assert.equal(existsSync(bad), false);
    // A wrong password is a refused bind (exit 5), an unreachable directory exit 4.
    const denied = await runCli(['migrate', 'export', '--to', 'ldif', '--from-directory', s.url, '--base-dn', b, '--bind-dn', s.rootDn, '--bind-password-env', 'ROOT_PW', '--out', bad], { ROOT_PW: 'wrong' });
    assert.equal(denied.code, 5, denied.err);
  });

  it('refuses what the canonical LDAP schema cannot hold (another tenant in one directory), writing nothing', async () => {
    const doc = JSON.parse(readFileSync(TENANT, 'utf8'));
    doc.users[1].tenant = 'tenant:other';
    const input = join(tmp, 'two-tenants.json');
    writeFileSync(input, JSON.stringify(doc));
    const out = join(tmp, 'refused.ldif');
    const r = await runCli(['migrate', 'export', '--to', 'ldif', '--input', input, '--out', out], {});
    assert.equal(r.code, 1);
    assert.match(r.err, /ldap\.tenant_not_representable at uid=bob,ou=people,dc=example,dc=com/);
    assert.match(r.err, /nothing was written/);
    assert.equal(existsSync(out), false);
  });

  it('does not replace an existing file unless --overwrite', async () => {
    const out = join(tmp, 'exists.ldif');
    writeFileSync(out, 'keep me');
    const r = await runCli(['migrate', 'export', '--to', 'ldif', '--input', TENANT, '--out', out], {});
    assert.equal(r.code, 1);
    assert.match(r.err, /migrate\.output_exists/);
    assert.equal(readFileSync(out, 'utf8'), 'keep me');
    assert.equal((await runCli(['migrate', 'export', '--to', 'ldif', '--input', TENANT, '--out', out, '--overwrite'], {})).code, 0);
    assert.match(readFileSync(out, 'utf8'), /^version: 1/);
  });
});
