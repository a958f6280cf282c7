// The browser the suite signs in with: headless Chromium driven by playwright-core. playwright-core is loaded only
// when a run needs a browser, so the rest of the command works without it, and a missing driver or Chromium is one
// clear error instead of a stack trace.
//
// Redirects to the client's URIs are answered inside the browser (request interception): the suite needs no web
// server at the relying party's address, so it can be pointed at the redirect URIs an issuer already has registered.
import { existsSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { problem } from '../core/problem.ts';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Login, second-factor and logout forms of Keyward's pages and of Keycloak's default theme. */
const SELECTORS = {
  username: 'input[name="username"]',
  password: 'input[name="password"]',
  otp: 'input[name="code"], input[name="otp"], input[name="totp"]',
  totpSecret: '#totp-secret, #kc-totp-secret-key',
  submit: 'button[type="submit"], input[type="submit"]',
  logout: 'button[name="logout"], #kc-logout, input[name="confirmLogout"]',
  enrolmentDone: 'input[name="saved"]',
};

export interface BrowserSession {
  /** Opens a URL; returns where the browser ended up (after redirects), a captured URI included. */
  open(url: string): Promise<string>;
  /** Fills the username/password form and submits it; returns where the browser ended up. */
  signIn(username: string, password: string): Promise<string>;
  /** The TOTP secret an enrolment page shows, if this page is one. */
  totpSecret(): Promise<string | undefined>;
  /** Whether the page asks for a one-time code. */
  asksForCode(): Promise<boolean>;
  /** Types a one-time code and submits; then confirms a recovery-code page if one follows. */
  submitCode(code: string): Promise<string>;
  /** Confirms a logout page if the issuer shows one; returns where the browser ended up. */
  confirmLogout(): Promise<string>;
  /** The latest URL the browser was sent to that starts with one of the captured prefixes. */
  captured(): string | undefined;
  close(): Promise<void>;
}

export interface BrowserDriver {
  /** A fresh browser context (no cookies); requests to `capture` prefixes are answered locally and recorded. */
  session(capture: string[]): Promise<BrowserSession>;
  close(): Promise<void>;
}

const unavailable = (detail: string) => problem('conformance.browser_unavailable', detail);

export async function launchBrowser(opts: { executablePath?: string | undefined; timeoutMs?: number | undefined } = {}): Promise<BrowserDriver> {
  const executablePath = opts.executablePath ?? DEFAULT_CHROMIUM;
  const timeout = opts.timeoutMs ?? 15_000;
  let pw: typeof import('playwright-core');
  try {
    pw = await import('playwright-core');
  } catch {
    throw unavailable('the browser tests need the playwright-core package (npm install playwright-core); it is not installed');
  }
  if (!existsSync(executablePath)) throw unavailable(`Chromium not found at ${executablePath} (install chromium or pass --chromium PATH)`);
  let browser: Browser;
  try {
    browser = await pw.chromium.launch({ executablePath, args: FLAGS });
  } catch (e) {
    throw unavailable(`Chromium at ${executablePath} did not start: ${(e as Error).message.split('\n')[0]}`);
  }
  return {
    async session(capture) {
      const context = await browser.newContext();
      context.setDefaultTimeout(timeout);
      let captured: string | undefined;
      // A route handler sees only the first URL of a redirect chain, and the redirect to the client is the end of
      // one. So each request is fetched here without following redirects, and redirects are followed here (in the
      // context's cookie jar) until a page or a client URI: the client URI is recorded and never requested; a page
      // is handed to the browser as the answer to its request.
      await context.route('**/*', async (route) => {
        const url = route.request().url();
        const captures = (u: string) => capture.some((p) => u.startsWith(p));
        const answer = () => route.fulfill({ status: 200, contentType: 'text/plain', body: 'captured by keyward conformance' });
        if (captures(url)) {
          captured = url;
          return answer();
        }
        try {
          let res = await route.fetch({ maxRedirects: 0 });
          for (let hops = 0; res.status() >= 300 && res.status() < 400 && res.headers()['location'] && hops < 20; hops++) {
            const next = new URL(res.headers()['location']!, res.url()).href;
            if (captures(next)) {
              captured = next;
              return answer();
            }
            res = await context.request.get(next, { maxRedirects: 0 });
          }
          await route.fulfill({ response: res });
        } catch {
          // The issuer went away mid-request: the page sees what a browser would.
          await route.abort('connectionrefused').catch(() => {});
        }
      });
      const page = await context.newPage();
      return pageSession(context, page, () => captured, timeout);
    },
    close: () => browser.close(),
  };
}

function pageSession(context: BrowserContext, page: Page, captured: () => string | undefined, timeout: number): BrowserSession {
  /** Runs an action that navigates and waits until the page has loaded where it ended up. */
  const navigate = async (action: () => Promise<unknown>) => {
    await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout }), action()]);
    return page.url();
  };
  const submitOf = (field: string) => page.locator(`form:has(${field})`).first().locator(SELECTORS.submit).first();
  return {
    async open(url) {
      await page.goto(url, { waitUntil: 'load', timeout });
      return page.url();
    },
    async signIn(username, password) {
      await page.locator(SELECTORS.username).first().fill(username);
      await page.locator(SELECTORS.password).first().fill(password);
      return navigate(() => submitOf(SELECTORS.password).click());
    },
    async totpSecret() {
      const el = page.locator(SELECTORS.totpSecret).first();
      if ((await el.count()) === 0) return undefined;
      return (await el.textContent())?.replace(/\s+/g, '') || undefined;
    },
    async asksForCode() {
      return (await page.locator(SELECTORS.otp).count()) > 0;
    },
    async submitCode(code) {
      await page.locator(SELECTORS.otp).first().fill(code);
      let at = await navigate(() => submitOf(SELECTORS.otp).click());
      // Keyward shows new recovery codes once after enrolment and asks to confirm they were saved.
      if (!captured() && (await page.locator(SELECTORS.enrolmentDone).count()) > 0) {
        await page.locator(SELECTORS.enrolmentDone).first().check();
        at = await navigate(() => submitOf(SELECTORS.enrolmentDone).click());
      }
      return at;
    },
    async confirmLogout() {
      if ((await page.locator(SELECTORS.logout).count()) === 0) return page.url();
      return navigate(() => page.locator(SELECTORS.logout).first().click());
    },
    captured,
    close: () => context.close(),
  };
}
