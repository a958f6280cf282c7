// Requests a relying party or an attacker sends at the edges of the protocol: faults behind the sign-in pages,
// oversized bodies, origins, methods the API description names. Found by a black-box review of a dev server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { Agent, formAction, hidden } from '../../harness/browser.ts';
import { SECRETS, startEnv, type TestEnv } from './support/env.ts';
import { PROVIDER_ENDPOINTS } from '../../src/idp/endpoints.ts';

describe('idp: edge requests', () => {
  let env: TestEnv;
  const errors: Array<{ obj: Record<string, unknown>; msg?: string | undefined }> = [];
  before(async () => {
    env = await startEnv({ logger: { info: () => {}, warn: () => {}, error: (obj, msg) => errors.push({ obj, msg }) } });
  });
  after(async () => env?.close());

  /** PKCE verifiers of the authorizations started, by state. */
  const verifiers = new Map<string, string>();
  /** Starts an authorization as web and returns the sign-in page's URL and the agent holding its cookie. */
  async function signInPage(extra: Record<string, string> = {}): Promise<{ agent: Agent; url: string }> {
    const agent = new Agent();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    verifiers.set(state, verifier);
    const config = await oidc.discovery(new URL(env.issuer), 'web', undefined, oidc.ClientSecretBasic(SECRETS.WEB_SECRET), { execute: [oidc.allowInsecureRequests] });
    const auth = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `${env.base}/rp/cb`,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      ...extra,
    });
    const res = await agent.get(auth.href);
    assert.equal(res.status, 303);
    return { agent, url: new URL(res.headers.get('location')!, env.base).href };
  }

  describe('sign-in pages', () => {
    it('an unknown interaction is a 400 page whose correlation id is the response x-request-id', async () => {
      const res = await fetch(`${env.issuer}/login/no-such-interaction`);
      const html = await res.text();
      assert.equal(res.status, 400);
      const id = res.headers.get('x-request-id');
      assert.ok(id);
      assert.match(html, /session expired or is invalid/);
      assert.ok(html.includes(`<code>${id}</code>`), 'the page names the request id the logs carry');
    });

    it('login_hint pre-fills the username (escaped), as the API description says', async () => {
      for (const [hint, value] of [['alice', 'alice'], ['"><script>x()</script>', '&quot;&gt;&lt;script&gt;x()&lt;/script&gt;']] as const) {
        const { agent, url } = await signInPage({ login_hint: hint });
        const html = await (await agent.get(url)).text();
        assert.match(html, new RegExp(`name="username"[^>]* value="${value.replace(/[()]/g, '\\$&')}"`), html);
        assert.doesNotMatch(html, /<script>x/);
      }
    });

    it('an unknown client at the authorization endpoint gets the error page without an HTTP authentication challenge', async () => {
      const url = `${env.issuer}/protocol/openid-connect/auth?client_id=nobody&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&redirect_uri=${encodeURIComponent(`${env.base}/rp/cb`)}`;
      const res = await fetch(url, { headers: { accept: 'text/html' }, redirect: 'manual' });
      assert.equal(res.status, 401);
      assert.match(await res.text(), /data-profile-error-class="invalid_profile_usage"/);
      // A browser shows its own username/password dialog for a Basic challenge instead of the page.
      assert.equal(res.headers.get('www-authenticate'), null);
    });

    it('signing in with the password again does not clear the second factor\'s failures (the lockout holds)', async () => {
      /** bob (second factor required) signs in with his password: the second-step page and its agent. */
      const password = async () => {
        const { agent, url } = await signInPage();
        const page = await (await agent.get(url)).text();
        const res = await agent.post(new URL(formAction(page), env.base).href, { csrf: hidden(page, 'csrf'), username: 'bob', password: SECRETS.BOB_PW });
        assert.equal(res.status, 303);
        const totpUrl = new URL(res.headers.get('location')!, env.base).href;
        return { agent, totpUrl, page: await (await agent.get(totpUrl)).text() };
      };
      const wrongCode = async (s: { agent: Agent; totpUrl: string; page: string }) => {
        const res = await s.agent.post(s.totpUrl, { csrf: hidden(s.page, 'csrf'), code: '000000' });
        assert.equal(res.status, 401);
        return res.text();
      };
      const max = env.config.realms[0]!.lockout.max_failures;
      const first = await password();
      for (let i = 0; i < max - 1; i++) assert.doesNotMatch(await wrongCode(first), /Too many failed attempts/);
      // The password is right: that must not buy another round of guesses at the code.
      const second = await password();
      assert.match(await wrongCode(second), /Too many failed attempts/);
    });

    it('a store fault is a logged 500 under the request id, not an "expired sign-in" 400', async () => {
      const { agent, url } = await signInPage();
      assert.equal((await agent.get(url)).status, 200);
      await env.db.schema.alterTable('idp_oidc').renameTo('idp_oidc_away').execute();
      try {
        const res = await agent.get(url);
        const html = await res.text();
        assert.equal(res.status, 500);
        assert.doesNotMatch(html, /session expired/);
        const id = res.headers.get('x-request-id')!;
        assert.ok(html.includes(id), 'the page gives the reference');
        const logged = errors.find((e) => e.obj.request_id === id);
        assert.ok(logged, 'the fault is logged with the request id');
        assert.match(String(logged.obj.err), /idp_oidc/);
      } finally {
        await env.db.schema.alterTable('idp_oidc_away').renameTo('idp_oidc').execute();
      }
    });
  });

  describe('protocol endpoints', () => {
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    const post = (path: string, authorization: string, body: Record<string, string>, origin?: string) =>
      fetch(`${env.issuer}/protocol/openid-connect/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization, ...(origin ? { origin } : {}) },
        body: new URLSearchParams(body),
      });
    const answer = async (res: Response) => {
      const { correlation_id: _, ...body } = (await res.json()) as Record<string, unknown>;
      return { status: res.status, body, acao: res.headers.get('access-control-allow-origin'), credentials: res.headers.get('access-control-allow-credentials') };
    };

    it('an origin none of the client\'s redirect URIs is refused alike for known, unknown and unauthenticated clients', async () => {
      const evil = 'http://evil.example';
      for (const path of ['token', 'token/introspect', 'revoke']) {
        const body = { grant_type: 'client_credentials', token: 'x' };
        const known = await answer(await post(path, basic('svc', 'wrong secret'), body, evil));
        // web may not use client_credentials: that must not show either.
        const other = await answer(await post(path, basic('web', 'wrong secret'), body, evil));
        const unknown = await answer(await post(path, basic('nobody', 'wrong secret'), body, evil));
        assert.deepEqual(other, known, path);
        assert.deepEqual(unknown, known, path);
        assert.equal(known.status, 400);
        assert.equal(known.body.error, 'invalid_request');
        assert.doesNotMatch(String(known.body.error_description), /svc/);
        assert.equal(known.acao, null, 'a refused origin is not allowed to read the answer');
        assert.equal(known.credentials, null);
        // The right secret from the wrong origin is refused too.
        assert.deepEqual(await answer(await post(path, basic('svc', SECRETS.SVC_SECRET), body, evil)), known, path);
      }
    });

    it('from a client\'s own origin, and without an Origin header, the client authenticates first as before', async () => {
      const own = await answer(await post('token', basic('web', 'wrong secret'), { grant_type: 'refresh_token', refresh_token: 'x' }, env.base));
      assert.equal(own.status, 401);
      assert.equal(own.body.error, 'invalid_client');
      assert.equal(own.acao, env.base);
      const refresh = await answer(await post('token', basic('web', SECRETS.WEB_SECRET), { grant_type: 'refresh_token', refresh_token: 'x' }, env.base));
      assert.equal(refresh.body.error, 'invalid_grant');
      assert.equal(refresh.acao, env.base);
      assert.equal(refresh.credentials, 'true');
      const server = await post('token', basic('svc', SECRETS.SVC_SECRET), { grant_type: 'client_credentials' });
      assert.equal(server.status, 200);
    });

    it('a response carrying tokens has Cache-Control: no-store and Pragma: no-cache (RFC 6749 §5.1)', async () => {
      const res = await post('token', basic('svc', SECRETS.SVC_SECRET), { grant_type: 'client_credentials' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('pragma'), 'no-cache');
    });

    /** alice signs in at web; her access and refresh tokens. */
    async function aliceTokens(): Promise<{ access_token: string; refresh_token: string }> {
      const { agent, url } = await signInPage();
      const page = await (await agent.get(url)).text();
      const login = await agent.post(new URL(formAction(page), env.base).href, { csrf: hidden(page, 'csrf'), username: 'alice', password: SECRETS.ALICE_PW });
      assert.equal(login.status, 303);
      const back = await agent.follow(new URL(login.headers.get('location')!, env.base).href, env.base);
      const callback = new URL(back.url);
      const verifier = verifiers.get(callback.searchParams.get('state')!)!;
      const tokens = await post('token', basic('web', SECRETS.WEB_SECRET), { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: `${env.base}/rp/cb`, code_verifier: verifier });
      assert.equal(tokens.status, 200);
      return (await tokens.json()) as { access_token: string; refresh_token: string };
    }

    it('userinfo takes the JWT access token in a form body (RFC 6750 §2.2) as in the Authorization header', async () => {
      const at = (await aliceTokens()).access_token;
      const header = await fetch(`${env.issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${at}` } });
      assert.equal(header.status, 200);
      const body = await fetch(`${env.issuer}/protocol/openid-connect/userinfo`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ access_token: at }) });
      assert.equal(body.status, 200, await body.clone().text());
      assert.deepEqual(await body.json(), await header.json());
    });

    it('introspection reports a disabled user\'s tokens inactive, as userinfo and refresh refuse them', async () => {
      const { access_token, refresh_token } = await aliceTokens();
      const introspect = async (token: string) => ((await (await post('token/introspect', basic('web', SECRETS.WEB_SECRET), { token })).json()) as { active: boolean }).active;
      assert.equal(await introspect(access_token), true);
      assert.equal(await introspect(refresh_token), true);
      await env.db.updateTable('idp_users').set({ enabled: 0 }).where('id', '=', 'u-alice').execute();
      try {
        assert.equal((await fetch(`${env.issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${access_token}` } })).status, 401);
        assert.equal(await introspect(access_token), false);
        assert.equal(await introspect(refresh_token), false);
      } finally {
        await env.db.updateTable('idp_users').set({ enabled: 1 }).where('id', '=', 'u-alice').execute();
      }
      assert.equal(await introspect(access_token), true);
    });

    it('revocation: a client revokes its own tokens only, and nothing is printed outside the JSON log', async () => {
      const printed: unknown[] = [];
      const original = { info: console.info, warn: console.warn, log: console.log };
      console.info = console.warn = console.log = (...args: unknown[]) => void printed.push(args);
      try {
        const { access_token, refresh_token } = await aliceTokens();
        const other = await post('revoke', basic('svc', SECRETS.SVC_SECRET), { token: refresh_token });
        assert.equal(other.status, 400);
        assert.equal(((await other.json()) as { error: string }).error, 'invalid_request');
        assert.equal((await post('revoke', basic('web', SECRETS.WEB_SECRET), { token: refresh_token })).status, 200);
        assert.equal((await post('revoke', basic('web', SECRETS.WEB_SECRET), { token: access_token })).status, 200);
        assert.equal((await fetch(`${env.issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${access_token}` } })).status, 401);
      } finally {
        Object.assign(console, original);
      }
      assert.deepEqual(printed, []);
    });

    it('every method the API description documents for a protocol endpoint is served', async () => {
      for (const e of PROVIDER_ENDPOINTS.filter((x) => !x.path.includes(':uid'))) {
        for (const method of e.methods) {
          const res = await fetch(`${env.issuer}${e.path}`, { method, redirect: 'manual', ...(method === 'POST' ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' } : {}) });
          const text = await res.text();
          assert.doesNotMatch(text, /in the profile/, `${method} ${e.path}: ${res.status} ${text.slice(0, 200)}`);
        }
      }
    });

    it('an oversized body is an OAuth error (413 invalid_request), not problem+json', async () => {
      for (const path of ['token', 'token/introspect', 'revoke']) {
        const res = await fetch(`${env.issuer}/protocol/openid-connect/${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`svc:${SECRETS.SVC_SECRET}`).toString('base64')}` },
          body: `grant_type=client_credentials&token=${'a'.repeat(70_000)}`,
        });
        assert.equal(res.status, 413, path);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        assert.equal(res.headers.get('cache-control'), 'no-store');
        const body = (await res.json()) as Record<string, string>;
        assert.equal(body.error, 'invalid_request');
        assert.equal(body.profile_error_class, 'invalid_profile_usage');
        assert.match(body.error_description!, /64 KiB/);
        assert.equal(body.correlation_id, res.headers.get('x-correlation-id'));
      }
    });
  });
});
