// The done-when test of the LDAP directory backend: one realm document, provisioned once into Keyward's built-in
// directory and once into a real OpenLDAP (LLDAP's layout), and ONE test body run against both: people sign in
// through the real login page in Chromium and get the same ID token, access token and userinfo claims; a wrong
// password and a disabled account get the same neutral message; TOTP enrolment for a directory user is kept by its
// stable id. LDAP only: the directory going down is a 503 idp.directory_unavailable (page and token endpoint,
// audited), and sign-in works again when it returns.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import type { Browser, Page } from 'playwright-core';
import { ldapProvisionTarget, provisionDocument } from '../../src/identity/provision.ts';
import { startSlapd, type Slapd } from '../support/slapd.ts';
import { RESOURCE, SECRETS, startEnv, type TestEnv } from './support/env.ts';
import { assertProfileClaims } from './support/claims.ts';
import { CHROMIUM, launchChromium, rpConfig } from './support/pages.ts';
import { skipUnless } from '../support/missing.ts';

const PASSWORDS = { alice: SECRETS.ALICE_PW, carol: SECRETS.CAROL_PW, dana: 'dana password 0123' };
const SCOPE = 'openid profile email groups offline_access keys.sign';

/** The realm both directories serve: realm main of test/idp/support/env.ts, as a canonical identity document. */
function realmDocument(port: number) {
  const user = (id: string, username: string, name: string, extra: Record<string, unknown> = {}) => ({
    id,
    username,
    display_name: name,
    email: `${username}@example.test`,
    email_verified: true,
    enabled: true,
    principal_type: 'human',
    directory: { given_name: name.split(' ')[0], family_name: name.split(' ')[1] },
    ...extra,
  });
  return {
    schema_version: '0.1',
    realm: 'main',
    tenant: 'tenant:acme',
    environments: ['test'],
    profile_versions: [{ profile: 'netkingdom-iam', version: '0.2', ldap_schema: '0.1', custom_scopes: [{ name: 'keys.sign' }], public_clients_allowed: false }],
    roles: [{ name: 'signer' }, { name: 'reader' }],
    groups: [
      { name: 'ops', roles: ['reader'] },
      // realmConfig (support/env.ts) makes admins an MFA group.
      { name: 'admins', roles: ['signer', 'reader'] },
    ],
    users: [
      user('u-alice', 'alice', 'Alice Archer', { password: { env: 'ALICE_PW' } }),
      user('u-carol', 'carol', 'Carol Cole', { enabled: false, password: { env: 'CAROL_PW' } }),
      // No family name: LDAP's sn then holds the username (person requires sn), which is no family name either.
      user('u-dana', 'dana', 'Dana Dunn', { password: { env: 'DANA_PW' }, directory: { given_name: 'Dana' } }),
      user('a-robot', 'robot', 'Robot Agent', { principal_type: 'agent' }),
    ],
    memberships: [
      { user_id: 'u-alice', group: 'ops' },
      { user_id: 'u-carol', group: 'ops' },
      { user_id: 'u-dana', group: 'admins' },
      { user_id: 'a-robot', group: 'ops' },
    ],
    clients: [
      {
        client_id: 'web',
        name: 'Team Wiki',
        enabled: true,
        type: 'confidential',
        auth_method: 'client_secret_basic',
        secret: { env: 'WEB_SECRET' },
        redirect_uris: [`http://127.0.0.1:${port}/rp/cb`],
        post_logout_redirect_uris: [`http://127.0.0.1:${port}/rp/bye`],
        grant_types: ['authorization_code', 'refresh_token'],
        pkce_method: 'S256',
        token_profile: { claims: 'netkingdom-iam-0.2', signing_alg: 'ES256' },
        environments: ['test'],
      },
    ],
    client_scope_assignments: SCOPE.split(' ').map((scope) => ({ client_id: 'web', scope })),
    mfa_enrollments: [],
  };
}

interface Setup {
  env: TestEnv;
  slapd?: Slapd;
}

/** Built-in: the document goes into Keyward's tables. */
async function builtinSetup(): Promise<Setup> {
  return { env: await startEnv({ document: realmDocument, secrets: { DANA_PW: PASSWORDS.dana } }) };
}

