import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { RESOURCE, SECRETS, startEnv, type TestEnv } from './support/env.ts';
import { assertProfileClaims } from './support/claims.ts';
import { Agent, formAction, hidden } from '../../harness/browser.ts';

describe('idp: authorization code + PKCE through the login form (openid-client)', () => {
  let env: TestEnv;
  let config: oidc.Configuration;
  let redirect: string;
  before(async () => {
    env = await startEnv();
    redirect = `${env.base}/rp/cb`;
    config = await oidc.discovery(new URL(env.issuer), 'web', undefined, oidc.ClientSecretBasic(SECRETS.WEB_SECRET), { execute: [oidc.allowInsecureRequests] });
  });
  after(async () => env?.close());

  async function login(agent: Agent, username: string, password: string, scope = 'openid profile groups offline_access keys.sign') {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirect,
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    let { url: at, res } = await agent.follow(url.href, env.base);
    let page = await res.text();
    if (!at.startsWith(redirect)) {
      assert.equal(res.status, 200, page);
      assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
      const post = await agent.post(new URL(formAction(page), env.base).href, { csrf: hidden(page, 'csrf'), username, password });
      if (post.status !== 303) return { failed: post.status, page: await post.text() };
      ({ url: at } = await agent.follow(new URL(post.headers.get('location')!, env.base).href, env.base));
    }
    assert.ok(at.startsWith(redirect), at);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(at), { pkceCodeVerifier: verifier, expectedState: state });
    return { tokens };
  }

  let first: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
  const agent = new Agent();

  it('logs alice in and issues an ID token with the profile claims', async () => {
    const r = await login(agent, 'alice', SECRETS.ALICE_PW);
    assert.ok(r.tokens, r.page);
    first = r.tokens;
    const claims = first.claims()!;
    assert.equal(claims.sub, 'u-alice');
    assert.equal(claims.preferred_username, 'alice');
    assert.equal(claims.principal_type, 'human');
    assert.deepEqual(claims.groups, ['ops']);
    assert.deepEqual(claims.roles, ['reader']);
    assert.equal(claims.acr, 'aal1');
    assert.equal((claims.assurance as any).level, 'aal1');
    assert.equal(claims.email, undefined, 'email scope not granted');
    // The profile scope: the realm file's names, kept by the built-in directory.
    assert.deepEqual([claims.name, claims.given_name, claims.family_name], ['Alice A', 'Alice', 'Anders']);
    assertProfileClaims(claims);
    assert.equal(decodeProtectedHeader(first.id_token!).alg, 'ES256');
    assert.ok(first.refresh_token);
  });

  it('scope=openid alone still carries the claims the profile requires (groups; preferred_username for humans)', async () => {
    const r = await login(new Agent(), 'alice', SECRETS.ALICE_PW, 'openid');
    assert.ok(r.tokens, r.page);
    const claims = r.tokens.claims()!;
    assert.deepEqual(claims.groups, ['ops']);
    assert.equal(claims.preferred_username, 'alice');
    assert.deepEqual([claims.name, claims.given_name, claims.family_name], [undefined, undefined, undefined], 'no profile scope, no names');
    assertProfileClaims(claims);
  });

  it('userinfo returns only what the granted scopes allow', async () => {
    const info = await oidc.fetchUserInfo(config, first.access_token, 'u-alice');
    assert.equal(info.preferred_username, 'alice');
    assert.deepEqual(info.groups, ['ops']);
    assert.equal(info.tenant, 'tenant:acme');
    assert.deepEqual([info.name, info.given_name, info.family_name], ['Alice A', 'Alice', 'Anders']);
    assert.equal(info.email, undefined);
    assert.equal(info.email_verified, undefined);
    // The same assurance as the ID token: how and when alice signed in, not the time of this call.
    const idc = first.claims()!;
    assert.deepEqual(info.assurance, idc.assurance);
    assert.equal((info.assurance as any).level, 'aal1');
    assert.equal((info.assurance as any).at, idc.auth_time);
    assert.equal(info.acr, 'aal1');
    assert.deepEqual(info.amr, ['pwd']);
    assert.equal(info.auth_time, idc.auth_time);
  });

  it('refresh rotates, yields an at+jwt for the key API, and reuse revokes the family', async () => {
    const second = await oidc.refreshTokenGrant(config, first.refresh_token!, { resource: RESOURCE, scope: 'keys.sign' });
    assert.ok(second.refresh_token);
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.equal(decodeProtectedHeader(second.access_token).typ, 'at+jwt');
    const jwks = createRemoteJWKSet(new URL(`${env.issuer}/protocol/openid-connect/certs`));
    const { payload } = await jwtVerify(second.access_token, jwks, { issuer: env.issuer, audience: RESOURCE, typ: 'at+jwt' });
    assert.equal(payload.sub, 'u-alice');
    assert.equal(payload.client_id, 'web');
    assert.equal(payload.scope, 'keys.sign');
    assert.deepEqual(payload.permissions, ['keyward.key.*.read']);
    assert.deepEqual(payload.amr, ['pwd']);
    assertProfileClaims(payload);
    // Reusing the rotated token fails and takes the newer one down with it.
    await assert.rejects(oidc.refreshTokenGrant(config, first.refresh_token!), (e: any) => e.error === 'invalid_grant');
    await assert.rejects(oidc.refreshTokenGrant(config, second.refresh_token!), (e: any) => e.error === 'invalid_grant');
  });

  it('keeps sessions and refresh tokens across a restart', async () => {
    const a = new Agent();
    const r = await login(a, 'robot', SECRETS.BOB_PW, 'openid profile groups');
    assert.ok(r.tokens, r.page);
    assertProfileClaims(r.tokens.claims());
    assert.equal(r.tokens.claims()!.principal_type, 'agent');
    await env.restart();
    config = await oidc.discovery(new URL(env.issuer), 'web', undefined, oidc.ClientSecretBasic(SECRETS.WEB_SECRET), { execute: [oidc.allowInsecureRequests] });
    // Same browser: no login form this time, the persisted session answers.
    const again = await login(a, 'robot', 'not used', 'openid profile groups');
    assert.ok(again.tokens, again.page);
    const refreshed = await oidc.refreshTokenGrant(config, again.tokens.refresh_token!);
    assert.ok(refreshed.access_token);
  });

  it('logs out through RP-initiated logout with a confirmation form', async () => {
    const url = oidc.buildEndSessionUrl(config, { id_token_hint: first.id_token!, post_logout_redirect_uri: `${env.base}/rp/bye` });
    const page = await agent.get(url.href);
    const html = await page.text();
    assert.equal(page.status, 200, html);
    const xsrf = hidden(html, 'xsrf');
    const done = await agent.post(new URL(formAction(html), env.base).href, { xsrf, logout: 'yes' });
    assert.equal(done.status, 303);
    assert.ok(done.headers.get('location')!.startsWith(`${env.base}/rp/bye`));
    // The session is gone: the next authorization shows the login form again.
    const verifier = oidc.randomPKCECodeVerifier();
    const authUrl = oidc.buildAuthorizationUrl(config, { redirect_uri: redirect, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const { url: at } = await agent.follow(authUrl.href, env.base);
    assert.match(at, /\/login\//);
  });

  it('introspection reports a live token as active and a revoked one as inactive', async () => {
    const r = await login(new Agent(), 'alice', SECRETS.ALICE_PW);
    assert.ok(r.tokens, r.page);
    const live = await oidc.tokenIntrospection(config, r.tokens.access_token);
    assert.equal(live.active, true);
    assert.equal(live.sub, 'u-alice');
    await oidc.tokenRevocation(config, r.tokens.access_token);
    assert.equal((await oidc.tokenIntrospection(config, r.tokens.access_token)).active, false);
    await assert.rejects(oidc.fetchUserInfo(config, r.tokens.access_token, 'u-alice'));
  });

  it('another client cannot introspect the tokens of this one (RFC 7662 §4)', async () => {
    const r = await login(new Agent(), 'alice', SECRETS.ALICE_PW);
    assert.ok(r.tokens, r.page);
    const other = await fetch(`${env.issuer}/protocol/openid-connect/token/introspect`, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(`svc:${SECRETS.SVC_SECRET}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: r.tokens.refresh_token! }),
    });
    assert.equal(other.status, 200);
    assert.deepEqual(await other.json(), { active: false });
    assert.equal((await oidc.tokenIntrospection(config, r.tokens.refresh_token!)).active, true, 'its own client still can');
  });

  it('logout without a session completes: the page that posts back may run its one inline script', async () => {
    const url = `${env.issuer}/protocol/openid-connect/logout?client_id=web&post_logout_redirect_uri=${encodeURIComponent(`${env.base}/rp/bye`)}`;
    const page = await new Agent().get(url);
    const html = await page.text();
    assert.equal(page.status, 200, html);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    const script = /<script>([\s\S]*?)<\/script>/.exec(html);
    if (script) {
      const digest = createHash('sha256').update(script[1]!).digest('base64');
      assert.ok(csp.includes(`'sha256-${digest}'`), `${csp} allows the page's script`);
    } else {
      assert.match(csp, /script-src 'none'/);
    }
  });

  it('step-up: acr_values=aal2 on a password-only session asks again instead of issuing a code', async () => {
    const a = new Agent();
    assert.ok((await login(a, 'alice', SECRETS.ALICE_PW)).tokens);
    const verifier = oidc.randomPKCECodeVerifier();
    const silent = oidc.buildAuthorizationUrl(config, { redirect_uri: redirect, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    assert.ok((await a.follow(silent.href, env.base)).url.startsWith(redirect), 'the aal1 session is reused silently');
    const stepUp = oidc.buildAuthorizationUrl(config, { redirect_uri: redirect, scope: 'openid', acr_values: 'aal2', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const { url: at } = await a.follow(stepUp.href, env.base);
    assert.match(at, /\/login\//, 'a higher level was requested: no code without a new interaction');
  });

  it('refuses disabled and unknown users with the same neutral message', async () => {
    const disabled = await login(new Agent(), 'carol', SECRETS.CAROL_PW);
    const unknown = await login(new Agent(), 'nobody', 'whatever');
    const wrong = await login(new Agent(), 'alice', 'wrong');
    assert.equal(disabled.failed, 401);
    assert.equal(unknown.failed, 401);
    const msg = (p: string | undefined) => p?.match(/role="alert">([^<]*)</)?.[1];
    assert.ok(msg(disabled.page));
    assert.equal(msg(disabled.page), msg(unknown.page));
    assert.equal(msg(wrong.page), msg(unknown.page));
  });

  it('locks an account temporarily after repeated failures', async () => {
    for (let i = 0; i < 5; i++) await login(new Agent(), 'alice', 'wrong');
    const locked = await login(new Agent(), 'alice', SECRETS.ALICE_PW);
    assert.equal(locked.failed, 401);
    assert.ok(env.audit.events.some((e) => e.event_type === 'idp.authentication_failed'));
    assert.ok(env.audit.events.some((e) => e.event_type === 'idp.token_issued'));
  });
});
