// Keycloak's own JavaScript adapter against Keyward, in Chromium: a single-page application (a public client with
// PKCE S256, in a realm that allows public clients) logs in through the real login page, refreshes, reads its realm
// roles, calls the key API, reads userinfo and logs out. Its configuration is a Keycloak one with Keyward's base URL;
// the only init option it needs besides is responseMode: 'query' (the profile serves the query response mode only).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import pino from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseConfig } from '../../src/config/load.ts';
import { applyRealmFile, parseRealmFile } from '../../src/idp/realm-file.ts';
import { createKeyward, type Keyward } from '../../src/app/compose.ts';
import { freePort } from './support/env.ts';
import { CHROMIUM } from './support/pages.ts';
import { skipUnless } from '../support/missing.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';
import { idpSettings } from '../../src/idp/config.ts';

const ALICE_PW = 'alice password 0123456789';
const ADAPTER = readFileSync(createRequire(import.meta.url).resolve('keycloak-js'), 'utf8');

/** The application: a page, the adapter's browser bundle, and its API calls passed on to the key API (same origin). */
function spaPage(keywardBase: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SPA</title></head>
<body><main id="app">loading</main>
<script type="module">
import Keycloak from '/keycloak.js';
// A Keycloak application's configuration, with Keyward's base URL.
const keycloak = new Keycloak({ url: ${JSON.stringify(keywardBase)}, realm: 'apps', clientId: 'spa' });
window.keycloak = keycloak;
keycloak.init({ onLoad: 'login-required', pkceMethod: 'S256', responseMode: 'query' }).then(
  (authenticated) => { window.authenticated = authenticated; document.getElementById('app').textContent = 'signed in'; },
  (e) => { window.initError = e && (e.message || JSON.stringify(e)); },
);
</script></body></html>`;
}

describe('keycloak-js against Keyward in Chromium', { timeout: 180_000, skip: skipUnless(existsSync(CHROMIUM), 'the keycloak-js tests', `${CHROMIUM} not installed`) }, () => {
  let kw: Keyward;
  let dir: string;
  let base: string;
  let spa: Server;
  let spaOrigin: string;
  let browser: Browser;
  const requested: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-keycloak-js-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const spaPort = await freePort();
    spaOrigin = `http://127.0.0.1:${spaPort}`;
    const { generateSigningKeyFile } = await import('../../src/audit/keys.ts');
    await generateSigningKeyFile(join(dir, 'audit.pem'));
    const issuer = `${base}/realms/apps`;
    kw = await createKeyward(parseConfig({
      mode: 'dev',
      server: { port },
      storage: { type: 'sqlite', path: join(dir, 'kw.db') },
      seal: { dev_unseal_file: join(dir, 'unseal.json') },
      audit: { signing_key_path: join(dir, 'audit.pem'), sinks: [{ type: 'file', path: join(dir, 'audit.log') }] },
      idp: {
        enabled: true,
        base_url: base,
        environment: 'test',
        argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 },
        realms: [{ name: 'apps', public_clients_allowed: true, role_permissions: { reader: ['keyward.keys.list'] } }],
      },
      // The key API trusts the realm's tokens (audience: the realm's default, the key API's).
      authn: { type: 'jwt', issuer, audience: 'urn:keyward:key-api', jwks_url: `${issuer}/protocol/openid-connect/certs`, algorithms: ['ES256', 'RS256'], jwks_fetch_at_start: false, jwks_min_refresh_interval: 1 },
    }), { logger: pino({ level: 'silent' }) });
    await kw.app.listen({ host: '127.0.0.1', port });
    await applyRealmFile(idpRepositories(kw.store.kysely, kw.store.dialect), idpSettings(kw.config.idp)!.realms[0]!, parseRealmFile(`
realm: apps
roles: [{ name: reader }]
users:
  - { id: u-alice, username: alice, roles: [reader], password_env: ALICE_PW }
clients:
  - client_id: spa
    name: Single-page app
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, profile]
    auth_method: none
    redirect_uris: [${spaOrigin}/app/]
    post_logout_redirect_uris: [${spaOrigin}/app/]
`), { dryRun: false, env: { ALICE_PW }, argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 } });

    spa = createServer((req, res) => {
      const url = req.url ?? '/';
      if (url.startsWith('/app/')) return res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(spaPage(base));
      if (url === '/keycloak.js') return res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(ADAPTER);
      if (url.startsWith('/v1/')) {
        // The application's backend passes API calls on (the key API sends no CORS headers).
        void fetch(base + url, { headers: { authorization: req.headers.authorization ?? '' } }).then(async (r) =>
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await r.arrayBuffer())),
        );
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => spa.listen(spaPort, '127.0.0.1', r));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    if (spa) await new Promise((r) => spa.close(r));
    await kw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let page: Page;
  // The adapter waits without end for some answers: a test that would hang fails instead.
  const kc = <T>(fn: string) =>
    Promise.race([
      page.evaluate(`(async () => { const keycloak = window.keycloak; return ${fn}; })()`) as Promise<T>,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`keycloak-js did not answer: ${fn}`)), 15_000).unref()),
    ]);

  it('logs in through the login page, with PKCE S256 and the adapter\'s third-party cookie check answered', async () => {
    page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    page.on('request', (r) => requested.push(r.url()));
    await page.goto(`${spaOrigin}/app/`);
    await page.waitForURL(/\/realms\/apps\/login\//);
    const auth = new URL(requested.find((u) => u.includes('/protocol/openid-connect/auth?'))!);
    assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(auth.searchParams.get('response_mode'), 'query');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ALICE_PW);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${spaOrigin}/app/`);
    await page.waitForFunction('window.authenticated === true || window.initError !== undefined');
    assert.equal(await page.evaluate('window.initError'), undefined);
    assert.equal(await kc('keycloak.authenticated'), true);
    assert.equal(await kc('keycloak.tokenParsed.preferred_username'), 'alice');
    assert.equal(decodeProtectedHeader(await kc<string>('keycloak.token')).typ, 'at+jwt');
    // The adapter asked whether third-party cookies work, was told no, and so never loads the login-status iframe.
    assert.ok(requested.some((u) => u.endsWith('/protocol/openid-connect/3p-cookies/step1.html')));
    assert.ok(!requested.some((u) => u.includes('login-status-iframe.html')));
  });

  it('reads the realm roles from the token (hasRealmRole)', async () => {
    assert.equal(await kc('keycloak.hasRealmRole("reader")'), true);
    assert.equal(await kc('keycloak.hasRealmRole("admin")'), false);
    assert.deepEqual(await kc('keycloak.realmAccess'), { roles: ['reader'] });
  });

  it('refreshes the token (updateToken) and the new one works', async () => {
    const before = await kc<string>('keycloak.token');
    const beforeRefresh = await kc<string>('keycloak.refreshToken');
    assert.equal(await kc('keycloak.updateToken(-1)'), true);
    assert.notEqual(await kc<string>('keycloak.token'), before);
    assert.notEqual(await kc<string>('keycloak.refreshToken'), beforeRefresh, 'refresh tokens rotate');
    assert.equal(await kc('keycloak.tokenParsed.sub'), 'u-alice');
  });

  it('calls the key API with the token', async () => {
    const status = await kc<number>(`fetch('/v1/keys', { headers: { authorization: 'Bearer ' + keycloak.token } }).then((r) => r.status)`);
    assert.equal(status, 200);
    const refused = await kc<number>(`fetch('/v1/keys', { headers: { authorization: 'Bearer ' + keycloak.token.slice(0, -4) + 'AAAA' } }).then((r) => r.status)`);
    assert.equal(refused, 401);
  });

  it('reads userinfo with the token (loadUserInfo)', async () => {
    const info = await kc<Record<string, unknown>>('keycloak.loadUserInfo()');
    assert.equal(info['sub'], 'u-alice');
    assert.equal(info['preferred_username'], 'alice');
  });

  it('logs out (the confirmation is Keyward\'s) and is asked to sign in again', async () => {
    await Promise.all([page.waitForURL(/\/protocol\/openid-connect\/logout\?/), kc('keycloak.logout()')]);
    const logout = new URL(page.url());
    assert.ok(logout.searchParams.get('id_token_hint'));
    assert.equal(logout.searchParams.get('post_logout_redirect_uri'), `${spaOrigin}/app/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    // Back in the application, which (login-required) is sent to the login page: the session is gone.
    await page.waitForURL(/\/realms\/apps\/login\//);
    await page.close();
  });
});