/**
 * LDAP: users and memberships go into OpenLDAP with the canonical provisioning code, passwords with ldappasswd; the
 * realm reads them from there. Roles, group→role bindings and the client come from the same document (built-in tables).
 */
async function ldapSetup(t: TestContext): Promise<Setup | undefined> {
  const slapd = await startSlapd(t, 'LDAP-backed sign-in tests');
  if (!slapd) return undefined;
  const target = ldapProvisionTarget({ url: slapd.url, bindDn: slapd.rootDn, bindPassword: slapd.rootPassword, baseDn: slapd.baseDn });
  const provisioned = await provisionDocument(realmDocument(1), 'realm document', target, { dryRun: false });
  assert.ok(provisioned.result, JSON.stringify(provisioned.findings));
  for (const [uid, pw] of Object.entries(PASSWORDS)) await slapd.ldappasswd(`uid=${uid},ou=people,${slapd.baseDn}`, pw);
  const dir = mkdtempSync(join(tmpdir(), 'kw-ldap-realm-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'bind.pw'), slapd.rootPassword, { mode: 0o600 });
  const directory = {
    type: 'ldap',
    url: slapd.url,
    base_dn: slapd.baseDn,
    bind_dn: slapd.rootDn,
    bind_password_file: join(dir, 'bind.pw'),
    tenant: 'tenant:acme',
    trust_email: true,
    timeout_ms: 1500,
  };
  return { env: await startEnv({ document: realmDocument, secrets: { DANA_PW: PASSWORDS.dana }, realm: { directory } }), slapd };
}

/** Claims with what differs per run (times, ids, the port) taken out. */
function stable(claims: Record<string, unknown>, base: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims)) {
    if (['iat', 'exp', 'nbf', 'auth_time', 'at_hash', 'sid', 'nonce', 'jti'].includes(k)) continue;
    out[k] = k === 'assurance' ? { ...(v as object), at: '(time)' } : v;
  }
  return JSON.parse(JSON.stringify(out).replaceAll(base, '{base}'));
}

async function signInPage(env: TestEnv, page: Page, extra: Record<string, string> = {}) {
  const config = await rpConfig(env);
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: `${env.base}/rp/cb`,
    scope: SCOPE,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  await page.goto(url.href);
  return { config, verifier };
}

async function signInUrl(env: TestEnv) {
  const config = await rpConfig(env);
  const challenge = await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier());
  return oidc.buildAuthorizationUrl(config, { redirect_uri: `${env.base}/rp/cb`, scope: SCOPE, code_challenge: challenge, code_challenge_method: 'S256' });
}

async function submit(page: Page, username: string, password: string) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Sign in' }).click()]);
  return res;
}

const alertText = async (page: Page) => (await page.getByRole('alert').first().textContent())?.trim();

/** What each directory produced, compared at the end: the same claims from both. */
const observed = new Map<string, Record<string, unknown>>();

const KINDS = [
  { kind: 'builtin', setup: (_t: TestContext) => builtinSetup() },
  { kind: 'ldap', setup: (t: TestContext) => ldapSetup(t) },
] as const;

