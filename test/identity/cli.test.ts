// `keyward identity …` and `keyward ldap …` end to end, in-process, against a private slapd where a directory is
// needed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { closedPort, runCli, STACK_LINE } from '../cli/helpers.ts';
import { startSlapd } from '../support/slapd.ts';

const TENANT = 'fixtures/identity/tenant.json';
const tmp = mkdtempSync(join(tmpdir(), 'kw-identity-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (argv: string[], env: NodeJS.ProcessEnv = {}) => runCli(argv, env);

describe('keyward identity validate', () => {
  it('exits 0 on valid documents and prints a summary', async () => {
    const r = await cli(['identity', 'validate', TENANT, 'fixtures/identity/minimal.json']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '2 source(s) checked: 0 error(s), 0 warning(s)');
  });

  it('exits 1 on findings, with JSON for scripts and a JUnit report for CI', async () => {
    const junit = join(tmp, 'identity.xml');
    const r = await cli(['identity', 'validate', TENANT, 'fixtures/identity/invalid/identity.email_duplicate.json', 'missing.json', '--json', '--junit', junit]);
    assert.equal(r.code, 1);
    const j = JSON.parse(r.out);
    assert.equal(j.ok, false);
    assert.deepEqual(j.findings.map((f: { code: string }) => f.code), ['identity.email_duplicate', 'identity.document_unreadable']);
    assert.equal(j.findings[0].path, '/users/1/email');
    const xml = readFileSync(junit, 'utf8');
    assert.match(xml, /<testsuites name="keyward identity validate" tests="\d+" failures="2" errors="0">/);
    assert.match(xml, /<testcase classname="fixtures\/identity\/invalid\/identity.email_duplicate.json" name="identity.email_duplicate">\n\s+<failure type="identity.email_duplicate"/);
  });

  it('usage errors exit 2 with the usage; --help exits 0', async () => {
    assert.equal((await cli(['identity', 'validate'])).code, 2);
    assert.equal((await cli(['identity', 'frobnicate'])).code, 2);
    assert.equal((await cli(['identity', 'validate', TENANT, '--bogus'])).code, 2);
    const help = await cli(['identity', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /keyward identity validate FILE/);
    assert.match((await cli(['--help'])).out, /identity <command>[\s\S]*ldap <command>/);
  });
});

describe('keyward ldap validate (files)', () => {
  it('fixture and pre-provision modes', async () => {
    assert.equal((await cli(['ldap', 'validate', '--mode', 'fixture', TENANT])).code, 0);
    assert.equal((await cli(['ldap', 'validate', '--mode', 'pre-provision', 'fixtures/ldap/tenant.ldif'])).code, 0);
    const r = await cli(['ldap', 'validate', '--mode', 'pre-provision', 'fixtures/ldap/invalid/ldap.attribute_forbidden.ldif', '--json']);
    assert.equal(r.code, 1);
    const f = JSON.parse(r.out).findings[0];
    assert.deepEqual([f.code, f.dn, f.rule], ['ldap.attribute_forbidden', 'uid=ann,ou=people,dc=example,dc=com', '/forbidden/secret_attributes']);
  });

  it('drift between two files, and the base DN option', async () => {
    const r = await cli(['ldap', 'validate', '--mode', 'drift', 'fixtures/ldap/minimal.ldif', 'fixtures/ldap/tenant.ldif']);
    assert.equal(r.code, 1);
    assert.match(r.out, /ldap\.drift\.entry_removed at uid=ann,ou=people,dc=example,dc=com/);
    const other = await cli(['ldap', 'validate', '--mode', 'fixture', TENANT, '--base-dn', 'dc=acme,dc=example']);
    assert.equal(other.code, 0, other.out);
  });

  it('render prints the LDIF a document maps to (the committed fixtures/ldap/tenant.ldif)', async () => {
    const r = await cli(['ldap', 'render', TENANT]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out + '\n', readFileSync('fixtures/ldap/tenant.ldif', 'utf8'));
    const bad = await cli(['ldap', 'render', 'fixtures/identity/invalid/identity.membership_unknown_group.json']);
    assert.equal(bad.code, 1);
  });

  it('usage errors exit 2', async () => {
    for (const argv of [
      ['ldap', 'validate', TENANT],
      ['ldap', 'validate', '--mode', 'sideways', TENANT],
      ['ldap', 'validate', '--mode', 'pre-migration'],
      ['ldap', 'validate', '--mode', 'post-migration', '--url', 'ldap://127.0.0.1:1'],
      ['ldap', 'validate', '--mode', 'drift', TENANT],
      ['ldap', 'validate', '--mode', 'fixture', '--url', 'ldap://127.0.0.1:1', TENANT],
      ['ldap', 'validate', '--mode', 'pre-migration', '--url', 'ldap://127.0.0.1:1', '--bind-dn', 'cn=x', '--bind-password-env', 'NOPE'],
      ['ldap', 'validate', '--mode', 'fixture', '--base-dn', 'not a dn', TENANT],
      ['identity', 'provision', '--to', 'ldap://127.0.0.1:1', '--base-dn', '', TENANT],
      ['ldap', 'snapshot'],
      ['ldap', 'nothing'],
    ]) {
      const r = await cli(argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, /^error: /);
    }
  });
});

describe('keyward identity provision and ldap validate against OpenLDAP', () => {
  it('provisions, verifies, snapshots and detects drift; the password never shows', async (t) => {
    const s = await startSlapd(t);
    if (!s) return;
    const env = { LDAP_PW: s.rootPassword };
    const conn = ['--bind-dn', s.rootDn, '--bind-password-env', 'LDAP_PW'];
    const dry = await cli(['identity', 'provision', '--to', s.url, TENANT, '--dry-run', ...conn], env);
    assert.equal(dry.code, 0, dry.err);
    assert.match(dry.out, /\+ add uid=alice,ou=people,dc=example,dc=com/);
    assert.match(dry.out, /dry run: 14 change\(s\) would be applied to ldap:\/\/127\.0\.0\.1:\d+\/dc=example,dc=com$/);
    const real = await cli(['identity', 'provision', '--to', s.url, TENANT, ...conn, '--json'], env);
    assert.equal(real.code, 0, real.err);
    assert.equal(JSON.parse(real.out).changed, 14);
    const again = await cli(['identity', 'provision', '--to', s.url, TENANT, ...conn], env);
    assert.match(again.out, /0 change\(s\) applied/);

    assert.equal((await cli(['ldap', 'validate', '--mode', 'pre-migration', '--url', s.url, ...conn], env)).code, 0);
    const post = await cli(['ldap', 'validate', '--mode', 'post-migration', '--url', s.url, ...conn, TENANT], env);
    assert.equal(post.code, 0, post.out);

    const snap = join(tmp, 'snapshot.ldif');
    assert.equal((await cli(['ldap', 'snapshot', '--url', s.url, ...conn, '--out', snap], env)).code, 0);
    assert.equal((await cli(['ldap', 'validate', '--mode', 'drift', snap, '--url', s.url, ...conn], env)).code, 0);
    const r = await s.ldapmodify(`dn: uid=bob,ou=people,${s.baseDn}\nchangetype: modify\nreplace: employeeType\nemployeeType: agent\n`);
    assert.equal(r.code, 0, r.stderr);
    const drift = await cli(['ldap', 'validate', '--mode', 'drift', snap, '--url', s.url, ...conn], env);
    assert.equal(drift.code, 1);
    assert.match(drift.out, /ldap\.drift\.value_changed at uid=bob,ou=people,dc=example,dc=com rule \/modes\/drift: employeeType: \+"agent" -"human"/);
    const post2 = await cli(['ldap', 'validate', '--mode', 'post-migration', '--url', s.url, ...conn, TENANT, '--json'], env);
    assert.equal(post2.code, 1);
    assert.deepEqual(JSON.parse(post2.out).findings.map((f: { code: string }) => f.code), ['ldap.migration.value_mismatch']);

    for (const out of [dry, real, again, post, drift, post2]) assert.ok(!(out.out + out.err).includes(s.rootPassword));
  });

  it('refuses invalid documents (exit 1, nothing written), a refused bind exits 5, an unreachable directory 4', async (t) => {
    const s = await startSlapd(t);
    if (!s) return;
    const conn = ['--bind-dn', s.rootDn, '--bind-password-env', 'LDAP_PW'];
    const refused = await cli(['identity', 'provision', '--to', s.url, 'fixtures/identity/invalid/identity.redirect_uri_wildcard.json', ...conn], { LDAP_PW: s.rootPassword });
    assert.equal(refused.code, 1);
    assert.match(refused.err, /identity\.redirect_uri_wildcard[\s\S]*refused: .* nothing was written/);
    const pre = await cli(['ldap', 'validate', '--mode', 'pre-migration', '--url', s.url, ...conn], { LDAP_PW: s.rootPassword });
    assert.equal(pre.code, 0, 'still only the base entry');

    const denied = await cli(['identity', 'provision', '--to', s.url, TENANT, ...conn], { LDAP_PW: 'not-the-password' });
    assert.equal(denied.code, 5);
    assert.match(denied.err, /ldap\.bind_failed/);
    assert.ok(!denied.err.includes('not-the-password'));

    const down = await cli(['ldap', 'validate', '--mode', 'pre-migration', '--url', `ldap://127.0.0.1:${await closedPort()}`, '--timeout', '2']);
    assert.equal(down.code, 4);
    assert.match(down.err, /^error: ldap\.directory_unavailable: /);
    assert.doesNotMatch(down.err, STACK_LINE);
  });

  it('--to builtin needs the server configuration (test/idp/realm-document.test.ts provisions it); other targets are usage errors', async () => {
    // No dev server's store to fall back on either (its dev unseal file is absent), whatever the checkout holds.
    const b = await cli(['identity', 'provision', '--to', 'builtin', TENANT], { KEYWARD_SEAL__DEV_UNSEAL_FILE: '/nonexistent/dev-unseal.json' });
    assert.equal(b.code, 3);
    assert.match(b.err, /no configuration: pass --config FILE or set KEYWARD_CONFIG/);
    assert.equal((await cli(['identity', 'provision', '--to', 'http://x', TENANT])).code, 2);
    assert.equal((await cli(['identity', 'provision', TENANT])).code, 2);
  });
});
