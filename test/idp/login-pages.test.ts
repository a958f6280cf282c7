// The identity provider's pages as people meet them, in headless Chromium: the realm and the asking application
// named, errors and lockouts said plainly, keyboard-only use, a phone-sized viewport, no inline styles or scripts
// (CSP without 'unsafe-inline'), axe-core with no serious or critical finding on any page, one-time recovery codes,
// and an operator's theme.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { TestEnv } from './support/env.ts';
import {
  CHROMIUM,
  CLIENT_NAME,
  codeFor,
  DISPLAY_NAME,
  launchChromium,
  SECRETS,
  seedOn,
  startPagesEnv,
  startSignIn,
  submitForm,
  submitPassword,
  THEMED_REALM,
  themeDir,
} from './support/pages.ts';
import { skipUnless } from '../support/missing.ts';

// Run inside the page by page.evaluate; the project compiles without the DOM library.
declare const document: any;
declare const window: any;
declare function getComputedStyle(el: unknown): any;

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown }>;
}

/** axe-core in the page (evaluated through the DevTools protocol: the page's CSP rightly forbids injected scripts). */
async function axeFindings(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: AxeViolation[] }> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
  return violations;
}

async function assertAccessible(page: Page, name: string) {
  const bad = (await axeFindings(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${name}: axe-core found serious or critical problems`);
}

async function assertNoHorizontalScroll(page: Page, name: string) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  assert.ok(scroll <= width, `${name}: the page is ${scroll}px wide in a ${width}px viewport`);
}

/** Styled from the served stylesheet alone: no inline style or script anywhere. */
async function assertStyledWithoutInline(page: Page, name: string, primary = 'rgb(26, 95, 180)') {
  const facts = await page.evaluate(() => ({
    inline: document.querySelectorAll('script, style, [style]').length,
    sheets: [...document.styleSheets].map((s) => s.href ?? 'inline'),
    button: (() => {
      const b = document.querySelector('main button');
      return b ? getComputedStyle(b).backgroundColor : undefined;
    })(),
    card: getComputedStyle(document.querySelector('main')!).borderTopStyle,
  }));
  assert.equal(facts.inline, 0, `${name}: no inline scripts or styles`);
  assert.equal(facts.sheets.length, 1, `${name}: one stylesheet`);
  assert.match(facts.sheets[0]!, /\/theme\/style\.css\?v=/);
  assert.equal(facts.card, 'solid', `${name}: the stylesheet applied`);
  if (facts.button !== undefined) assert.equal(facts.button, primary, `${name}: the button has the realm's colour`);
}

describe('idp pages in Chromium', { skip: skipUnless(existsSync(CHROMIUM), 'the sign-in page tests', `${CHROMIUM} not installed`) }, () => {
  let env: TestEnv;
  let browser: Browser;
  const cspViolations: string[] = [];
  const newPage = async (viewport = DESKTOP): Promise<Page> => {
    const ctx: BrowserContext = await browser.newContext({ viewport });
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    return page;
  };

  before(async () => {
    env = await startPagesEnv();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await env?.close();
  });

  it('the login page names the realm and the application, has labelled fields and a CSP without unsafe-inline', async () => {
    const page = await newPage();
    const { res } = await startSignIn(env, page);
    assert.ok(res);
    assert.equal(res.status(), 200);
    const csp = (await res.allHeaders())['content-security-policy']!;
    assert.ok(!csp.includes('unsafe-inline'), csp);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal((await res.allHeaders())['x-frame-options'], 'DENY');
    assert.equal(await page.locator('#realm-name').textContent(), DISPLAY_NAME);
    assert.equal(await page.locator('#client-name').textContent(), CLIENT_NAME);
    assert.match(await page.title(), new RegExp(`Sign in · ${DISPLAY_NAME}`));
    // Labels are tied to their inputs (getByLabel resolves through label[for]).
    assert.equal(await page.getByLabel('Username').getAttribute('autocomplete'), 'username');
    assert.equal(await page.getByLabel('Password').getAttribute('type'), 'password');
    await assertStyledWithoutInline(page, 'login');
    assert.deepEqual(cspViolations, [], 'nothing on the page was blocked by the CSP');
    await page.context().close();
  });

  it('signs in with the keyboard alone: focus order username, password, button, each with a visible focus ring', async () => {
    const page = await newPage();
    const { config, verifier } = await startSignIn(env, page);
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement;
        const s = getComputedStyle(el);
        return { id: el.id || el.tagName.toLowerCase(), outline: s.outlineStyle, width: parseFloat(s.outlineWidth) };
      });
    // The first field has the focus on arrival.
    assert.equal((await focused()).id, 'username');
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    let f = await focused();
    assert.equal(f.id, 'password');
    assert.ok(f.outline !== 'none' && f.width >= 2, `password focus is visible (${f.outline} ${f.width}px)`);
    await page.keyboard.type(SECRETS.ALICE_PW);
    await page.keyboard.press('Tab');
    f = await focused();
    assert.equal(f.id, 'button');
    assert.ok(f.outline !== 'none' && f.width >= 2, `button focus is visible (${f.outline} ${f.width}px)`);
    await page.keyboard.press('Shift+Tab');
    assert.equal((await focused()).id, 'password');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/rp\/cb\?/);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier });
    assert.equal(tokens.claims()!.sub, 'u-alice');
    await page.context().close();
  });

  it('says what went wrong: a wrong password, then a lockout with the time to wait', async () => {
    const page = await newPage();
    await startSignIn(env, page);
    const res = await submitPassword(page, 'nobody-here', 'wrong');
    assert.equal(res.status(), 401);
    const alert = page.getByRole('alert');
    assert.match((await alert.textContent())!, /username or password is incorrect/);
    assert.equal(await page.getByLabel('Username').inputValue(), 'nobody-here', 'the username is kept');
    assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByLabel('Password').getAttribute('aria-describedby'), 'form-error');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password', 'the focus waits in the password field');
    await assertAccessible(page, 'login with error');
    // The lock is per username, known or not, so saying so reveals nothing about accounts.
    for (let i = 0; i < 4; i++) await submitPassword(page, 'nobody-here', 'wrong');
    assert.match((await alert.textContent())!, /Too many failed attempts.*Try again in 15 minutes\./);
    await assertAccessible(page, 'login locked');
    await page.context().close();

    // The second step says the same: wrong codes, then the lock.
    const totp = await newPage();
    await startSignIn(env, totp);
    await submitPassword(totp, 'frank', SECRETS.BOB_PW);
    const bad = async () => {
      await totp.getByLabel(/6-digit code/).fill('000000');
      return submitForm(totp, /Verify/);
    };
    assert.equal((await bad()).status(), 401);
    assert.match((await totp.getByRole('alert').textContent())!, /That code is not valid/);
    assert.equal(await totp.getByLabel(/6-digit code/).getAttribute('aria-invalid'), 'true');
    for (let i = 0; i < 4; i++) await bad();
    assert.match((await totp.getByRole('alert').textContent())!, /Too many failed attempts.*Try again in 15 minutes\./);
    // Locked: even the right code waits.
    await totp.getByLabel(/6-digit code/).fill(codeFor(await seedOn(totp)));
    assert.equal((await submitForm(totp, /Verify/)).status(), 401);
    await totp.context().close();
  });

  it('every page passes axe-core (no serious or critical findings) and fits a phone without horizontal scrolling', async () => {
    for (const [viewport, user] of [[PHONE, 'dana'], [DESKTOP, 'erin']] as const) {
      const where = `${viewport.width}x${viewport.height}`;
      const check = async (page: Page, name: string) => {
        await assertAccessible(page, `${name} at ${where}`);
        await assertNoHorizontalScroll(page, `${name} at ${where}`);
        await assertStyledWithoutInline(page, `${name} at ${where}`);
      };
      const page = await newPage(viewport);
      await startSignIn(env, page);
      await check(page, 'login');
      await submitPassword(page, user, 'wrong');
      await check(page, 'login with error');
      await submitPassword(page, user, SECRETS.BOB_PW);
      assert.equal(await page.locator('h1').textContent(), 'Set up two-step verification');
      await check(page, 'TOTP enrolment');
      // The folded otpauth:// URI must fit too when opened.
      await page.locator('summary').click();
      await assertNoHorizontalScroll(page, `TOTP enrolment, details open, at ${where}`);
      await page.getByLabel(/6-digit code/).fill(codeFor(await seedOn(page)));
      await submitForm(page, /Verify/);
      await check(page, 'recovery codes');
      const codes = await page.locator('#recovery-codes code').allTextContents();
      await page.getByLabel('I have saved my recovery codes').check();
      await submitForm(page, 'Continue');
      await page.waitForURL(/\/rp\/cb\?/);

      const later = await newPage(viewport);
      const { config, verifier } = await startSignIn(env, later);
      await submitPassword(later, user, SECRETS.BOB_PW);
      assert.equal(await later.locator('h1').textContent(), 'Two-step verification');
      await check(later, 'TOTP verification');
      await later.getByRole('link', { name: 'Use a recovery code instead' }).click();
      await check(later, 'recovery code entry');
      await later.getByLabel('Recovery code').fill('0000-0000-0000-0000');
      await submitForm(later, 'Sign in with recovery code');
      await check(later, 'recovery code entry with error');
      await later.getByLabel('Recovery code').fill(codes[0]!);
      await submitForm(later, 'Sign in with recovery code');
      await check(later, 'recovery code accepted');
      await submitForm(later, 'Continue');
      await later.waitForURL(/\/rp\/cb\?/);
      const tokens = await oidc.authorizationCodeGrant(config, new URL(later.url()), { pkceCodeVerifier: verifier });

      await later.goto(oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! }).href);
      assert.equal(await later.locator('h1').textContent(), 'Sign out');
      assert.equal(await later.locator('#client-name').textContent(), CLIENT_NAME);
      await check(later, 'logout confirmation');
      await submitForm(later, 'Sign out');
      assert.equal(await later.locator('h1').textContent(), 'Signed out');
      await check(later, 'signed out');

      const error = await later.goto(`${env.issuer}/protocol/openid-connect/auth?client_id=web&response_type=token&redirect_uri=${encodeURIComponent('https://elsewhere.example/cb')}&scope=openid`);
      assert.equal(error!.status(), 400);
      assert.ok(!(await error!.allHeaders())['content-security-policy']!.includes('unsafe-inline'));
      assert.equal(await later.locator('#realm-name').textContent(), DISPLAY_NAME);
      await check(later, 'error page');
      await page.context().close();
      await later.context().close();
    }
    assert.deepEqual(cspViolations, [], 'nothing on any page was blocked by the CSP');
  });

  it('recovery codes: shown once at enrolment, stored hashed, each works once, reuse refused, every use audited', async () => {
    // Enrolment shows ten codes, once.
    const page = await newPage();
    await startSignIn(env, page);
    await submitPassword(page, 'gina', SECRETS.BOB_PW);
    await page.getByLabel(/6-digit code/).fill(codeFor(await seedOn(page)));
    await submitForm(page, /Verify/);
    const codes = await page.locator('#recovery-codes code').allTextContents();
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const c of codes) assert.match(c, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/);
    const totpUrl = page.url();
    // Revisiting the step does not show them again.
    await page.goto(totpUrl);
    assert.equal(await page.locator('#recovery-codes').count(), 0);
    assert.match((await page.locator('main').textContent())!, /shown only once/);
    await submitForm(page, 'Continue');
    await page.waitForURL(/\/rp\/cb\?/);

    // The store has hashes only.
    const rows = await env.db.selectFrom('idp_recovery_codes').selectAll().where('user_id', '=', 'u-gina').execute();
    assert.equal(rows.length, 10);
    const stored = JSON.stringify(rows);
    for (const c of codes) {
      assert.ok(!stored.includes(c) && !stored.includes(c.replaceAll('-', '')), 'no code in the clear');
    }
    const issued = env.audit.events.filter((e) => e.event_type === 'idp.recovery_codes_issued' && e.resource?.id === 'u-gina');
    assert.equal(issued.length, 1);
    assert.equal(issued[0]!.metadata?.count, 10);

    const useCode = async (code: string) => {
      const p = await newPage();
      const { config, verifier } = await startSignIn(env, p);
      await submitPassword(p, 'gina', SECRETS.BOB_PW);
      await p.getByRole('link', { name: 'Use a recovery code instead' }).click();
      const before = (await p.locator('#recovery-remaining').textContent())!;
      await p.getByLabel('Recovery code').fill(code);
      const res = await submitForm(p, 'Sign in with recovery code');
      return { p, config, verifier, res, before };
    };

    // A code works (typed in upper case with spaces: the same code), and the count goes down.
    const first = await useCode(codes[0]!.toUpperCase().replaceAll('-', ' '));
    assert.equal(first.before, 'You have 10 unused recovery codes.');
    assert.equal(first.res.status(), 200);
    assert.equal(await first.p.locator('#recovery-remaining').textContent(), 'You have 9 unused recovery codes.');
    await submitForm(first.p, 'Continue');
    await first.p.waitForURL(/\/rp\/cb\?/);
    const tokens = await oidc.authorizationCodeGrant(first.config, new URL(first.p.url()), { pkceCodeVerifier: first.verifier });
    const claims = tokens.claims()!;
    assert.equal(claims.sub, 'u-gina');
    assert.equal(claims.acr, 'aal2');
    assert.deepEqual(claims.amr, ['pwd', 'otp'], 'a one-time code from a printed list: RFC 8176 otp');
    await first.p.context().close();

    // The same code again: refused, said plainly, and audited as a reuse.
    const again = await useCode(codes[0]!);
    assert.equal(again.res.status(), 401);
    assert.match((await again.p.getByRole('alert').textContent())!, /already been used/);
    assert.equal(await again.p.locator('#recovery-remaining').textContent(), 'You have 9 unused recovery codes.');
    await again.p.context().close();

    const used = env.audit.events.filter((e) => e.event_type === 'idp.recovery_code_used' && e.resource?.id === 'u-gina');
    assert.deepEqual(
      used.map((e) => [e.outcome, e.error_code, e.metadata?.remaining]),
      [
        ['success', undefined, 9],
        ['denied', 'idp.recovery_code_already_used', undefined],
      ],
    );
    assert.ok(used.every((e) => e.principal?.id === 'u-gina' && e.metadata?.client_id === 'web' && e.source_ip));

    // Fail closed: when the audit trail refuses the event, there is no sign-in, and the code is given back.
    const record = env.audit.record;
    env.audit.record = async () => {
      throw new Error('audit sink down');
    };
    try {
      const down = await useCode(codes[1]!);
      assert.equal(down.res.status(), 503);
      assert.equal(await down.p.locator('h1').textContent(), 'Temporarily unavailable');
      assert.ok(!down.p.url().includes('/rp/cb'));
      await down.p.context().close();
    } finally {
      env.audit.record = record;
    }
    const back = await useCode(codes[1]!);
    assert.equal(back.before, 'You have 9 unused recovery codes.', 'the code was given back');
    assert.equal(back.res.status(), 200);
    await back.p.context().close();
    const trail = JSON.stringify(env.audit.events);
    for (const c of codes) assert.ok(!trail.includes(c) && !trail.toUpperCase().includes(c.toUpperCase().replaceAll('-', ' ')), 'no code in the audit trail');
    await page.context().close();
  });
});