for (const { kind, setup } of KINDS) {
  describe(`sign-in through the browser, ${kind} directory`, { skip: skipUnless(existsSync(CHROMIUM), 'the directory sign-in tests', `${CHROMIUM} not installed`) }, () => {
    let s: Setup | undefined;
    let browser: Browser;
    // The directory lives as long as the suite: what the setup registers with `after` runs when the suite ends.
    const cleanups: Array<() => unknown> = [];
    const suite = { after: (fn: () => unknown) => void cleanups.push(fn), skip: (msg: string) => console.warn(msg) } as unknown as TestContext;
    before(async () => {
      s = await setup(suite);
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await s?.env.close();
      for (const fn of cleanups.reverse()) await fn();
    });

    it('signs alice in: the ID token, the access token for the key API and userinfo carry the directory data', async (t) => {
      if (!s) return t.skip('no directory');
      const { env } = s;
      const page = await browser.newPage();
      const { config, verifier } = await signInPage(env, page);
      const res = await submit(page, 'alice', PASSWORDS.alice);
      assert.equal(res.status(), 303);
      await page.waitForURL(/\/rp\/cb\?/);
      const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier });
      const id = tokens.claims()!;
      assertProfileClaims(id);
      assert.deepEqual(
        { sub: id.sub, preferred_username: id.preferred_username, name: id.name, given_name: id.given_name, family_name: id.family_name, email: id.email, email_verified: id.email_verified, tenant: id.tenant, principal_type: id.principal_type, groups: id.groups, roles: id.roles, acr: id.acr, amr: id.amr },
        { sub: 'u-alice', preferred_username: 'alice', name: 'Alice Archer', given_name: 'Alice', family_name: 'Archer', email: 'alice@example.test', email_verified: true, tenant: 'tenant:acme', principal_type: 'human', groups: ['ops'], roles: ['reader'], acr: 'aal1', amr: ['pwd'] },
      );
      const info = await oidc.fetchUserInfo(config, tokens.access_token, 'u-alice');
      assert.deepEqual([info.preferred_username, info.given_name, info.family_name, info.email, info.groups, info.roles], ['alice', 'Alice', 'Archer', 'alice@example.test', ['ops'], ['reader']]);
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: RESOURCE, scope: 'keys.sign' });
      const { payload: at } = await jwtVerify(refreshed.access_token, createRemoteJWKSet(new URL(`${env.issuer}/protocol/openid-connect/certs`)), { issuer: env.issuer, audience: RESOURCE, typ: 'at+jwt' });
      assertProfileClaims(at);
      assert.deepEqual([at.sub, at.preferred_username, at.groups, at.roles, at.permissions], ['u-alice', 'alice', ['ops'], ['reader'], ['keyward.key.*.read']]);
      observed.set(kind, {
        id_token: stable(id, env.base),
        userinfo: stable(info, env.base),
        access_token: stable(at as JWTPayload as Record<string, unknown>, env.base),
      });
      await page.close();
    });

    it('a wrong password, an unknown user and a disabled account get the same neutral message', async (t) => {
      if (!s) return t.skip('no directory');
      const messages: string[] = [];
      for (const [username, password] of [['alice', 'not her password'], ['nobody', 'whatever'], ['carol', PASSWORDS.carol]] as const) {
        const page = await browser.newPage();
        await signInPage(s.env, page);
        const res = await submit(page, username, password);
        assert.equal(res.status(), 401, username);
        messages.push((await alertText(page))!);
        await page.close();
      }
      assert.equal(new Set(messages).size, 1, messages.join(' | '));
      assert.match(messages[0]!, /username or password is incorrect/);
      observed.set(`${kind}:refusal`, { message: messages[0] });
    });

    it('an MFA group member enrols TOTP; the enrolment is kept by the stable id and the tokens say aal2', async (t) => {
      if (!s) return t.skip('no directory');
      const page = await browser.newPage();
      const { config, verifier } = await signInPage(s.env, page);
      await submit(page, 'dana', PASSWORDS.dana);
      await page.waitForURL(/\/totp$/);
      const secret = (await page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
      await page.getByLabel(/6-digit code/).fill(new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate());
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByLabel('I have saved my recovery codes').check();
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL(/\/rp\/cb\?/);
      const id = (await oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier })).claims()!;
      assert.deepEqual([id.sub, id.acr, id.amr, id.groups, id.roles], ['u-dana', 'aal2', ['pwd', 'otp'], ['admins'], ['reader', 'signer']]);
      assert.deepEqual([id.given_name, id.family_name], ['Dana', undefined]);
      const enrolments = await s.env.db.selectFrom('idp_mfa').select(['user_id', 'confirmed']).where('realm', '=', 'main').execute();
      assert.deepEqual(enrolments.map((e) => [e.user_id, Number(e.confirmed)]), [['u-dana', 1]]);
      observed.set(`${kind}:mfa`, stable(id, s.env.base));
      await page.close();
    });

    if (kind === 'ldap')
      it("directory down: the login page and a session's authorization say sign-in is unavailable (503), refresh and userinfo are 503 OAuth errors, all audited; it works again once the directory is back", async (t) => {
        if (!s?.slapd) return t.skip('no directory');
        const { env, slapd } = s;
        // A refresh token from before the outage.
        const page = await browser.newPage();
        const first = await signInPage(env, page);
        await submit(page, 'alice', PASSWORDS.alice);
        await page.waitForURL(/\/rp\/cb\?/);
        const tokens = await oidc.authorizationCodeGrant(first.config, new URL(page.url()), { pkceCodeVerifier: first.verifier });

        await slapd.kill();
        // alice's browser still has her session: a new authorization needs her account, and says it cannot have it.
        const resumed = await page.goto((await signInUrl(env)).href);
        assert.equal(resumed?.status(), 503);
        assert.equal(await page.locator('h1').textContent(), 'Sign-in unavailable');
        await page.close();
        const down = await browser.newPage();
        await signInPage(env, down);
        const res = await submit(down, 'alice', PASSWORDS.alice);
        assert.equal(res.status(), 503);
        assert.equal(res.headers()['retry-after'], '5');
        assert.equal(await down.locator('h1').textContent(), 'Sign-in unavailable');
        assert.match((await down.locator('main').textContent())!, /user directory cannot be reached/);
        await down.close();
        // The token endpoint: an OAuth error body with 503 and Retry-After (as while sealed), never tokens.
        const refresh = await fetch(`${env.issuer}/protocol/openid-connect/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`web:${SECRETS.WEB_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
        });
        assert.equal(refresh.status, 503);
        assert.equal(refresh.headers.get('retry-after'), '5');
        const body = (await refresh.json()) as Record<string, unknown>;
        assert.deepEqual({ ...body, correlation_id: typeof body.correlation_id }, {
          error: 'temporarily_unavailable',
          error_description: 'the user directory is unavailable; try again shortly',
          code: 'idp.directory_unavailable',
          correlation_id: 'string',
        });
        const userinfo = await fetch(`${env.issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
        assert.equal(userinfo.status, 503);
        assert.equal(((await userinfo.json()) as { code?: string }).code, 'idp.directory_unavailable');
        // An unsuccessful authentication (KeyCape §13.2) whose reason is the directory, in telemetry and the audit trail.
        const audited = env.audit.events.filter((e) => e.event_type === 'idp.authentication_failed' && e.error_code === 'idp.directory_unavailable');
        assert.ok(audited.length >= 3, 'the login page, the token endpoint and userinfo each recorded the outage');
        assert.ok(audited.every((e) => e.outcome === 'denied' && e.metadata?.reason === 'directory_unavailable'));
        assert.deepEqual(new Set(audited.map((e) => e.metadata?.endpoint)), new Set(['/login', '/protocol/openid-connect/token', '/protocol/openid-connect/userinfo', '/protocol/openid-connect/auth']));
        // No other source of users was tried: the failures are not counted against alice.
        assert.equal(await env.db.selectFrom('idp_throttle').selectAll().where('key', '=', 'main\u0000u\u0000alice').executeTakeFirst(), undefined);

        await slapd.restart();
        const again = await oidc.refreshTokenGrant(first.config, tokens.refresh_token!);
        assert.equal(again.claims()!.sub, 'u-alice', 'the refresh token survived the outage');
        const back = await browser.newPage();
        const second = await signInPage(env, back);
        assert.equal((await submit(back, 'alice', PASSWORDS.alice)).status(), 303);
        await back.waitForURL(/\/rp\/cb\?/);
        assert.equal((await oidc.authorizationCodeGrant(second.config, new URL(back.url()), { pkceCodeVerifier: second.verifier })).claims()!.sub, 'u-alice');
        await back.close();
      });
  });
}

describe('the same claims from both directories', () => {
  it('ID token, userinfo, access token, refusal message and MFA sign-in are equal', (t) => {
    if (!observed.has('builtin') || !observed.has('ldap')) return t.skip('one of the directories did not run');
    for (const key of ['', ':refusal', ':mfa']) assert.deepEqual(observed.get(`ldap${key}`), observed.get(`builtin${key}`), `ldap${key}`);
  });
});
