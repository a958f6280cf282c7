// A Keyward serving the canonical fixture tenant (realm acme) for the replacement suite, and the suite's target
// for it: the portal client for the sign-in, acme-cli (mfa: required) for the MFA policy.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { applyRealmDocument } from '../../src/idp/realm-document.ts';
import { migrateIdp } from '../../src/idp/store/migrations.ts';
import { DEFAULT_CHROMIUM, launchBrowser, type BrowserDriver } from '../../src/conformance/browser.ts';
import type { ConformanceTarget } from '../../src/conformance/suite.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { freePort } from '../../harness/net.ts';
import { skipUnless } from '../support/missing.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';
import { idpSettings } from '../../src/idp/config.ts';

export const TENANT_PATH = 'fixtures/identity/tenant.json';
export const tenant = () => JSON.parse(readFileSync(TENANT_PATH, 'utf8')) as Record<string, any>;

/** The secrets the fixture's `{env: …}` references name. */
export const SECRETS: Record<string, string> = {
  ACME_ALICE_PASSWORD: 'alice conformance password 1',
  ACME_BOB_PASSWORD: 'bob conformance password 1',
  ACME_DAVE_PASSWORD: 'dave conformance password 1',
  ACME_BACKUP_SVC_PASSWORD: 'backup conformance password 1',
  ACME_PORTAL_SECRET: 'portal-conformance-secret-0123456789',
  ACME_BILLING_SECRET: 'billing-conformance-secret-0123456789',
};

export const CHROMIUM_SKIP = skipUnless(existsSync(DEFAULT_CHROMIUM), 'the conformance scenarios', 'chromium not installed', 'apt-get install chromium');

export interface FixtureKeyward {
  t: TestKeyward;
  base: string;
  issuer: string;
  close(): Promise<void>;
}

/** The realm settings every scenario's Keyward shares (what the canonical document does not say). */
export function acmeRealm(extra: Record<string, unknown> = {}) {
  return {
    name: 'acme',
    display_name: 'Acme',
    access_token_resource: 'https://keys.acme.example/api',
    public_clients_allowed: true,
    custom_scopes: [{ name: 'keys.sign', description: "sign with the tenant's keys" }],
    ...extra,
  };
}

/** A full Keyward (store, seal, audit, /metrics) whose realm acme is provisioned by `provision`. */
export async function startFixtureKeyward(provision: (k: FixtureKeyward) => Promise<void>, realm: Record<string, unknown> = acmeRealm()): Promise<FixtureKeyward> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const t = await startKeyward({
    config: {
      server: { port },
      idp: { enabled: true, base_url: base, environment: 'dev', argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 }, realms: [realm] },
    },
  });
  await t.kw.app.listen({ host: '127.0.0.1', port });
  await migrateIdp(t.kw.store.kysely, t.kw.store.dialect);
  const k: FixtureKeyward = { t, base, issuer: `${base}/realms/acme`, close: () => t.close() };
  try {
    await provision(k);
  } catch (e) {
    await k.close();
    throw e;
  }
  return k;
}

/** Scenario A's provisioning: the canonical document into Keyward's built-in directory. */
export async function provisionDocument(k: FixtureKeyward, doc: unknown = tenant()): Promise<void> {
  const r = await applyRealmDocument(idpRepositories(k.t.kw.store.kysely, k.t.kw.store.dialect), idpSettings(k.t.kw.config.idp)!, doc, TENANT_PATH, { dryRun: false, env: SECRETS });
  assert.ok(r.result, JSON.stringify(r.findings));
}

export function fixtureTarget(issuer: string, opts: { document?: boolean } = {}): ConformanceTarget {
  return {
    issuer,
    client: {
      id: 'portal',
      secret: SECRETS.ACME_PORTAL_SECRET,
      auth: 'client_secret_basic',
      redirectUri: 'http://127.0.0.1:8400/oidc/callback',
      postLogoutRedirectUri: 'https://portal.acme.example/',
    },
    user: { username: 'dave.o-neill', password: SECRETS.ACME_DAVE_PASSWORD! },
    scope: 'openid profile email groups',
    mfaClient: { id: 'acme-cli', auth: 'none', redirectUri: 'http://127.0.0.1:8765/callback' },
    mfaUser: { username: 'dave.o-neill', password: SECRETS.ACME_DAVE_PASSWORD! },
    ...(opts.document === false ? {} : { document: { data: tenant(), source: TENANT_PATH } }),
  };
}

let shared: Promise<BrowserDriver> | undefined;
/** One Chromium for a test file; closed by `closeBrowser`. */
export const browser = () => (shared ??= launchBrowser());
export async function closeBrowser(): Promise<void> {
  if (shared) await (await shared).close();
  shared = undefined;
}
