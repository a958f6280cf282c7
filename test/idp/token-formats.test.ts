// Keycloak's token shapes without Keycloak's parameters: a client that never sends `resource` (as Keycloak clients
// do not) gets an at+jwt for the realm's audience from every flow, naming exactly the granted scopes, usable at
// userinfo and introspection; refresh tokens are JWS-shaped, as keycloak-js requires.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { Agent, formAction, hidden } from '../../harness/browser.ts';
import { assertProfileClaims } from './support/claims.ts';
import { RESOURCE, SECRETS, startEnv, type TestEnv } from './support/env.ts';

const ALL = 'openid profile email groups offline_access';
const sorted = (s: string | undefined) => (s ?? '').split(' ').filter(Boolean).sort();

describe('idp: access tokens are at+jwt from every flow, naming what was granted', () => {
  let env: TestEnv;
  let config: oidc.Configuration;
  let jwks: ReturnType<typeof createRemoteJWKSet>;
  before(async () => {
    env = await startEnv();
    config = await oidc.discovery(new URL(env.issuer), 'web', undefined, oidc.ClientSecretBasic(SECRETS.WEB_SECRET), { execute: [oidc.allowInsecureRequests] });
    jwks = createRemoteJWKSet(new URL(`${env.issuer}/protocol/openid-connect/certs`));
  });
  after(async () => env?.close());

  async function codeFlow(scope: string, extra: Record<string, string> = {}) {
    const redirect = `${env.base}/rp/cb`;
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: redirect, scope, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra });
    assert.equal(url.searchParams.get('resource'), null, 'no resource indicator, as a Keycloak client sends none');
    const agent = new Agent();
    const { res } = await agent.follow(url.href, env.base);
    const page = await res.text();
    const post = await agent.post(new URL(formAction(page), env.base).href, { csrf: hidden(page, 'csrf'), username: 'alice', password: SECRETS.ALICE_PW });
    assert.equal(post.status, 303);
    const { url: at } = await agent.follow(new URL(post.headers.get('location')!, env.base).href, env.base);
    return oidc.authorizationCodeGrant(config, new URL(at), { pkceCodeVerifier: verifier });
  }

  const verifyAt = async (token: string) => {
    assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
    return (await jwtVerify(token, jwks, { issuer: env.issuer, audience: RESOURCE, typ: 'at+jwt' })).payload;
  };

  let tokens: Awaited<ReturnType<typeof codeFlow>>;

  it('authorization code without resource: an at+jwt for the realm audience, scope and scp as granted', async () => {
    // OIDC Core §11: offline_access is granted only with prompt=consent.
    tokens = await codeFlow(ALL, { prompt: 'consent' });
    assert.deepEqual(sorted(tokens.scope), sorted(ALL), 'the token response names the granted scopes (RFC 6749 §5.1)');
    const claims = await verifyAt(tokens.access_token);
    assert.deepEqual(sorted(claims['scope'] as string), sorted(ALL), 'scope: space-separated (Keycloak form)');
    assert.deepEqual([...(claims['scp'] as string[])].sort(), sorted(ALL), 'scp: array (profile form)');
    assert.equal(claims.sub, 'u-alice');
    assert.equal(claims['azp'], 'web');
    assert.deepEqual(claims['realm_access'], { roles: ['reader'] }, "Keycloak's realm_access.roles next to roles");
    assert.deepEqual(claims['roles'], ['reader']);
    assert.deepEqual(claims['permissions'], ['keyward.key.*.read']);
    assertProfileClaims(claims);
  });

  it('what was not granted is not named: a narrower request, and offline_access without prompt=consent', async () => {
    const t = await codeFlow('openid keys.sign offline_access');
    assert.deepEqual(sorted(t.scope), ['keys.sign', 'openid']);
    const claims = await verifyAt(t.access_token);
    assert.deepEqual([...(claims['scp'] as string[])].sort(), ['keys.sign', 'openid']);
    assert.equal(claims['scope'], t.scope);
  });

  it('userinfo answers for the JWT access token the client holds', async () => {
    const info = await oidc.fetchUserInfo(config, tokens.access_token, 'u-alice');
    assert.equal(info.preferred_username, 'alice');
    assert.equal(info.email, 'alice@example.test', 'email was granted');
    const other = await fetch(`${env.issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token.slice(0, -4)}AAAA` } });
    assert.equal(other.status, 401, 'a JWT whose signature does not verify is no key to userinfo');
  });

  it('introspection reports the JWT itself (its jti and audience); revocation ends its userinfo use', async () => {
    const t = await codeFlow('openid');
    const claims = decodeJwt(t.access_token);
    const live = await oidc.tokenIntrospection(config, t.access_token);
    assert.equal(live.active, true);
    assert.equal(live.jti, claims.jti);
    assert.equal(live.aud, RESOURCE);
    assert.equal(live.sub, 'u-alice');
    await oidc.tokenRevocation(config, t.access_token);
    assert.equal((await oidc.tokenIntrospection(config, t.access_token)).active, false);
    await assert.rejects(oidc.fetchUserInfo(config, t.access_token, 'u-alice'));
  });

  it('refresh without resource: again an at+jwt with the granted scopes; the refresh token is JWS-shaped', async () => {
    const parts = tokens.refresh_token!.split('.');
    assert.equal(parts.length, 3, 'keycloak-js decodes refresh tokens as JWTs');
    const rt = decodeJwt(tokens.refresh_token!);
    assert.equal(rt['typ'], 'Refresh');
    assert.ok(typeof rt.exp === 'number' && rt.exp > Date.now() / 1000);
    const next = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    assert.deepEqual(sorted(next.scope), sorted(ALL));
    const claims = await verifyAt(next.access_token);
    assert.deepEqual([...(claims['scp'] as string[])].sort(), sorted(ALL));
    assert.notEqual(next.refresh_token, tokens.refresh_token);
    assert.equal(next.refresh_token!.split('.').length, 3);
    // Rotation still holds through the wrapping: the old one is spent.
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (e: any) => e.error === 'invalid_grant');
  });

  it('client credentials without resource: an at+jwt with the requested scope', async () => {
    const svc = await oidc.discovery(new URL(env.issuer), 'svc', undefined, oidc.ClientSecretBasic(SECRETS.SVC_SECRET), { execute: [oidc.allowInsecureRequests] });
    const t = await oidc.clientCredentialsGrant(svc, { scope: 'keys.sign' });
    assert.equal(t.scope, 'keys.sign');
    const claims = await verifyAt(t.access_token);
    assert.equal(claims['scope'], 'keys.sign');
    assert.deepEqual(claims['scp'], ['keys.sign']);
    assert.deepEqual(claims['realm_access'], { roles: ['signer'] });
  });

  it('the profile document names both scope claims and says which form each has', async () => {
    const doc = (await (await fetch(`${env.issuer}/profile`)).json()) as any;
    assert.ok(doc.claims.access_token.includes('scp'));
    assert.ok(doc.claims.access_token.includes('scope'));
    assert.match(doc.access_token.scope_claims.scope, /space-separated/);
    assert.match(doc.access_token.scope_claims.scp, /array/);
    assert.equal(doc.access_token.audience, RESOURCE);
  });
});
