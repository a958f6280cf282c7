// Public clients (token_endpoint_auth_method none) exist only where the profile allows them, and then still need
// PKCE S256 and exact redirect URIs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import { applyRealmFile, parseRealmFile } from '../../src/idp/realm-file.ts';
import { Agent, formAction, hidden } from '../../harness/browser.ts';
import { REALM_YAML, SECRETS, startEnv, type TestEnv } from './support/env.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';

const SPA = `
  - client_id: spa
    grant_types: [authorization_code]
    scopes: [openid, profile]
    auth_method: none
    redirect_uris: [http://127.0.0.1:1/cb]
    roles: [reader]
`;

describe('idp: public clients where the profile allows them', () => {
  let env: TestEnv;
  before(async () => {
    env = await startEnv({ yaml: REALM_YAML + SPA, realm: { public_clients_allowed: true } });
  });
  after(async () => env?.close());

  it('a public client logs a user in with authorization code + PKCE and no secret', async () => {
    const config = await oidc.discovery(new URL(env.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const redirect = `${env.base}/rp/cb`;
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: redirect, scope: 'openid profile', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const agent = new Agent();
    const { res } = await agent.follow(url.href, env.base);
    const page = await res.text();
    const post = await agent.post(new URL(formAction(page), env.base).href, { csrf: hidden(page, 'csrf'), username: 'alice', password: SECRETS.ALICE_PW });
    assert.equal(post.status, 303, await post.text());
    const { url: at } = await agent.follow(new URL(post.headers.get('location')!, env.base).href, env.base);
    assert.ok(at.startsWith(redirect), at);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(at), { pkceCodeVerifier: verifier });
    assert.equal(tokens.claims()!.preferred_username, 'alice');
  });
});

describe('idp: public clients where the profile does not allow them', () => {
  it('a realm file declaring one is refused', async () => {
    const env = await startEnv();
    try {
      await assert.rejects(
        applyRealmFile(idpRepositories(env.db, 'sqlite'), env.config.realms[0]!, parseRealmFile(REALM_YAML + SPA), { dryRun: false, env: { ...SECRETS }, argon2: env.config.argon2 }),
        /public clients are not allowed by the profile/,
      );
    } finally {
      await env.close();
    }
  });
});