describe('idp pages with an operator theme', { skip: skipUnless(existsSync(CHROMIUM), 'the sign-in page tests', `${CHROMIUM} not installed`) }, () => {
  let env: TestEnv;
  let browser: Browser;
  let dir: string;
  before(async () => {
    dir = themeDir();
    // A link out of the directory: must never be served.
    writeFileSync(join(dir, '..', `kw-outside-${process.pid}.css`), 'body{}');
    symlinkSync(join(dir, '..', `kw-outside-${process.pid}.css`), join(dir, 'escape.css'));
    env = await startPagesEnv(THEMED_REALM(dir));
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await env?.close();
    rmSync(join(dir, '..', `kw-outside-${process.pid}.css`), { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the logo, colours and texts from the configuration and passes axe-core with them', async () => {
    const page = await browser.newPage({ viewport: PHONE });
    await startSignIn(env, page);
    assert.equal(await page.locator('#realm-name').textContent(), 'Acme Staff');
    assert.equal(await page.locator('#client-name').textContent(), CLIENT_NAME);
    const logo = page.locator('header img');
    assert.ok((await logo.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)) > 0, 'the logo loads');
    assert.match((await logo.getAttribute('src'))!, /^\/realms\/main\/theme\/assets\/logo\.svg\?v=/);
    const help = page.locator('#realm-help a');
    assert.equal(await help.textContent(), 'Trouble signing in? Call the Acme service desk on 0800 123.');
    assert.equal(await help.getAttribute('href'), 'https://help.acme.example/signin');
    assert.equal(await page.locator('#realm-footer').textContent(), 'Acme Ltd. Authorised staff only.');
    await assertStyledWithoutInline(page, 'themed login', 'rgb(11, 110, 79)');
    const look = await page.evaluate(() => ({
      background: getComputedStyle(document.body).backgroundColor,
      text: getComputedStyle(document.body).color,
      // From the theme directory's extra stylesheet.
      spacing: getComputedStyle(document.querySelector('.realm-name')!).letterSpacing,
    }));
    assert.deepEqual(look, { background: 'rgb(241, 247, 244)', text: 'rgb(16, 42, 32)', spacing: `${0.02 * 20}px` });
    await assertAccessible(page, 'themed login');
    await assertNoHorizontalScroll(page, 'themed login');
    await page.close();
  });

  it('serves theme files with their content types and cache headers, and nothing outside the directory', async () => {
    const base = `${env.issuer}/theme`;
    const page = await browser.newPage();
    await startSignIn(env, page);
    const cssUrl = (await page.evaluate(() => document.styleSheets[0]!.href))!;
    await page.close();
    const css = await fetch(cssUrl);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal(css.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(css.headers.get('x-content-type-options'), 'nosniff');
    assert.match(await css.text(), /--kw-primary:#0b6e4f/);
    // An old or missing version is revalidated, not cached for good.
    const unversioned = await fetch(`${base}/style.css`);
    assert.equal(unversioned.headers.get('cache-control'), 'public, no-cache');
    const etag = unversioned.headers.get('etag')!;
    assert.equal((await fetch(`${base}/style.css`, { headers: { 'if-none-match': etag } })).status, 304);

    const logo = await fetch(`${base}/assets/logo.svg`);
    assert.equal(logo.status, 200);
    assert.equal(logo.headers.get('content-type'), 'image/svg+xml');
    assert.match(logo.headers.get('content-security-policy')!, /sandbox/);
    assert.match(await logo.text(), /^<svg/);

    for (const path of [
      'assets/notes.txt', // not a theme file type
      'assets/escape.css', // a symlink out of the directory
      'assets/..%2F..%2F..%2Fetc%2Fpasswd',
      'assets/%2e%2e%2fidp.db',
      'assets/.hidden.css',
      'assets/missing.png',
    ]) {
      const r = await fetch(`${base}/${path}`);
      assert.ok(r.status === 404, `${path}: ${r.status}`);
      assert.ok(!(await r.text()).includes('root:'), path);
    }
  });
});
