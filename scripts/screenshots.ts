// Screenshots of every identity-provider page at desktop (1280x800) and phone (390x844) size, written to
// docs/screenshots/ (PNG): `npm run screenshots`. Uses the system Chromium (/usr/bin/chromium) and the same throwaway
// realm as the page tests. Not part of the test suite: run it after changing the pages and commit the images.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import type { TestEnv } from '../test/idp/support/env.ts';
import {
  codeFor,
  launchChromium,
  SECRETS,
  seedOn,
  startPagesEnv,
  startSignIn,
  submitForm,
  submitPassword,
  THEMED_REALM,
  themeDir,
} from '../test/idp/support/pages.ts';

const OUT = join(import.meta.dirname, '..', 'docs', 'screenshots');
const SIZES = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;

async function shoot(page: Page, name: string, size: keyof typeof SIZES) {
  await page.screenshot({ path: join(OUT, `${name}-${size}.png`), fullPage: true });
}

/** Every page of the default look, in the order a person meets them. */
async function walk(env: TestEnv, browser: Browser, size: keyof typeof SIZES, user: string) {
  const ctx = await browser.newContext({ viewport: SIZES[size], deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  await startSignIn(env, page);
  await shoot(page, 'login', size);
  await submitPassword(page, user, 'not the password');
  await shoot(page, 'login-error', size);
  for (let i = 0; i < 5; i++) await submitPassword(page, `locked-${size}`, 'wrong');
  await shoot(page, 'login-locked', size);

  // Enrolment (the user's group requires a second factor), then the recovery codes shown once.
  await startSignIn(env, page);
  await submitPassword(page, user, SECRETS.BOB_PW);
  const seed = await seedOn(page);
  await shoot(page, 'totp-enrol', size);
  await page.getByLabel(/6-digit code/).fill(codeFor(seed));
  await submitForm(page, /Verify/);
  await shoot(page, 'recovery-codes', size);
  const codes = await page.locator('#recovery-codes code').allTextContents();
  await page.getByLabel('I have saved my recovery codes').check();
  await submitForm(page, 'Continue');

  // A later sign-in in a fresh session: the code page, then a recovery code instead.
  const later = await (await browser.newContext({ viewport: SIZES[size], deviceScaleFactor: 1 })).newPage();
  const { config, verifier } = await startSignIn(env, later);
  await submitPassword(later, user, SECRETS.BOB_PW);
  await shoot(later, 'totp-verify', size);
  await later.getByRole('link', { name: 'Use a recovery code instead' }).click();
  await shoot(later, 'recovery-entry', size);
  await later.getByLabel('Recovery code').fill(codes[0]!);
  await submitForm(later, 'Sign in with recovery code');
  await shoot(later, 'recovery-accepted', size);
  await submitForm(later, 'Continue');
  await later.waitForURL(/\/rp\/cb\?/);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(later.url()), { pkceCodeVerifier: verifier });

  // Logout: the confirmation, then the signed-out page.
  await later.goto(oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! }).href);
  await shoot(later, 'logout', size);
  await submitForm(later, 'Sign out');
  await shoot(later, 'signed-out', size);

  // An error page: a response type outside the profile.
  await later.goto(`${env.issuer}/protocol/openid-connect/auth?client_id=web&response_type=token&redirect_uri=${encodeURIComponent('https://elsewhere.example/cb')}&scope=openid`);
  await shoot(later, 'error', size);
  await ctx.close();
  await later.context().close();
}

async function main() {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const browser = await launchChromium();
  const env = await startPagesEnv();
  try {
    await walk(env, browser, 'desktop', 'dana');
    await walk(env, browser, 'phone', 'erin');
  } finally {
    await env.close();
  }
  // One realm with an operator's theme: logo, colours, help and footer texts.
  const dir = themeDir();
  const themed = await startPagesEnv(THEMED_REALM(dir));
  try {
    for (const size of ['desktop', 'phone'] as const) {
      const page = await (await browser.newContext({ viewport: SIZES[size], deviceScaleFactor: 1 })).newPage();
      await startSignIn(themed, page);
      await shoot(page, 'login-themed', size);
      await page.context().close();
    }
  } finally {
    await themed.close();
    rmSync(dir, { recursive: true, force: true });
    await browser.close();
  }
  console.log(`screenshots written to ${OUT}`);
}

await main();
