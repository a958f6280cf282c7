import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { parseRealmFile } from '../../src/idp/realm-file.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';
import { SECRETS, startEnv, type TestEnv } from './support/env.ts';
import { assertProblem, fetched } from '../support/problem.ts';

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
  /**
   * RFC 6749 §4.1.2.1: with a good client and redirect_uri, the error goes back to the client, with the profile's
   * class and feature as extension parameters; in the fragment when that is where the client expects its answer.
   */
  function expectRedirect(res: Response, error: string, cls: string, feature: string, where: 'query' | 'fragment' = 'query') {
    assert.equal(res.status, 303, `expected a redirect with ${error}`);
    const to = new URL(res.headers.get('location')!);
    assert.equal(`${to.origin}${to.pathname}`, redirect);
    const p = where === 'query' ? to.searchParams : new URLSearchParams(to.hash.slice(1));
    if (where === 'fragment') assert.equal(to.searchParams.get('error'), null, 'not in the query');
    assert.equal(p.get('error'), error);
    assert.ok(p.get('error_description'));
    assert.equal(p.get('state'), 'st-1');
    assert.equal(p.get('iss'), env.issuer);
    assert.equal(p.get('profile_error_class'), cls);
    assert.equal(p.get('feature'), feature);
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
    it('claims, request objects, request_uri and response modes other than query', async () => {
      expectRedirect(await authorize({ claims: '{"id_token":{"email":null}}' }), 'invalid_request', 'feature_not_supported_by_profile', 'claims_parameter');
      expectRedirect(await authorize({ request: 'eyJhbGciOiJub25lIn0.e30.' }), 'request_not_supported', 'feature_not_supported_by_profile', 'request_objects');
      expectRedirect(await authorize({ request_uri: 'urn:ietf:params:oauth:request_uri:abc' }), 'request_uri_not_supported', 'feature_not_supported_by_profile', 'request_uri');
      // keycloak-js asks for the fragment by default: it finds the error there (and says how to fix it).
      const fragment = await authorize({ response_mode: 'fragment' });
      expectRedirect(fragment, 'invalid_request', 'feature_not_supported_by_profile', 'response_mode', 'fragment');
      assert.match(new URLSearchParams(new URL(fragment.headers.get('location')!).hash.slice(1)).get('error_description')!, /responseMode: "query"/);
      expectRedirect(await authorize({ response_mode: 'form_post' }), 'invalid_request', 'feature_not_supported_by_profile', 'response_mode');
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
      await expectJson(await fetch(`${env.issuer}/protocol/saml/descriptor`, { headers: { accept: 'application/json' } }), 404, 'available_in_keycloak_mode_only', 'saml');
    });
    it('identity brokering', async () => {
      await expectPage(await fetch(`${env.issuer}/broker/github/endpoint`), 400, 'available_in_keycloak_mode_only');
      await expectJson(await fetch(`${env.issuer}/broker/github/endpoint`, { headers: { accept: 'application/json' } }), 400, 'available_in_keycloak_mode_only', 'identity_brokering');
      expectRedirect(await authorize({ kc_idp_hint: 'github' }), 'invalid_request', 'available_in_keycloak_mode_only', 'identity_brokering');
    });
    it("Keycloak's own pages: realm info, account console, self-registration, login-status iframe, other 3p-cookie pages", async () => {
      await expectJson(await fetch(env.issuer), 404, 'available_in_keycloak_mode_only', 'realm_info');
      await expectJson(await fetch(`${env.issuer}/`), 404, 'available_in_keycloak_mode_only', 'realm_info');
      await expectPage(await fetch(`${env.issuer}/account`), 404, 'available_in_keycloak_mode_only');
      await expectJson(await fetch(`${env.issuer}/account/applications`, { headers: { accept: 'application/json' } }), 404, 'available_in_keycloak_mode_only', 'account_console');
      await expectPage(await fetch(`${env.issuer}/protocol/openid-connect/registrations?client_id=web`), 404, 'available_in_keycloak_mode_only');
      await expectPage(await fetch(`${env.issuer}/protocol/openid-connect/login-status-iframe.html`), 404, 'available_in_keycloak_mode_only');
      await expectPage(await fetch(`${env.issuer}/protocol/openid-connect/3p-cookies/step2.html`), 404, 'available_in_keycloak_mode_only');
    });
    it("keycloak-js's third-party cookie check is answered: 'unsupported', from a frameable page whose one script the CSP allows", async () => {
      const res = await fetch(`${env.issuer}/protocol/openid-connect/3p-cookies/step1.html`);
      const html = await res.text();
      assert.equal(res.status, 200);
      const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
      assert.match(script, /postMessage\("unsupported"/);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.ok(csp.includes(`'sha256-${createHash('sha256').update(script).digest('base64')}'`), csp);
      assert.match(csp, /frame-ancestors \*/);
      assert.equal(res.headers.get('x-frame-options'), null);
      assert.equal((await fetch(`${env.base}/realms/nope/protocol/openid-connect/3p-cookies/step1.html`)).status, 404);
    });
    it('Keycloak admin REST paths', async () => {
      await expectJson(await fetch(`${env.base}/admin/realms/main/users`), 404, 'available_in_keycloak_mode_only', 'admin_rest_api');
      await expectJson(await fetch(`${env.base}/admin/realms`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }), 404, 'available_in_keycloak_mode_only');
    });
  });

  describe('rejected_for_profile_safety', () => {
    it('implicit and hybrid response types', async () => {
      expectRedirect(await authorize({ response_type: 'token' }), 'unsupported_response_type', 'rejected_for_profile_safety', 'implicit_or_hybrid_response_type', 'fragment');
      expectRedirect(await authorize({ response_type: 'code id_token' }), 'unsupported_response_type', 'rejected_for_profile_safety', 'implicit_or_hybrid_response_type', 'fragment');
      // An unknown client never gets a redirect: the error stays on our page.
      await expectPage(await authorize({ response_type: 'token', client_id: 'nobody' }), 400, 'rejected_for_profile_safety');
    });
    it('PKCE plain', async () => {
      expectRedirect(await authorize({ code_challenge_method: 'plain', code_challenge: 'a'.repeat(43) }), 'invalid_request', 'rejected_for_profile_safety', 'pkce_plain');
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
      assertProblem(await fetched(await fetch(`${env.base}/realms/nope/.well-known/openid-configuration`)), 404, 'idp.realm_not_found');
    });
    it('an unknown realm at the token endpoint is an OAuth error an OAuth client can read', async () => {
      const r = await fetch(`${env.base}/realms/nope/protocol/openid-connect/token`, {
        method: 'POST',
        headers: { authorization: basic('svc', SECRETS.SVC_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      await expectJson(r, 404, 'invalid_profile_usage', 'realm', 'invalid_request');
      assert.equal(r.headers.get('content-type')?.split(';')[0], 'application/json', 'OAuth clients read application/json only');
    });
    it('a known endpoint with the wrong method is a profile error, not a bare Not Found', async () => {
      await expectJson(await fetch(`${env.issuer}/protocol/openid-connect/token`), 404, 'invalid_profile_usage', 'endpoint');
      await expectJson(await fetch(`${env.issuer}/protocol/openid-connect/certs`, { method: 'POST' }), 404, 'invalid_profile_usage', 'endpoint');
    });
  });

  describe('invalid_profile_usage', () => {
    it('missing PKCE', async () => {
      const q: Record<string, string> = { code_challenge: '' };
      expectRedirect(await authorize(q), 'invalid_request', 'invalid_profile_usage', 'pkce_required');
    });
    it('unregistered redirect URI', async () => {
      await expectPage(await authorize({ redirect_uri: `${env.base}/rp/other` }), 400, 'invalid_profile_usage');
    });
    it('unknown scope', async () => {
      expectRedirect(await authorize({ scope: 'openid phone' }), 'invalid_scope', 'invalid_profile_usage', 'scope');
      await expectJson(await token({ grant_type: 'client_credentials', scope: 'keys.destroy' }), 400, 'invalid_profile_usage', 'scope', 'invalid_scope');
    });
    it('grant not allowed for the client', async () => {
      await expectJson(await token({ grant_type: 'client_credentials' }, basic('web', SECRETS.WEB_SECRET)), 400, 'invalid_profile_usage', 'grant_type', 'unauthorized_client');
      await expectJson(await token({ grant_type: 'refresh_token', refresh_token: 'x' }), 400, 'invalid_profile_usage', 'grant_type');
    });
    it('a wrong secret is invalid_client before anything about the client is revealed (its grants, its scopes)', async () => {
      await expectJson(await token({ grant_type: 'client_credentials' }, basic('web', 'wrong-secret')), 401, 'invalid_profile_usage', 'client', 'invalid_client');
      await expectJson(await token({ grant_type: 'client_credentials', scope: 'openid' }, basic('svc', 'wrong-secret')), 401, 'invalid_profile_usage', 'client', 'invalid_client');
    });
    it('an unknown client and a wrong secret get the same answer, WWW-Authenticate included', async () => {
      const answer = async (res: Response) => {
        const { correlation_id: _c, ...body } = (await res.json()) as Record<string, unknown>;
        return { status: res.status, www: res.headers.get('www-authenticate'), type: res.headers.get('content-type'), body };
      };
      const unknown = await answer(await token({ grant_type: 'client_credentials' }, basic('nobody', 'whatever')));
      const wrong = await answer(await token({ grant_type: 'client_credentials' }, basic('svc', 'wrong-secret')));
      assert.equal(unknown.status, 401);
      assert.ok(unknown.www, 'a challenge is sent');
      assert.deepEqual(unknown, wrong);
      const post = (id: string, secret: string) =>
        fetch(`${env.issuer}/protocol/openid-connect/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', client_id: id, client_secret: secret }),
        });
      assert.deepEqual(await answer(await post('nobody', 'whatever')), await answer(await post('svc-rs', 'wrong-secret')));
    });
  });

  it('records the demand per client for the telemetry report', async () => {
    await new Promise((r) => setTimeout(r, 50));
    const rows = await idpRepositories(env.db, 'sqlite').demand.report({ realm: 'main' });
    const tx = rows.find((r) => r.feature === 'token_exchange');
    assert.equal(tx?.client_id, 'svc');
    assert.equal(tx?.error_class, 'available_in_keycloak_mode_only');
    const admin = await idpRepositories(env.db, 'sqlite').demand.report({ realm: '-' });
    assert.ok(admin.some((r) => r.feature === 'admin_rest_api'));
    assert.ok(env.audit.events.some((e) => e.event_type === 'idp.admin_unsupported'));
  });
});
