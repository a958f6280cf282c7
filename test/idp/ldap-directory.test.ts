// The LDAP user directory against a real OpenLDAP (a private slapd per test, LLDAP's layout provisioned from the
// canonical fixture tenant): users, groups and the disabled state from the directory, passwords checked by binding
// as the user, the stable id from employeeNumber, pooling, TLS, and 503 idp.directory_unavailable when it is down.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Client } from 'ldapts';
import { ldapProvisionTarget, provisionDocument } from '../../src/identity/provision.ts';
import { directoryConfigSchema } from '../../src/idp/directories/index.ts';
import type { LdapDirectoryConfig } from '../../src/idp/directories/config.ts';
import { LdapUserDirectory } from '../../src/idp/directories/ldap.ts';
import { LdapPool } from '../../src/idp/directories/ldap-pool.ts';
import { isDirectoryUnavailable } from '../../src/idp/directories/types.ts';
import { TestPki } from '../support/certs.ts';
import { Client as LdapClient } from 'ldapts';
import { startSlapd, type Slapd, type SlapdOptions } from '../support/slapd.ts';

const TENANT = JSON.parse(readFileSync('fixtures/identity/tenant.json', 'utf8')) as unknown;
const PASSWORDS: Record<string, string> = { alice: 'alice ldap password 1', carol: 'carol ldap password 1', dave: 'dave ldap password 1' };
const userDn = (s: Slapd, uid: string) => `uid=${uid},ou=people,${s.baseDn}`;

/** A slapd holding the canonical tenant, with passwords for alice, carol (disabled) and dave.o-neill. */
async function directory(t: TestContext, opts: SlapdOptions = {}): Promise<Slapd | undefined> {
  const s = await startSlapd(t, 'LDAP directory tests', opts);
  if (!s) return undefined;
  const r = await provisionDocument(TENANT, 'tenant.json', ldapProvisionTarget({ url: s.url, bindDn: s.rootDn, bindPassword: s.rootPassword, baseDn: s.baseDn }), { dryRun: false });
  assert.ok(r.result, JSON.stringify(r.findings));
  await s.ldappasswd(userDn(s, 'alice'), PASSWORDS.alice!);
  await s.ldappasswd(userDn(s, 'carol'), PASSWORDS.carol!);
  await s.ldappasswd(userDn(s, 'dave.o-neill'), PASSWORDS.dave!);
  return s;
}

