// KeyCape §13: every event type is emitted, and every event carries every §13.3 field that applies to it. The field
// list is the specification's, written out here; which fields apply to which event type is the table below.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { applyRealmFile, parseRealmFile } from '../../src/idp/realm-file.ts';
import { migrateIdp } from '../../src/idp/store/migrations.ts';
import { emitMigration, IDP_EVENT_NAMES, IdpTelemetry } from '../../src/idp/telemetry.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { Agent, formAction, hidden } from '../../harness/browser.ts';
import { freePort, REALM_YAML, SECRETS } from './support/env.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';
import { idpSettings } from '../../src/idp/config.ts';

/** KeyCape specification v0.1, §13.3 "Minimum telemetry fields", in order, as the events name them. */
const SPEC_FIELDS = {
  timestamp: 'timestamp',
  environment: 'environment',
  'deployment mode': 'deployment_mode',
  'client ID': 'client_id',
  endpoint: 'endpoint',
  'feature category': 'feature_category',
  'result status': 'result',
  'error class if applicable': 'error_class',
  'requested scopes': 'requested_scopes',
  'requested grant type': 'grant_type',
  'correlation ID / trace ID': 'correlation_id',
} as const;
type Field = (typeof SPEC_FIELDS)[keyof typeof SPEC_FIELDS];

/** Fields every event carries: when, where, what, how it ended, and the request it belongs to. */
const ALWAYS: Field[] = ['timestamp', 'environment', 'deployment_mode', 'endpoint', 'feature_category', 'result', 'correlation_id'];
/** What else applies per event type (error_class besides: whenever the result is not a success). */
const APPLIES: Record<(typeof IDP_EVENT_NAMES)[number], Field[]> = {
  flow_start: ['client_id', 'requested_scopes', 'grant_type'],
  token_issued: ['client_id', 'requested_scopes', 'grant_type'],
  authentication_failed: ['client_id', 'requested_scopes', 'grant_type'],
  // Refusals name the client whenever the request named one (every request below does); scopes and grant type are
  // checked per request below, where the request carried them.
  unsupported_request: ['client_id'],
  invalid_redirect_or_client: ['client_id'],
  invalid_request: ['client_id'],
  logout: ['client_id'],
  admin_unsupported: [],
  break_glass: ['client_id', 'requested_scopes', 'grant_type'],
  migration: [],
};

type Event = Record<string, unknown> & { event: string; result: string };

function checkFields(e: Event): void {
  const wanted = new Set<Field>([...ALWAYS, ...(APPLIES[e.event as keyof typeof APPLIES] ?? assert.fail(`unknown event type ${e.event}`))]);
  if (e.result !== 'success') wanted.add('error_class');
  for (const f of wanted) {
    const v = e[f];
    assert.ok(typeof v === 'string' && v.length > 0, `${e.event} (${String(e['endpoint'])}) lacks ${f}: ${JSON.stringify(e)}`);
  }
  if (e.result === 'success') assert.equal(e['error_class'], undefined, `a success has no error class: ${JSON.stringify(e)}`);
  for (const f of Object.values(SPEC_FIELDS)) if (!wanted.has(f) && e[f] !== undefined) assert.equal(typeof e[f], 'string', `${f} of ${e.event}`);
}

