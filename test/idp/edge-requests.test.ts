// Requests a relying party or an attacker sends at the edges of the protocol: faults behind the sign-in pages,
// oversized bodies, origins, methods the API description names. Found by a black-box review of a dev server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { Agent } from '../../harness/browser.ts';
import { SECRETS, startEnv, type TestEnv } from './support/env.ts';

describe('idp: edge requests', () => {
  let env: TestEnv;
  const errors: Array<{ obj: Record<string, unknown>; msg?: string | undefined }> = [];
  before(async () => {
    env = await startEnv({ logger: { info: () => {}, warn: () => {}, error: (obj, msg) => errors.push({ obj, msg }) } });
  });
  after(async () => env?.close());

  /** Starts an authorization as web and returns the sign-in page's URL and the agent holding its cookie. */
  async function signInPage(): Promise<{ agent: Agent; url: string }> {
    const agent = new Agent();
    const config = await oidc.discovery(new URL(env.issuer), 'web', undefined, oidc.ClientSecretBasic(SECRETS.WEB_SECRET), { execute: [oidc.allowInsecureRequests] });
    const auth = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `${env.base}/rp/cb`,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
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
