// Driving the identity provider's pages in Chromium: a realm with named clients and MFA users, and the steps of a
// sign-in. Shared by the page tests and scripts/screenshots.ts.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REALM_YAML, SECRETS, startEnv, type TestEnv } from './env.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const CLIENT_NAME = 'Team Wiki';
export const DISPLAY_NAME = 'Example Corporation';

/** Users whose group requires MFA and who start without an enrolment (one per flow that enrols). */
export const MFA_USERS = ['dana', 'erin', 'frank', 'gina'] as const;

/** The test realm plus the MFA_USERS and a name for the web client. */
export function pagesYaml(): string {
  const bob = '  - { id: u-bob, username: bob, tenant: "tenant:platform", groups: [admins], roles: [], password_env: BOB_PW }\n';
  assert.ok(REALM_YAML.includes(bob));
  assert.ok(REALM_YAML.includes('  - client_id: web\n'));
  return REALM_YAML.replace(bob, bob + MFA_USERS.map((u) => bob.replaceAll('bob', u)).join('')).replace(
    '  - client_id: web\n',
    `  - client_id: web\n    name: ${CLIENT_NAME}\n`,
  );
}

/** A theme directory with a logo and an extra stylesheet. */
export function themeDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kw-theme-'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'logo.svg'),
    '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="48" viewBox="0 0 96 48"><rect width="96" height="48" rx="8" fill="#0b6e4f"/><text x="48" y="31" font-family="sans-serif" font-size="18" fill="#fff" text-anchor="middle">ACME</text></svg>',
  );
  writeFileSync(join(dir, 'extra.css'), '.realm-name{letter-spacing:.02em}\n');
  writeFileSync(join(dir, 'notes.txt'), 'not served');
  return dir;
}

export const THEMED_REALM = (dir: string) => ({
  display_name: 'Acme Staff',
  theme: {
    directory: dir,
    logo: 'logo.svg',
    stylesheet: 'extra.css',
    colors: { primary: '#0b6e4f', background: '#f1f7f4', text: '#102a20' },
    help_text: 'Trouble signing in? Call the Acme service desk on 0800 123.',
    help_url: 'https://help.acme.example/signin',
    footer_text: 'Acme Ltd. Authorised staff only.',
  },
});

export async function startPagesEnv(realm: Record<string, unknown> = { display_name: DISPLAY_NAME }): Promise<TestEnv> {
  return startEnv({ yaml: pagesYaml(), realm });
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export async function rpConfig(env: TestEnv) {
  return oidc.discovery(new URL(env.issuer), 'web', undefined, oidc.ClientSecretBasic(SECRETS.WEB_SECRET), { execute: [oidc.allowInsecureRequests] });
}

/** Opens the authorization endpoint as the web client would; returns what the code exchange needs. */
export async function startSignIn(env: TestEnv, page: Page, extra: Record<string, string> = {}) {
  const config = await rpConfig(env);
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: `${env.base}/rp/cb`,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  const res = await page.goto(url.href);
  return { config, verifier, res };
}

export async function submitPassword(page: Page, username: string, password: string) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Sign in' }).click()]);
  await page.waitForLoadState();
  return res;
}

export const codeFor = (seed: string, at = Date.now()) => new TOTP({ secret: Secret.fromBase32(seed), digits: 6, period: 30 }).generate({ timestamp: at });

export async function seedOn(page: Page): Promise<string> {
  return (await page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
}

export async function submitForm(page: Page, button: string | RegExp) {
  const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: button }).click()]);
  await page.waitForLoadState();
  return res;
}

export { SECRETS };
