// Keyward's own keys (the identity provider's token signing keys and its secrets key) are not the key API's to
// use: a key user signed in through the login page, an admin holding keyward.*, and the dev service client all get
// a refusal for every operation but reading public keys, so nobody can mint identity-provider tokens.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import pino from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { parseConfig } from '../../src/config/load.ts';
import { applyRealmFile, parseRealmFile } from '../../src/idp/realm-file.ts';
import { createKeyward, type Keyward } from '../../src/app/compose.ts';
import { freePort } from './support/env.ts';
import { CHROMIUM } from './support/pages.ts';
import { skipUnless } from '../support/missing.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';

const SECRETS = { KIM_PW: 'kim password 0123456789', ADA_PW: 'ada password 0123456789', APP_SECRET: 'app-secret-0123456789abcdef' };
const INTERNAL = ['keyward-idp-keyward-es256', 'keyward-idp-keyward-rs256', 'keyward-idp-secrets'];
const SIGNING = new Set(['keyward-idp-keyward-es256', 'keyward-idp-keyward-rs256']);
const B64 = Buffer.from('hello').toString('base64');

/** Every operation of the key API and the SPIRL webhook on one key id: [label, method, path, body]. */
function operations(id: string): Array<[string, 'GET' | 'POST', string, unknown]> {
  const forged = { sub: 'anyone', permissions: ['keyward.*'], aud: 'urn:keyward:key-api', iss: 'x' };
  return [
    ['sign', 'POST', `/v1/keys/${id}/sign`, { message: B64 }],
    ['sign digest', 'POST', `/v1/keys/${id}/sign`, { digest: Buffer.alloc(32).toString('base64'), hash_algorithm: 'SHA-256' }],
    ['jwt', 'POST', `/v1/keys/${id}/jwt`, { payload: forged, typ: 'at+jwt' }],
    ['mac', 'POST', `/v1/keys/${id}/mac`, { message: B64 }],
    ['mac verify', 'POST', `/v1/keys/${id}/mac/verify`, { message: B64, mac: B64 }],
    ['encrypt', 'POST', `/v1/keys/${id}/encrypt`, { plaintext: B64 }],
    ['decrypt', 'POST', `/v1/keys/${id}/decrypt`, { ciphertext: Buffer.alloc(40, 1).toString('base64') }],
    ['datakey', 'POST', `/v1/keys/${id}/datakey`, { bytes: 32 }],
    ['rotate', 'POST', `/v1/keys/${id}/rotate`, undefined],
    ['disable', 'POST', `/v1/keys/${id}/disable`, undefined],
    ['enable', 'POST', `/v1/keys/${id}/enable`, undefined],
    ['release', 'POST', `/v1/keys/${id}/release`, undefined],
    ['cancel-release', 'POST', `/v1/keys/${id}/cancel-release`, undefined],
    ['destroy', 'POST', `/v1/keys/${id}/destroy`, undefined],
    ['metadata', 'GET', `/v1/keys/${id}`, undefined],
    ['create overwrite', 'POST', '/v1/keys', { key_id: id, key_type: 'EC-P256', overwrite: true }],
    ['import overwrite', 'POST', '/v1/keys/import', { key_id: id, key_type: 'AES-256-GCM', key_material: Buffer.alloc(32, 7).toString('base64'), overwrite: true }],
    ['spirl sign', 'POST', `/spirl/keys/${id}/sign`, { digest: Buffer.alloc(32).toString('base64'), hash_algorithm: 'SHA-256' }],
    ['spirl release', 'POST', `/spirl/keys/${id}/release`, undefined],
  ];
}

