import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseRealmFile } from '../../src/idp/realm-file.ts';
import { telemetryReport } from '../../src/idp/telemetry.ts';
import { SECRETS, startEnv, type TestEnv } from './support/env.ts';

const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');

describe('idp: requests outside the profile', () => {
  let env: TestEnv;
  let redirect: string;
  before(async () => {
    env = await startEnv();
    redirect = `${env.base}/rp/cb`;
  });
  after(async () => env?.close());

  async function expectJson(res: Response, status: number, cls: string, feature?: string, error?: string) {
    const text = await res.text();
    assert.equal(res.status, status, text);
    const body = JSON.parse(text);
    assert.equal(body.profile_error_class, cls, text);
    assert.equal(typeof body.error, 'string');
    assert.equal(typeof body.error_description, 'string');
    assert.equal(body.profile_version, '0.2');
    assert.ok(body.correlation_id);
    if (feature) assert.equal(body.feature, feature);
    if (error) assert.equal(body.error, error);
  }
  /** RFC 6749 §4.1.2.1: with a good client and redirect_uri, the error goes back to the client. */
  function expectRedirect(res: Response, error: string) {
    assert.equal(res.status, 303, `expected a redirect with ${error}`);
    const to = new URL(res.headers.get('location')!);
    assert.equal(`${to.origin}${to.pathname}`, redirect);
    assert.equal(to.searchParams.get('error'), error);
    assert.ok(to.searchParams.get('error_description'));
    assert.equal(to.searchParams.get('state'), 'st-1');
    assert.equal(to.searchParams.get('iss'), env.issuer);
  }
  async function expectPage(res: Response, status: number, cls: string) {
    const text = await res.text();
    assert.equal(res.status, status, text);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.ok(text.includes(`data-profile-error-class="${cls}"`), text);
  }
  const token = (params: Record<string, string>, auth = basic('svc', SECRETS.SVC_SECRET)) =>
    fetch(`${env.issuer}/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
    });
  const authorize = (params: Record<string, string>) => {
    const q = new URLSearchParams({
      client_id: 'web',
      redirect_uri: redirect,
      response_type: 'code',
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'st-1',
      ...params,
    });
    return fetch(`${env.issuer}/protocol/openid-connect/auth?${q}`, { redirect: 'manual' });
  };

  describe('feature_not_supported_by_profile', () => {
    it('dynamic client registration', async () => {
      await expectJson(
        await fetch(`${env.issuer}/clients-registrations/openid-connect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }),
        400,
        'feature_not_supported_by_profile',
        'dynamic_client_registration',
      );
    });
    it('device flow (endpoint and grant)', async () => {
      await expectJson(await fetch(`${env.issuer}/protocol/openid-connect/auth/device`, { method: 'POST' }), 400, 'feature_not_supported_by_profile', 'device_authorization_grant');
      await expectJson(await token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'x' }), 400, 'feature_not_supported_by_profile', 'device_authorization_grant');
    });
    it('CIBA', async () => {
      await expectJson(await fetch(`${env.issuer}/protocol/openid-connect/ext/ciba/auth`, { method: 'POST' }), 400, 'feature_not_supported_by_profile', 'ciba');
    });
    it('PAR', async () => {
      await expectJson(await fetch(`${env.issuer}/protocol/openid-connect/ext/par/request`, { method: 'POST' }), 400, 'feature_not_supported_by_profile', 'pushed_authorization_requests');
    });
  });

  describe('available_in_keycloak_mode_only', () => {
    it('token exchange', async () => {
      await expectJson(await token({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: 'x' }), 400, 'available_in_keycloak_mode_only', 'token_exchange', 'unsupported_grant_type');
    });
    it('SAML', async () => {
      await expectPage(await fetch(`${env.issuer}/protocol/saml`), 404, 'available_in_keycloak_mode_only');
    });
    it('identity brokering', async () => {
      await expectPage(await fetch(`${env.issuer}/broker/github/endpoint`), 400, 'available_in_keycloak_mode_only');
      expectRedirect(await authorize({ kc_idp_hint: 'github' }), 'invalid_request');
    });
    it('Keycloak admin REST paths', async () => {
      await expectJson(await fetch(`${env.base}/admin/realms/main/users`), 404, 'available_in_keycloak_mode_only', 'admin_rest_api');
      await expectJson(await fetch(`${env.base}/admin/realms`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }), 404, 'available_in_keycloak_mode_only');
    });
  });

  describe('rejected_for_profile_safety', () => {
    it('implicit and hybrid response types', async () => {
      expectRedirect(await authorize({ response_type: 'token' }), 'unsupported_response_type');
      expectRedirect(await authorize({ response_type: 'code id_token' }), 'unsupported_response_type');
      // An unknown client never gets a redirect: the error stays on our page.
      await expectPage(await authorize({ response_type: 'token', client_id: 'nobody' }), 400, 'rejected_for_profile_safety');
    });
    it('PKCE plain', async () => {
      expectRedirect(await authorize({ code_challenge_method: 'plain', code_challenge: 'a'.repeat(43) }), 'invalid_request');
    });
    it('password grant', async () => {
      await expectJson(await token({ grant_type: 'password', username: 'alice', password: 'x' }), 400, 'rejected_for_profile_safety', 'resource_owner_password_grant');
    });
    it('implicit grant at the token endpoint is unsupported_grant_type (RFC 6749 §5.2)', async () => {
      await expectJson(await token({ grant_type: 'implicit' }), 400, 'rejected_for_profile_safety', 'implicit_grant', 'unsupported_grant_type');
    });
    it('wildcard redirect URIs (request and realm file)', async () => {
      await expectPage(await authorize({ redirect_uri: `${env.base}/rp/*` }), 400, 'rejected_for_profile_safety');
      assert.throws(
        () => parseRealmFile('realm: main\nclients:\n  - { client_id: x, grant_types: [authorization_code], redirect_uris: ["https://*.example.com/cb"], secret_env: X }\n'),
        (e: any) => e.code === 'idp.realm_file_invalid' && /wildcard/.test(e.detail),
      );
    });
  });

  describe('unknown realms and wrong methods', () => {
    it('an unknown realm is problem+json idp.realm_not_found', async () => {
      const r = await fetch(`${env.base}/realms/nope/.well-known/openid-configuration`);
      assert.equal(r.status, 404);
      assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.equal(((await r.json()) as any).code, 'idp.realm_not_found');
    });
    it('a known endpoint with the wrong method is a profile error, not a bare Not Found', async () => {
      await expectJson(await fetch(`${env.issuer}/protocol/openid-connect/token`), 404, 'invalid_profile_usage', 'endpoint');
      await expectJson(await fetch(`${env.issuer}/protocol/openid-connect/certs`, { method: 'POST' }), 404, 'invalid_profile_usage', 'endpoint');
    });
  });

  describe('invalid_profile_usage', () => {
    it('missing PKCE', async () => {
      const q: Record<string, string> = { code_challenge: '' };
      expectRedirect(await authorize(q), 'invalid_request');
    });
    it('unregistered redirect URI', async () => {
      await expectPage(await authorize({ redirect_uri: `${env.base}/rp/other` }), 400, 'invalid_profile_usage');
    });
    it('unknown scope', async () => {
      expectRedirect(await authorize({ scope: 'openid phone' }), 'invalid_scope');
      await expectJson(await token({ grant_type: 'client_credentials', scope: 'keys.destroy' }), 400, 'invalid_profile_usage', 'scope', 'invalid_scope');
    });
    it('grant not allowed for the client', async () => {
      await expectJson(await token({ grant_type: 'client_credentials' }, basic('web', SECRETS.WEB_SECRET)), 400, 'invalid_profile_usage', 'grant_type', 'unauthorized_client');
      await expectJson(await token({ grant_type: 'refresh_token', refresh_token: 'x' }), 400, 'invalid_profile_usage', 'grant_type');
    });
  });

  it('records the demand per client for the telemetry report', async () => {
    await new Promise((r) => setTimeout(r, 50));
    const rows = await telemetryReport(env.db, { realm: 'main' });
    const tx = rows.find((r) => r.feature === 'token_exchange');
    assert.equal(tx?.client_id, 'svc');
    assert.equal(tx?.error_class, 'available_in_keycloak_mode_only');
    const admin = await telemetryReport(env.db, { realm: '-' });
    assert.ok(admin.some((r) => r.feature === 'admin_rest_api'));
    assert.ok(env.audit.events.some((e) => e.event_type === 'idp.admin_unsupported'));
  });
});
