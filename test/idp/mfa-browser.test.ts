import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { chromium, type Browser } from 'playwright-core';
import { sweepExpired } from '../../src/idp/store/adapter.ts';
import { REALM_YAML, SECRETS, startEnv, type TestEnv } from './support/env.ts';
import { assertProfileClaims } from './support/claims.ts';
import { CHROMIUM } from './support/pages.ts';
import { skipUnless } from '../support/missing.ts';


describe('idp: TOTP second factor in headless Chromium', { skip: skipUnless(existsSync(CHROMIUM), 'the TOTP browser tests', `${CHROMIUM} not installed`) }, () => {
  let env: TestEnv;
  let browser: Browser;
  before(async () => {
    // dana, like bob, is in a group that requires MFA; she is never enrolled before the enrolment-session test.
    const bob = '  - { id: u-bob, username: bob, tenant: "tenant:platform", groups: [admins], roles: [], password_env: BOB_PW }\n';
    assert.ok(REALM_YAML.includes(bob));
    env = await startEnv({ yaml: REALM_YAML.replace(bob, bob + bob.replaceAll('bob', 'dana')) });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await env?.close();
  });

  it('enrols and verifies TOTP for a user whose group requires MFA; the assurance claim says aal2', async () => {
    const config = await oidc.discovery(new URL(env.issuer), 'web', undefined, oidc.ClientSecretBasic(SECRETS.WEB_SECRET), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `${env.base}/rp/cb`,
      scope: 'openid profile groups',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const page = await browser.newPage();
    await page.goto(url.href);
    await page.getByLabel('Username').fill('bob');
    await page.getByLabel('Password').fill(SECRETS.BOB_PW);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/totp$/);
    const shown = (await page.locator('#totp-secret').textContent())!.trim();
    assert.match(shown, /^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/, 'the key is shown in groups of four for typing');
    const secret = shown.replaceAll(' ', '');
    assert.equal(await page.locator('h1').textContent(), 'Set up two-step verification');
    // The raw otpauth:// URI is there to copy, folded away rather than the page's main content.
    assert.equal(await page.locator('details #otpauth-uri').isVisible(), false);
    assert.match((await page.locator('#otpauth-uri').textContent())!, /^otpauth:\/\/totp\//);
    // The QR code renders (the CSP allows it) and is described for screen readers.
    const qr = page.locator('#totp-qr');
    assert.ok((await qr.evaluate((img) => { const i = img as unknown as { complete: boolean; naturalWidth: number }; return i.complete ? i.naturalWidth : 0; })) > 0, 'the QR code image renders');
    assert.match((await qr.getAttribute('alt'))!, /QR code/);
    const code = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate();
    await page.getByLabel(/6-digit code/).fill(code);
    await page.getByRole('button', { name: 'Verify' }).click();
    // Enrolment ends with the recovery codes, shown once; then on to the application.
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    await page.getByLabel('I have saved my recovery codes').check();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(/\/rp\/cb\?/);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier });
    const claims = tokens.claims()!;
    assert.equal(claims.sub, 'u-bob');
    assert.equal(claims.acr, 'aal2');
    assert.deepEqual(claims.amr, ['pwd', 'otp']);
    assert.deepEqual(claims.assurance, { ...(claims.assurance as object), level: 'aal2', mfa: true });
    assertProfileClaims(claims);
    await page.close();
  });

  it('each enrolment session gets its own seed; an abandoned one expires; confirming one ends the others', async () => {
    const config = await oidc.discovery(new URL(env.issuer), 'web', undefined, oidc.ClientSecretBasic(SECRETS.WEB_SECRET), { execute: [oidc.allowInsecureRequests] });
    const toTotpPage = async () => {
      // A fresh context is a fresh browser session: no cookies shared with the other one.
      const page = await (await browser.newContext()).newPage();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: `${env.base}/rp/cb`,
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      });
      await page.goto(url.href);
      await page.getByLabel('Username').fill('dana');
      await page.getByLabel('Password').fill(SECRETS.BOB_PW);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/totp$/);
      return page;
    };
    const seedOn = async (page: Awaited<ReturnType<typeof toTotpPage>>) => (await page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
    const codeFor = (seed: string) => new TOTP({ secret: Secret.fromBase32(seed), digits: 6, period: 30 }).generate();
    const submit = async (page: Awaited<ReturnType<typeof toTotpPage>>, code: string) => {
      await page.getByLabel(/6-digit code/).fill(code);
      const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Verify' }).click()]);
      return res.status();
    };

    const first = await toTotpPage();
    const second = await toTotpPage();
    const a = await seedOn(first);
    const b = await seedOn(second);
    assert.notEqual(a, b, 'a second session is never shown the first one\'s seed');
    await first.reload();
    assert.equal(await seedOn(first), a, 'a session keeps its own seed');
    // The first session's seed does not enrol the second.
    assert.equal(await submit(second, codeFor(a)), 401);
    assert.equal(await seedOn(second), b);

    // Abandoned: once its time is up, the seed is gone and the session gets a new one.
    const pending = () => env.db.selectFrom('idp_mfa_pending').selectAll().where('user_id', '=', 'u-dana').execute();
    assert.equal((await pending()).length, 2);
    await env.db.updateTable('idp_mfa_pending').set({ expires_at: 1 }).where('user_id', '=', 'u-dana').execute();
    await first.reload();
    const a2 = await seedOn(first);
    assert.notEqual(a2, a);
    assert.equal((await pending()).length, 1, 'expired enrolments are deleted');

    // The second session's seed expired too: it gets a new one, and that one enrols.
    await second.reload();
    const b2 = await seedOn(second);
    assert.notEqual(b2, b);
    await submit(second, codeFor(b2));
    await second.getByLabel('I have saved my recovery codes').check();
    await second.getByRole('button', { name: 'Continue' }).click();
    await second.waitForURL(/\/rp\/cb\?/);
    assert.equal((await pending()).length, 0, 'confirming ends every other enrolment of the user');
    // The other session's seed was never confirmed and is worthless now.
    assert.equal(await submit(first, codeFor(a2)), 401);
    assert.equal(await first.locator('#totp-secret').count(), 0, 'an enrolled user is shown no seed');
  });

  it('sweeps expired provider artefacts', async () => {
    const before = await env.db.selectFrom('idp_oidc').select(({ fn }) => fn.countAll().as('n')).executeTakeFirstOrThrow();
    assert.ok(Number(before.n) > 0);
    const removed = await sweepExpired(env.db, Math.floor(Date.now() / 1000) + 365 * 86400);
    assert.ok(removed > 0);
  });
});
