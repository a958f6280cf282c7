import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { after, before, describe, it } from 'node:test';
import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import { createRemoteJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { RESOURCE, SECRETS, startEnv, type TestEnv } from './support/env.ts';
import { assertProfileClaims } from './support/claims.ts';

const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');

describe('idp: client credentials and Keycloak layout', () => {
  let env: TestEnv;
  before(async () => {
    env = await startEnv();
  });
  after(async () => env?.close());

  async function cc(clientId = 'svc', secret = SECRETS.SVC_SECRET, extra: Record<string, string> = {}, headers: Record<string, string> = {}) {
    return fetch(`${env.issuer}/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { authorization: basic(clientId, secret), 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'keys.sign', ...extra }),
    });
  }

  it('a DPoP proof is not honoured: tokens stay Bearer; responses carry the request id', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const proof = await new SignJWT({ htm: 'POST', htu: `${env.issuer}/protocol/openid-connect/token`, jti: 'x', iat: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
      .sign(privateKey);
    const r = await cc('svc', SECRETS.SVC_SECRET, {}, { dpop: proof, 'x-request-id': 'req-123' });
    const body = await r.json() as any;
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.equal(body.token_type, 'Bearer');
    assert.ok(r.headers.get('x-request-id'));
    assert.equal(r.headers.get('x-request-id'), r.headers.get('x-correlation-id'), 'one id for the server log and the IdP telemetry');
    const bad = await cc('svc', 'wrong-secret', {}, { 'x-request-id': '<script>x</script>' });
    const err = await bad.json() as any;
    assert.equal(bad.status, 401);
    assert.equal(err.correlation_id, bad.headers.get('x-request-id'));
    assert.doesNotMatch(err.correlation_id, /</, 'an insane client id is replaced, never echoed');
  });

  it('publishes discovery with the Keycloak URL layout and the profile', async () => {
    const d = await (await fetch(`${env.issuer}/.well-known/openid-configuration`)).json() as any;
    const p = `${env.issuer}/protocol/openid-connect`;
    assert.equal(d.issuer, env.issuer);
    assert.equal(d.authorization_endpoint, `${p}/auth`);
    assert.equal(d.token_endpoint, `${p}/token`);
    assert.equal(d.jwks_uri, `${p}/certs`);
    assert.equal(d.userinfo_endpoint, `${p}/userinfo`);
    assert.equal(d.end_session_endpoint, `${p}/logout`);
    assert.equal(d.introspection_endpoint, `${p}/token/introspect`);
    assert.equal(d.revocation_endpoint, `${p}/revoke`);
    assert.deepEqual(d.response_types_supported, ['code']);
    assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
    assert.equal(d.registration_endpoint, undefined);
    // Nothing outside the profile is advertised.
    assert.deepEqual(d.response_modes_supported, ['query']);
    assert.equal(d.pushed_authorization_request_endpoint, undefined);
    assert.equal(d.dpop_signing_alg_values_supported, undefined);
    const prof = await (await fetch(`${env.issuer}/profile`)).json() as any;
    assert.equal(prof.version, '0.2');
    assert.deepEqual(prof.grants, ['authorization_code', 'refresh_token', 'client_credentials']);
    assert.ok(prof.scopes.custom.some((s: { name: string }) => s.name === 'keys.sign'));
    assert.ok(prof.unsupported.some((u: { feature: string }) => u.feature === 'token_exchange'));
  });

  it('publishes only public keys in certs, every version the signer holds', async () => {
    const jwks = await (await fetch(`${env.issuer}/protocol/openid-connect/certs`)).json() as any;
    const kids = (await env.signer.keys('main')).map((k) => k.kid).sort();
    assert.deepEqual(jwks.keys.map((k: { kid: string }) => k.kid).sort(), kids);
    for (const k of jwks.keys) assert.equal(k.d, undefined);
  });

  it('issues an ES256 at+jwt for the configured resource with profile claims and permissions', async () => {
    const res = await cc();
    assert.equal(res.status, 200, await res.clone().text());
    const body = await res.json() as any;
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.refresh_token, undefined);
    const header = decodeProtectedHeader(body.access_token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'ES256');
    const jwks = createRemoteJWKSet(new URL(`${env.issuer}/protocol/openid-connect/certs`));
    const { payload } = await jwtVerify(body.access_token, jwks, { issuer: env.issuer, audience: RESOURCE, typ: 'at+jwt' });
    assert.equal(payload.sub, 'svc');
    assert.equal(payload.client_id, 'svc');
    assert.equal(payload.scope, 'keys.sign');
    assert.deepEqual(payload.scp, ['keys.sign']);
    const none = await (await cc('svc', SECRETS.SVC_SECRET, { scope: '' })).json() as any;
    const bare = (await jwtVerify(none.access_token, createRemoteJWKSet(new URL(`${env.issuer}/protocol/openid-connect/certs`)), { issuer: env.issuer })).payload;
    assert.deepEqual(bare.scp, [], 'scope or scp is in every access token, even with nothing granted');
    assert.equal(payload.principal_type, 'service');
    assert.equal(payload.tenant, 'tenant:acme');
    assert.deepEqual(payload.roles, ['signer']);
    assert.deepEqual(payload.permissions, ['keyward.key.app-*.sign']);
    assertProfileClaims(payload);
  });

  it('signs with RS256 per client and accepts client_secret_post', async () => {
    const res = await fetch(`${env.issuer}/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'svc-rs', client_secret: SECRETS.SVC_SECRET, scope: 'keys.sign' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const { access_token } = await res.json() as any;
    assert.equal(decodeProtectedHeader(access_token).alg, 'RS256');
    const jwks = createRemoteJWKSet(new URL(`${env.issuer}/protocol/openid-connect/certs`));
    const { payload } = await jwtVerify(access_token, jwks, { issuer: env.issuer, audience: RESOURCE });
    assert.equal(payload.principal_type, 'agent');
    assertProfileClaims(payload);
  });

  it('refuses a wrong secret with an OAuth body and the profile fields', async () => {
    const res = await cc('svc', 'wrong');
    assert.equal(res.status, 401);
    const body = await res.json() as any;
    assert.equal(body.error, 'invalid_client');
    assert.equal(body.profile_error_class, 'invalid_profile_usage');
    assert.equal(body.profile_version, '0.2');
    assert.ok(body.correlation_id);
  });

  it('stores client secrets only as argon2id hashes', async () => {
    const rows = await env.db.selectFrom('idp_clients').select(['client_id', 'secret_hash', 'metadata']).execute();
    for (const r of rows as Array<{ secret_hash: string; metadata: string }>) {
      assert.match(r.secret_hash, /^\$argon2id\$/);
      assert.ok(!r.metadata.includes('secret-0123'));
    }
  });

  it('keeps realms isolated', async () => {
    const res = await fetch(`${env.base}/realms/other/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { authorization: basic('svc', SECRETS.SVC_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    assert.equal(res.status, 401);
    assert.equal((await fetch(`${env.base}/realms/nope/.well-known/openid-configuration`)).status, 404);
  });
});

describe('idp: client ids cannot be told apart by timing', () => {
  let env: TestEnv;
  before(async () => {
    env = await startEnv();
  });
  after(async () => env?.close());

  // What a request costs is counted, not timed: the argon2id verifications it starts, seen as the native async
  // work @node-rs/argon2 queues (the resource types one verify() creates, whatever that binding names them).
  it('an unknown client pays one argon2id verification, like a wrong secret', async () => {
    const watch = async (what: Set<string> | undefined, fn: () => Promise<unknown>) => {
      const seen: string[] = [];
      const hook = createHook({ init: (_id, type) => void (type !== 'PROMISE' && (!what || what.has(type)) && seen.push(type)) });
      hook.enable();
      try {
        await fn();
      } finally {
        hook.disable();
      }
      return seen;
    };
    const hashed = await argonHash('x', { memoryCost: 1024, timeCost: 1, parallelism: 1 });
    const argon = new Set(await watch(undefined, () => argonVerify(hashed, 'y')));
    assert.ok(argon.size > 0, 'a verification is seen');
    const verifications = async (id: string, secret: string) =>
      (
        await watch(argon, async () => {
          const res = await fetch(`${env.issuer}/protocol/openid-connect/token`, {
            method: 'POST',
            headers: { authorization: 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
            body: 'grant_type=client_credentials',
          });
          assert.equal(res.status, 401);
          await res.arrayBuffer();
        })
      ).length;
    // The decoy hash is made on first use: warm it up, then count.
    await verifications('warm-up-unknown', 'some-secret');
    const wrongSecret = await verifications('svc', 'not-the-secret');
    assert.ok(wrongSecret >= 1, 'a wrong secret is verified');
    for (const id of ['nobody', 'nobody-else', 'svc-x']) assert.equal(await verifications(id, 'some-secret'), wrongSecret, `unknown client ${id}`);
  });
});