describe('Keyward\'s own keys through the key API', { skip: skipUnless(existsSync(CHROMIUM), 'the system key tests', `${CHROMIUM} not installed`) }, () => {
  let kw: Keyward;
  let base: string;
  let dir: string;
  let browser: Browser;
  const tokens: Record<string, string> = {};

  const api = (method: 'GET' | 'POST', path: string, token: string, body?: unknown) =>
    fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  /** Signs in through the real login page in Chromium and returns an at+jwt for the key API. */
  async function signIn(username: string, password: string): Promise<string> {
    const config = await oidc.discovery(new URL(`${base}/realms/keyward`), 'app', undefined, oidc.ClientSecretBasic(SECRETS.APP_SECRET), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `${base}/rp/cb`,
      scope: 'openid offline_access',
      prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const page = await browser.newPage();
    try {
      await page.goto(url.href);
      await page.getByLabel('Username').fill(username);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/rp\/cb\?/);
      const first = await oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier });
      // No resource indicator, as a Keycloak client sends none: the token is still the key API's at+jwt.
      assert.equal(decodeProtectedHeader(first.access_token).typ, 'at+jwt');
      return first.access_token;
    } finally {
      await page.close();
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-system-keys-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const { generateSigningKeyFile } = await import('../../src/audit/keys.ts');
    await generateSigningKeyFile(join(dir, 'audit.pem'));
    kw = await createKeyward(parseConfig({
      mode: 'dev',
      server: { port },
      storage: { type: 'sqlite', path: join(dir, 'kw.db') },
      seal: { dev_unseal_file: join(dir, 'unseal.json') },
      audit: { signing_key_path: join(dir, 'audit.pem'), sinks: [{ type: 'file', path: join(dir, 'audit.log') }] },
    }), { logger: pino({ level: 'silent' }) });
    await kw.app.listen({ host: '127.0.0.1', port });
    const realm = kw.config.idp ?? undefined;
    assert.equal(realm, undefined, 'dev mode runs its own realm');
    // The dev realm gains a key user, an admin (keyward.*) and a web application.
    const { devIdpConfig } = await import('../../src/idp/dev.ts');
    const realmConfig = devIdpConfig(base, 'keyward').realms[0]!;
    await applyRealmFile(idpRepositories(kw.store.kysely, kw.store.dialect), realmConfig, parseRealmFile(`
realm: keyward
roles: [{ name: key-user }, { name: admin }]
users:
  - { id: u-kim, username: kim, roles: [key-user], password_env: KIM_PW }
  - { id: u-ada, username: ada, roles: [admin], password_env: ADA_PW }
clients:
  - client_id: app
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, offline_access]
    redirect_uris: [${base}/rp/cb]
    secret_env: APP_SECRET
`), { dryRun: false, env: { ...SECRETS }, argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    tokens['key user (login page)'] = await signIn('kim', SECRETS.KIM_PW);
    tokens['admin with keyward.* (login page)'] = await signIn('ada', SECRETS.ADA_PW);
    const client = kw.devClient!;
    const cc = await fetch(client.tokenUrl, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(`${client.clientId}:${client.secret}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    tokens['dev-service client'] = ((await cc.json()) as { access_token: string }).access_token;
  });
  after(async () => {
    await browser?.close();
    await kw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the signed-in users carry the grants the realm gives them', () => {
    assert.ok((decodeJwt(tokens['key user (login page)']!)['permissions'] as string[]).includes('keyward.key.*.sign'));
    assert.deepEqual(decodeJwt(tokens['admin with keyward.* (login page)']!)['permissions'], ['keyward.*']);
  });

  test('every operation on every internal key is refused, whatever the caller\'s grants', async () => {
    const before = await Promise.all(INTERNAL.map((id) => kw.keys.describe(id)));
    for (const [who, token] of Object.entries(tokens)) {
      for (const id of INTERNAL) {
        for (const [label, method, path, body] of operations(id)) {
          const res = await api(method, path, token, body);
          const text = await res.text();
          assert.ok(res.status === 403 || (label.startsWith('spirl') && res.status === 404), `${who}: ${label} on ${id} answered ${res.status} ${text}`);
          assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
          const code = (JSON.parse(text) as { code: string }).code;
          // A caller whose grants cover the operation is stopped by the key service itself.
          if (who.startsWith('admin') && label !== 'rotate') assert.equal(code, 'key.system_key', `${who}: ${label} on ${id}`);
          if (label === 'rotate') assert.equal(code, 'auth.scope_denied', 'keyward.* does not grant rotating system keys');
        }
      }
    }
    // Nothing changed: same state, same versions.
    const now = await Promise.all(INTERNAL.map((id) => kw.keys.describe(id)));
    for (let i = 0; i < INTERNAL.length; i++) {
      assert.equal(now[i]!.record.state, 'enabled');
      assert.equal(now[i]!.record.currentVersion, before[i]!.record.currentVersion);
      assert.equal(now[i]!.record.revision, before[i]!.record.revision);
    }
  });

  test('the reserved prefix cannot be claimed: no key named keyward-… can be created or imported from outside', async () => {
    const admin = tokens['admin with keyward.* (login page)']!;
    for (const [path, body] of [
      ['/v1/keys', { key_id: 'keyward-idp-next-es256', key_type: 'EC-P256' }],
      ['/v1/keys/import', { key_id: 'keyward-anything', key_type: 'HMAC-SHA256', key_material: Buffer.alloc(32, 1).toString('base64') }],
      ['/spirl/keys', { key_id: 'keyward-idp-next-rs256', key_type: 'RSA-2048' }],
    ] as const) {
      const res = await api('POST', path, admin, body);
      assert.equal(res.status, 403, `${path}: ${await res.clone().text()}`);
      assert.equal(((await res.json()) as { code: string }).code, 'key.system_key');
    }
    assert.equal(await kw.keys.peek('keyward-idp-next-es256'), undefined);
  });

  test('public keys stay readable, and verification works, for the signing keys', async () => {
    const kim = tokens['key user (login page)']!;
    for (const id of SIGNING) {
      assert.equal((await api('GET', `/v1/keys/${id}/public-key`, kim)).status, 200);
      const jwks = (await (await api('GET', `/v1/keys/${id}/jwks`, kim)).json()) as { keys: unknown[] };
      assert.equal(jwks.keys.length, 1);
      const v = await api('POST', `/v1/keys/${id}/verify`, kim, { message: B64, signature: Buffer.alloc(64).toString('base64') });
      assert.equal(v.status, 200);
      assert.equal(((await v.json()) as { valid: boolean }).valid, false);
    }
    const listed = (await (await api('GET', '/v1/keys', kim)).json()) as { keys: Array<{ key_id: string }> };
    assert.deepEqual(listed.keys.filter((k) => k.key_id.startsWith('keyward-')), [], 'internal keys are not listed');
  });

  test('only the explicit permission rotates them (the bootstrap token carries it); the provider keeps issuing', async () => {
    const res = await api('POST', '/v1/keys/keyward-idp-keyward-es256/rotate', kw.devToken!);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { current_version: number }).current_version, 2);
    // Even the bootstrap token cannot sign with it.
    const sign = await api('POST', '/v1/keys/keyward-idp-keyward-es256/jwt', kw.devToken!, { payload: { sub: 'x' } });
    assert.equal(sign.status, 403);
    assert.equal(((await sign.json()) as { code: string }).code, 'key.system_key');
  });

  test('every refusal is in the audit trail with its code', async () => {
    await kw.audit.flush();
    const events = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { error_code?: string; outcome: string; principal?: { id?: string }; resource?: { id?: string } });
    const refused = events.filter((e) => e.error_code === 'key.system_key');
    assert.ok(refused.every((e) => e.resource?.id?.startsWith('keyward-') && e.outcome === 'denied'));
    // The admin's: every operation but rotate (18) on each internal key, plus the three reserved ids it tried to claim.
    const byAdmin = refused.filter((e) => e.principal?.id === 'u-ada');
    assert.equal(byAdmin.length, 18 * INTERNAL.length + 3);
  });
});
