import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { chromium, type Browser } from 'playwright-core';
import { sweepExpired } from '../../src/idp/store/adapter.ts';
import { SECRETS, startEnv, type TestEnv } from './support/env.ts';
import { assertProfileClaims } from './support/claims.ts';

const CHROMIUM = '/usr/bin/chromium';

describe('idp: TOTP second factor in headless Chromium', { skip: existsSync(CHROMIUM) ? false : (process.env.CI ? false : 'chromium not installed') }, () => {
  let env: TestEnv;
  let browser: Browser;
  before(async () => {
    env = await startEnv();
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
    const secret = (await page.locator('#totp-secret').textContent())!.trim();
    assert.match((await page.locator('#otpauth-uri').textContent())!, /^otpauth:\/\/totp\//);
    // The QR code renders (the CSP allows it) and is described for screen readers.
    const qr = page.locator('#totp-qr');
    assert.ok((await qr.evaluate((img) => { const i = img as unknown as { complete: boolean; naturalWidth: number }; return i.complete ? i.naturalWidth : 0; })) > 0, 'the QR code image renders');
    assert.match((await qr.getAttribute('alt'))!, /QR code/);
    const code = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate();
    await page.getByLabel(/6-digit code/).fill(code);
    await page.getByRole('button', { name: 'Verify' }).click();
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

  it('sweeps expired provider artefacts', async () => {
    const before = await env.db.selectFrom('idp_oidc').select(({ fn }) => fn.countAll().as('n')).executeTakeFirstOrThrow();
    assert.ok(Number(before.n) > 0);
    const removed = await sweepExpired(env.db, Math.floor(Date.now() / 1000) + 365 * 86400);
    assert.ok(removed > 0);
  });
});