describe('idp telemetry per KeyCape §13.3', () => {
  let t: TestKeyward;
  let base: string;
  let issuer: string;
  const events = () => t.logs.map((l) => JSON.parse(l) as Event & { msg?: string }).filter((l) => l.msg === 'idp telemetry');

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    issuer = `${base}/realms/main`;
    t = await startKeyward({
      config: {
        server: { port },
        idp: {
          enabled: true,
          base_url: base,
          environment: 'telemetry-test',
          argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 },
          realms: [{ name: 'main', access_token_resource: 'https://keyward.test/api', custom_scopes: [{ name: 'keys.sign' }], mfa: { required_groups: ['admins'] } }],
        },
      },
    });
    await t.kw.app.listen({ host: '127.0.0.1', port });
    await migrateIdp(t.kw.store.kysely, t.kw.store.dialect);
    await applyRealmFile(idpRepositories(t.kw.store.kysely, t.kw.store.dialect), idpSettings(t.kw.config.idp)!.realms[0]!, parseRealmFile(REALM_YAML.replaceAll('http://127.0.0.1:1/', `${base}/rp/`)), { dryRun: false, env: { ...SECRETS }, argon2: idpSettings(t.kw.config.idp)!.argon2 });
  });
  after(async () => t?.close());

  const form = (url: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body) });
  const basic = (id: string, secret: string) => ({ authorization: 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64') });

  test('every event type is emitted by the flows that should emit it, with every field that applies', async () => {
    const rp = await oidc.discovery(new URL(issuer), 'web', undefined, oidc.ClientSecretBasic(SECRETS.WEB_SECRET), { execute: [oidc.allowInsecureRequests] });
    const authUrl = async (scope: string) => {
      const verifier = oidc.randomPKCECodeVerifier();
      return { verifier, url: oidc.buildAuthorizationUrl(rp, { redirect_uri: `${base}/rp/cb`, scope, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }) };
    };
    // flow_start, then authentication_failed at the login page (a wrong password).
    const agent = new Agent();
    const { url, verifier } = await authUrl('openid profile offline_access');
    const { res } = await agent.follow(url.href, base);
    let page = await res.text();
    assert.equal((await agent.post(new URL(formAction(page), base).href, { csrf: hidden(page, 'csrf'), username: 'alice', password: 'wrong' })).status, 401);
    // token_issued: authorization code, refresh, client credentials.
    page = await (await agent.follow(url.href, base)).res.text();
    const post = await agent.post(new URL(formAction(page), base).href, { csrf: hidden(page, 'csrf'), username: 'alice', password: SECRETS.ALICE_PW });
    const { url: back } = await agent.follow(new URL(post.headers.get('location')!, base).href, base);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back), { pkceCodeVerifier: verifier });
    await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    assert.equal((await form(`${issuer}/protocol/openid-connect/token`, { grant_type: 'client_credentials', scope: 'keys.sign' }, basic('svc', SECRETS.SVC_SECRET))).status, 200);
    // authentication_failed at the TOTP page: bob's group requires a second factor; his code is wrong.
    const bob = new Agent();
    const { res: bobRes } = await bob.follow((await authUrl('openid groups')).url.href, base);
    const bobPage = await bobRes.text();
    const toTotp = await bob.post(new URL(formAction(bobPage), base).href, { csrf: hidden(bobPage, 'csrf'), username: 'bob', password: SECRETS.BOB_PW });
    assert.equal(toTotp.status, 303);
    const totpPage = await (await bob.get(new URL(toTotp.headers.get('location')!, base).href)).text();
    assert.equal((await bob.post(new URL(formAction(totpPage), base).href, { csrf: hidden(totpPage, 'csrf'), code: '000000' })).status, 401);
    // unsupported_request: a grant outside the profile (with scope), an endpoint outside it (naming its client).
    assert.equal((await form(`${issuer}/protocol/openid-connect/token`, { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: 'x', scope: 'openid' }, basic('svc', SECRETS.SVC_SECRET))).status, 400);
    assert.equal((await form(`${issuer}/protocol/openid-connect/auth/device`, { client_id: 'web', scope: 'openid' })).status, 400);
    // invalid_redirect_or_client: a client that does not exist (attributed to the name it gave).
    assert.equal((await form(`${issuer}/protocol/openid-connect/token`, { grant_type: 'client_credentials' }, basic('nobody', 'whatever'))).status, 401);
    // invalid_request: an authorization request without PKCE.
    const noPkce = new URL(`${issuer}/protocol/openid-connect/auth`);
    noPkce.search = new URLSearchParams({ client_id: 'web', redirect_uri: `${base}/rp/cb`, response_type: 'code', scope: 'openid email' }).toString();
    assert.equal((await fetch(noPkce, { redirect: 'manual' })).status, 303);
    // logout.
    const logout = await agent.get(oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: `${base}/rp/bye` }).href);
    const logoutPage = await logout.text();
    assert.equal((await agent.post(new URL(formAction(logoutPage), base).href, { xsrf: hidden(logoutPage, 'xsrf'), logout: 'yes' })).status, 303);
    // admin_unsupported.
    assert.equal((await fetch(`${base}/admin/realms/main/users`)).status, 404);
    // break_glass.
    const bg = await fetch(`${base}/v1/idp/break-glass`, { method: 'POST', headers: { ...t.auth, 'content-type': 'application/json' }, body: JSON.stringify({ incident_id: 'INC-1', authorized_by: 'alice', reason: 'drill' }) });
    assert.equal(bg.status, 200, await bg.clone().text());

    await new Promise((r) => setTimeout(r, 100));
    const all = events();
    for (const e of all) checkFields(e);
    const seen = new Set(all.map((e) => e.event));
    for (const name of IDP_EVENT_NAMES) if (name !== 'migration') assert.ok(seen.has(name), `no ${name} event: ${[...seen].join(', ')}`);
    for (const e of all) assert.equal(e['environment'], 'telemetry-test');

    const one = (pred: (e: Event) => boolean, what: string) => all.find(pred) ?? assert.fail(`no event for ${what}`);
    const totp = one((e) => e.event === 'authentication_failed' && e['endpoint'] === '/login/totp', 'the TOTP failure');
    assert.equal(totp['grant_type'], 'authorization_code');
    assert.equal(totp['requested_scopes'], 'openid groups');
    assert.equal(totp['client_id'], 'web');
    const exchange = one((e) => e['feature_category'] === 'token_exchange', 'token exchange');
    assert.equal(exchange['grant_type'], 'urn:ietf:params:oauth:grant-type:token-exchange');
    assert.equal(exchange['requested_scopes'], 'openid');
    assert.equal(exchange['client_id'], 'svc');
    assert.equal(exchange['error_class'], 'available_in_keycloak_mode_only');
    const device = one((e) => e['feature_category'] === 'device_authorization_grant', 'the device endpoint');
    assert.equal(device['client_id'], 'web', 'demand for an unsupported endpoint is attributed to the client it named');
    assert.equal(device['grant_type'], 'urn:ietf:params:oauth:grant-type:device_code');
    const unknown = one((e) => e.event === 'invalid_redirect_or_client', 'the unknown client');
    assert.equal(unknown['client_id'], 'nobody');
    assert.equal(unknown['client_known'], false);
    const pkce = one((e) => e['feature_category'] === 'pkce_required', 'the missing PKCE');
    assert.equal(pkce['grant_type'], 'authorization_code');
    assert.equal(pkce['requested_scopes'], 'openid email');
    // offline_access needs prompt=consent (OIDC Core §11): it was asked for, not granted, and the code says so.
    const issued = Object.fromEntries(all.filter((e) => e.event === 'token_issued').map((e) => [e['grant_type'], e['requested_scopes']]));
    assert.deepEqual(issued, { authorization_code: 'openid profile', refresh_token: 'openid profile', client_credentials: 'keys.sign' });
    assert.equal(new Set(all.map((e) => e['correlation_id'])).size > 5, true, 'each request its own correlation id');
    // The metric does not take made-up client names as labels.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /keyward_idp_events_total\{[^}]*client_id="\(unknown\)"/);
    assert.ok(!metrics.includes('client_id="nobody"'));
  });

  test('what a caller sends is cut to a bound before it reaches the log, metrics and the audit trail', async () => {
    const lines: Event[] = [];
    const audited: Array<{ metadata?: Record<string, unknown> }> = [];
    const audit = { record: async (e: { metadata?: Record<string, unknown> }) => void audited.push(e), ready: () => true, close: async () => {} };
    const telemetry = new IdpTelemetry({ environment: 'test', deploymentMode: 'lightweight', logger: { info: (o) => lines.push(o as Event), warn: () => {}, error: () => {} }, audit });
    await telemetry.emit({
      event: 'invalid_redirect_or_client', realm: 'main', endpoint: `/${'p'.repeat(5000)}`, feature_category: 'x', result: 'rejected', error_class: 'unsupported_grant_type',
      requested_scopes: 's '.repeat(20_000), grant_type: 'g'.repeat(5000), client_id: 'c'.repeat(5000), correlation_id: 'r1',
    });
    const line = lines[0]!;
    assert.ok(String(line['endpoint']).length <= 257 && String(line['requested_scopes']).length <= 1025 && String(line['grant_type']).length <= 129, JSON.stringify(line).slice(0, 200));
    assert.ok(String(line['client_id']).length <= 128);
    assert.ok(String(line['requested_scopes']).endsWith('…'), 'a cut value says so');
    assert.equal(audited.length, 1);
    assert.ok(JSON.stringify(audited[0]!.metadata).length < 2048);
  });

  test('migration and export operations: the emitter the migration commands call', async () => {
    const lines: Event[] = [];
    const telemetry = new IdpTelemetry({ environment: 'test', deploymentMode: 'lightweight', logger: { info: (o) => lines.push(o as Event), warn: () => {}, error: () => {} } });
    await emitMigration(telemetry, { realm: 'main', operation: 'export', endpoint: 'keyward idp export', result: 'success', correlationId: 'op-1' });
    await emitMigration(telemetry, { realm: 'main', operation: 'import', endpoint: 'keyward idp import', result: 'failure', correlationId: 'op-2', errorClass: 'schema_invalid' });
    assert.equal(lines.length, 2);
    for (const e of lines) checkFields(e);
    assert.equal(lines[0]!.event, 'migration');
    assert.equal(lines[0]!['feature_category'], 'export');
    assert.equal(lines[1]!['error_class'], 'schema_invalid');
  });
});