function config(t: TestContext, s: Slapd, extra: Partial<Record<string, unknown>> = {}): LdapDirectoryConfig {
  const pw = join(tmpdir(), `kw-ldap-pw-${process.pid}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(pw, `${s.rootPassword}\n`, { mode: 0o600 });
  t.after(() => rmSync(pw, { force: true }));
  return directoryConfigSchema.parse({
    type: 'ldap',
    url: s.url,
    base_dn: s.baseDn,
    bind_dn: s.rootDn,
    bind_password_file: pw,
    tenant: 'tenant:acme',
    timeout_ms: 1500,
    ...extra,
  }) as LdapDirectoryConfig;
}

function open(t: TestContext, cfg: LdapDirectoryConfig, warnings: string[] = []): LdapUserDirectory {
  const d = new LdapUserDirectory(cfg, { env: {}, field: 'idp.realms.0.directory', warn: (m) => warnings.push(m) });
  t.after(() => d.close());
  return d;
}

const unavailable = (e: unknown) => isDirectoryUnavailable(e) && e.status === 503 && e.code === 'idp.directory_unavailable';

describe('LDAP user directory (OpenLDAP, LLDAP layout)', () => {
  it('signs users in by binding as them and builds the user from the entry and its groups', async (t) => {
    const s = await directory(t);
    if (!s) return;
    const d = open(t, config(t, s, { trust_email: true }));
    const alice = await d.authenticate('alice', PASSWORDS.alice!);
    assert.deepEqual(alice, {
      id: 'u-0001',
      username: 'alice',
      displayName: 'Alice Liddell',
      givenName: 'Alice',
      familyName: 'Liddell',
      email: 'alice@acme.example',
      emailVerified: true,
      enabled: true,
      principalType: 'human',
      tenant: 'tenant:acme',
      groups: ['admins', 'ops'],
      roles: [],
    });
    assert.deepEqual(await d.getUser('u-0001'), alice, 'the stable id (employeeNumber) finds the same user');
    const agent = await d.getUser('a-0001');
    assert.equal(agent?.principalType, 'agent');
    // No names in the document: sn holds the username (person requires it), which is no family name.
    assert.deepEqual([agent?.givenName, agent?.familyName], [null, null]);
    assert.equal((await d.authenticate('ALICE', PASSWORDS.alice!))?.id, 'u-0001', 'uid matches without case, as LDAP does');
    const dave = await d.authenticate('dave.o-neill', PASSWORDS.dave!);
    assert.deepEqual([dave?.displayName, dave?.groups], ["Dave O'Neill", ['auditors', 'ops']]);
    // Without trust_email the directory's addresses are not claimed as verified.
    assert.equal((await open(t, config(t, s)).getUser('u-0001'))?.emailVerified, false);
  });

  it('refuses wrong passwords, unknown users, empty passwords and filter tricks alike (undefined), and reports a disabled user as such', async (t) => {
    const s = await directory(t, { allowUnauthenticatedBind: true });
    if (!s) return;
    const d = open(t, config(t, s));
    assert.equal(await d.authenticate('alice', 'wrong'), undefined);
    assert.equal(await d.authenticate('nobody', 'whatever'), undefined);
    // An empty password is an unauthenticated bind (RFC 4513 §5.1.2), which this server (like many) accepts:
    // refused before the directory sees it.
    const raw = new LdapClient({ url: s.url });
    await raw.bind(userDn(s, 'alice'), '');
    await raw.unbind();
    assert.equal(await d.authenticate('alice', ''), undefined);
    assert.equal(await d.authenticate('*', PASSWORDS.alice!), undefined);
    assert.equal(await d.authenticate('alice)(uid=*', PASSWORDS.alice!), undefined);
    assert.equal(await d.authenticate('bob', 'no password was ever set'), undefined);
    assert.equal(await d.getUser('nope'), undefined);
    assert.equal(await d.getUser('*'), undefined);
    const carol = await d.authenticate('carol', PASSWORDS.carol!);
    assert.equal(carol?.enabled, false, 'a member of cn=keyward-disabled');
    assert.deepEqual(carol?.groups, ['developers'], 'the account-state group is not a group of the user');
  });

  it('an entry without a usable stable id cannot sign in (never a made-up sub), and the operator is told', async (t) => {
    const s = await directory(t);
    if (!s) return;
    const r = await s.ldapmodify(`dn: ${userDn(s, 'alice')}\nchangetype: modify\ndelete: employeeNumber\n`);
    assert.equal(r.code, 0, r.stderr);
    const warnings: string[] = [];
    const d = open(t, config(t, s), warnings);
    assert.equal(await d.authenticate('alice', PASSWORDS.alice!), undefined);
    assert.match(warnings.join('\n'), /uid=alice,ou=people,dc=example,dc=com lacks a usable employeeNumber/);
  });

  it('down: 503 idp.directory_unavailable (refused connections and timeouts alike); answers again once it is back', { timeout: 60_000 }, async (t) => {
    const s = await directory(t);
    if (!s) return;
    const d = open(t, config(t, s));
    assert.ok(await d.authenticate('alice', PASSWORDS.alice!));
    await s.kill();
    await assert.rejects(d.authenticate('alice', PASSWORDS.alice!), unavailable);
    await assert.rejects(d.getUser('u-0001'), unavailable);
    await s.restart();
    assert.equal((await d.authenticate('alice', PASSWORDS.alice!))?.id, 'u-0001', 'the pool opens new connections');
    // A directory that accepts connections and never answers (the process is stopped): only the client's own
    // timeout can end the call, and the reason says so. Were there none, the test's timeout would end it instead.
    await s.pause();
    try {
      await assert.rejects(d.getUser('u-0001'), (e) => unavailable(e) && /timed out/.test((e as { reason: string }).reason));
    } finally {
      s.resume();
    }
    assert.equal((await d.getUser('u-0001'))?.username, 'alice');
    // Keyward's own bind refused (a rotated service password): unavailable as well, never an empty directory.
    const wrong = config(t, s);
    writeFileSync(wrong.bind_password_file!, 'not the password');
    await assert.rejects(open(t, wrong).authenticate('alice', PASSWORDS.alice!), (e) => unavailable(e) && /service account bind was refused/.test((e as { reason: string }).reason));
  });

  it('StartTLS and ldaps:// with the directory CA; a directory with another CA is unavailable, never used in the clear', async (t) => {
    const pki = new TestPki();
    t.after(() => rmSync(pki.dir, { recursive: true, force: true }));
    pki.ca('ldap-ca');
    pki.leaf('ldap', 'ldap-ca', '127.0.0.1', 'IP:127.0.0.1');
    pki.ca('other-ca');
    const s = await directory(t, { tls: { certFile: pki.path('ldap.pem'), keyFile: pki.path('ldap.key'), caFile: pki.path('ldap-ca.pem') } });
    if (!s) return;
    const starttls = open(t, config(t, s, { start_tls: true, tls: { ca_file: pki.path('ldap-ca.pem') } }));
    assert.equal((await starttls.authenticate('alice', PASSWORDS.alice!))?.id, 'u-0001');
    const ldaps = open(t, config(t, s, { url: s.ldapsUrl, tls: { ca_file: pki.path('ldap-ca.pem') } }));
    assert.equal((await ldaps.authenticate('alice', PASSWORDS.alice!))?.id, 'u-0001');
    const wrongCa = open(t, config(t, s, { start_tls: true, tls: { ca_file: pki.path('other-ca.pem') } }));
    await assert.rejects(wrongCa.authenticate('alice', PASSWORDS.alice!), unavailable);
  });
});

describe('LDAP connection pool', () => {
  it('shares at most `size` connections, keeps them bound, and replaces a dropped one with a fresh, bound connection', async (t) => {
    const s = await startSlapd(t, 'LDAP pool tests');
    if (!s) return;
    const pool = new LdapPool({ url: new URL(s.url), startTls: false, tls: {}, timeoutMs: 2000, size: 2, bind: { dn: s.rootDn, password: s.rootPassword } });
    t.after(() => pool.close());
    const seen = new Set<Client>();
    const whoami = async (c: Client) => String((await c.exop('1.3.6.1.4.1.4203.1.11.3')).value ?? '');
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        pool.use(async (c) => {
          seen.add(c);
          return whoami(c);
        }),
      ),
    );
    assert.ok(seen.size <= 2, `${seen.size} connections for a pool of 2`);
    assert.ok(results.every((w) => w === `dn:${s.rootDn}`), results.join(', '));
    assert.equal(pool.size, seen.size, 'idle connections are kept for reuse');
    // The server goes away and comes back: the old connections are dropped, never silently re-opened unbound.
    await s.restart();
    assert.equal(await pool.use(whoami), `dn:${s.rootDn}`);
    // Even a connection in use when the server went away is not re-opened in place (ldapts would do that, unbound
    // and, after StartTLS, in the clear): its next operation fails and the pool replaces it.
    await pool.use(async (c) => {
      await s.restart();
      await assert.rejects(whoami(c), /the LDAP connection was lost/);
    });
    assert.equal(await pool.use(whoami), `dn:${s.rootDn}`);
  });
});
