// private_key_jwt client authentication for a service principal (RFC 7523), through openid-client.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import { assertProfileClaims } from './support/claims.ts';
import { REALM_YAML, RESOURCE, startEnv, type TestEnv } from './support/env.ts';

describe('idp: private_key_jwt client authentication', () => {
  let env: TestEnv;
  let key: oidc.CryptoKey;
  before(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = pair.privateKey as oidc.CryptoKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'pkj-1', alg: 'ES256', use: 'sig' };
    env = await startEnv({
      yaml: `${REALM_YAML}
  - client_id: pkj
    grant_types: [client_credentials]
    scopes: [keys.sign]
    auth_method: private_key_jwt
    jwks: { keys: [${JSON.stringify(jwk)}] }
    roles: [signer]
`,
    });
  });
  after(async () => env?.close());

  const discover = (auth: oidc.ClientAuth) => oidc.discovery(new URL(env.issuer), 'pkj', { token_endpoint_auth_signing_alg: 'ES256' }, auth, { execute: [oidc.allowInsecureRequests] });

  it('issues an at+jwt to a client that proves possession of its registered key', async () => {
    const config = await discover(oidc.PrivateKeyJwt(key));
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'keys.sign', resource: RESOURCE });
    const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString());
    assert.equal(claims.client_id, 'pkj');
    assert.equal(claims.aud, RESOURCE);
    assert.deepEqual(claims.permissions, ['keyward.key.app-*.sign']);
    assertProfileClaims(claims);
  });

  it('refuses an assertion signed with any other key', async () => {
    const other = await generateKeyPair('ES256', { extractable: true });
    const config = await discover(oidc.PrivateKeyJwt(other.privateKey as oidc.CryptoKey));
    await assert.rejects(oidc.clientCredentialsGrant(config, { scope: 'keys.sign', resource: RESOURCE }), (e: { error?: string }) => e.error === 'invalid_client');
  });
});
