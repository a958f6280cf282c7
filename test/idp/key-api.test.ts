// The two faces together: a token from Keyward's identity provider accepted by Keyward's key API, signing
// keys held by the key service, and break-glass tokens — in dev mode, as the quickstart shows.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.ts';
import { createKeyward, type Keyward } from '../../src/app/compose.ts';
import { breakGlassAmr } from '../../src/idp/break-glass.ts';
import { assertProfileClaims } from './support/claims.ts';
import { freePort } from './support/env.ts';

describe('identity provider tokens at the key API (dev mode)', () => {
  let kw: Keyward;
  let base: string;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-idp-keyapi-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = parseConfig({
      mode: 'dev',
      server: { port },
      storage: { type: 'sqlite', path: join(dir, 'kw.db') },
      seal: { dev_unseal_file: join(dir, 'unseal.json') },
      audit: { signing_key_path: join(dir, 'audit.pem'), sinks: [{ type: 'file', path: join(dir, 'audit.log') }] },
    });
    const { generateSigningKeyFile } = await import('../../src/audit/keys.ts');
    await generateSigningKeyFile(join(dir, 'audit.pem'));
    kw = await createKeyward(config, { logger: pino({ level: 'silent' }) });
    await kw.app.listen({ host: '127.0.0.1', port });
  });
  after(async () => {
    await kw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = (path: string, token: string, body?: unknown) =>
    fetch(base + path, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });

  test("the sign-in pages' theme and the profile document keep their caching; protocol answers stay no-store", async () => {
    const page = await fetch(`${base}/realms/keyward/profile`);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const plain = await fetch(`${base}/realms/keyward/theme/style.css`);
    assert.equal(plain.headers.get('cache-control'), 'public, no-cache');
    const etag = plain.headers.get('etag')!;
    const versioned = await fetch(`${base}/realms/keyward/theme/style.css?v=${etag.replaceAll('"', '')}`);
    assert.equal(versioned.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const client = kw.devClient!;
    const token = await fetch(client.tokenUrl, { method: 'POST', headers: { authorization: 'Basic ' + Buffer.from(`${client.clientId}:${client.secret}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    assert.equal(token.status, 200);
    assert.equal(token.headers.get('cache-control'), 'no-store');
    assert.equal((await fetch(`${base}/v1/keys`)).headers.get('cache-control'), 'no-store');
    // Oversized: an OAuth error here too, not the key API's problem+json.
    const big = await fetch(client.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&scope=${'a'.repeat(70_000)}` });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: string }).error, 'invalid_request');
    assert.equal(big.headers.get('cache-control'), 'no-store');
  });

  test('client credentials at the IdP, then sign at the key API with that token', async () => {
    assert.equal((await api('/v1/keys', kw.devToken!, { key_id: 'demo', key_type: 'EC-P256' })).status, 201);
    const client = kw.devClient!;
    const res = await fetch(client.tokenUrl, {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(`${client.clientId}:${client.secret}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    assert.equal(res.status, 200);
    const { access_token } = (await res.json()) as { access_token: string };
    assert.equal(decodeProtectedHeader(access_token).typ, 'at+jwt');
    const issuer = `${base}/realms/keyward`;
    const { payload } = await jwtVerify(access_token, createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`)), { issuer, audience: 'urn:keyward:key-api' });
    assertProfileClaims(payload);
    assert.equal(payload['principal_type'], 'service');
    const sign = await api('/v1/keys/demo/sign', access_token, { message: 'aGk=' });
    assert.equal(sign.status, 200, await sign.clone().text());
    // The role grants sign, not destroy.
    const destroy = await api('/v1/keys/demo/destroy', access_token, {});
    assert.equal(destroy.status, 403);
  });

  test('the token signing keys live in the key service and are published in certs', async () => {
    const certs = (await (await fetch(`${base}/realms/keyward/protocol/openid-connect/certs`)).json()) as { keys: Array<{ kid: string; alg: string; d?: string }> };
    const es = await kw.keys.describe('keyward-idp-keyward-es256');
    const v = es.versions.at(-1)!;
    assert.ok(certs.keys.some((k) => k.kid === `${v.fingerprint}:v${v.version}` && k.alg === 'ES256'));
    assert.ok(certs.keys.every((k) => k.d === undefined), 'no private parts in certs');
  });

  test('break-glass: a 10-minute token with assurance break_glass and the incident, accepted and audited', async () => {
    const r = await api('/v1/idp/break-glass', kw.devToken!, { incident_id: 'INC-42', authorized_by: 'alice', reason: 'primary IdP down' });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { access_token: string; expires_in: number };
    assert.equal(body.expires_in, 600);
    const issuer = `${base}/realms/keyward`;
    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`)), { issuer });
    assertProfileClaims(payload);
    assert.equal((payload['assurance'] as { level: string }).level, 'break_glass');
    // RFC 8176 values only: the caller authenticated with the bootstrap token, a secret presented by value.
    assert.equal(payload['acr'], 'break_glass');
    assert.deepEqual(payload['amr'], ['pwd']);
    assert.deepEqual(payload['emergency'], { incident_id: 'INC-42', authorized_by: 'alice', reason: 'primary IdP down' });
    assert.equal(payload.exp! - payload.iat!, 600);
    assert.equal((await api('/v1/keys', body.access_token)).status, 200);
    await kw.audit.flush();
    const { readFileSync } = await import('node:fs');
    const log = readFileSync(join(dir, 'audit.log'), 'utf8');
    assert.match(log, /"event_type":"idp\.break_glass"/);
    assert.ok(!log.includes(body.access_token), 'the token itself is never audited');
    const denied = await fetch(`${base}/v1/idp/break-glass`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"incident_id":"x","authorized_by":"y","reason":"z"}' });
    assert.equal(denied.status, 401);
  });
});

test('break-glass amr names how the caller authenticated, in registered values only, never as a second factor', () => {
  assert.deepEqual(breakGlassAmr('api_key'), ['pwd']);
  assert.deepEqual(breakGlassAmr('bootstrap_token'), ['pwd']);
  assert.deepEqual(breakGlassAmr('mtls'), ['pop']);
  // Authenticated where Keyward cannot see how: no amr rather than a guess.
  assert.equal(breakGlassAmr('jwt'), undefined);
  assert.equal(breakGlassAmr('forwarded_identity'), undefined);
  assert.equal(breakGlassAmr(undefined), undefined);
});

describe('identity provider signing key rotation', () => {
  test('a rotation in the key service publishes the new version at once; it signs after dev mode\'s lead time (60 s)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-idp-rotate-'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const { generateSigningKeyFile } = await import('../../src/audit/keys.ts');
    await generateSigningKeyFile(join(dir, 'audit.pem'));
    const kw = await createKeyward(parseConfig({
      mode: 'dev',
      server: { port },
      storage: { type: 'sqlite', path: join(dir, 'kw.db') },
      seal: { dev_unseal_file: join(dir, 'unseal.json') },
      audit: { signing_key_path: join(dir, 'audit.pem'), sinks: [{ type: 'file', path: join(dir, 'audit.log') }] },
    }), { logger: pino({ level: 'silent' }) });
    try {
      await kw.app.listen({ host: '127.0.0.1', port });
      const client = kw.devClient!;
      const token = async () => {
        const r = await fetch(client.tokenUrl, {
          method: 'POST',
          headers: { authorization: 'Basic ' + Buffer.from(`${client.clientId}:${client.secret}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        });
        assert.equal(r.status, 200);
        return ((await r.json()) as { access_token: string }).access_token;
      };
      const before = await token();
      const kidBefore = decodeProtectedHeader(before).kid!;
      assert.match(kidBefore, /:v1$/);
      const rotated = await fetch(`${base}/v1/keys/keyward-idp-keyward-es256/rotate`, { method: 'POST', headers: { authorization: `Bearer ${kw.devToken}` } });
      assert.equal(rotated.status, 200);
      const certs = async () => ((await (await fetch(`${base}/realms/keyward/protocol/openid-connect/certs`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
      for (let i = 0; i < 20 && !(await certs()).some((k) => k.endsWith(':v2')); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok((await certs()).some((k) => k.endsWith(':v2')), 'the next version is published');
      assert.ok((await certs()).includes(kidBefore), 'the current one too');
      const after = await token();
      assert.equal(decodeProtectedHeader(after).kid, kidBefore, 'and the current one keeps signing during the lead time');
      const jwks = createRemoteJWKSet(new URL(`${base}/realms/keyward/protocol/openid-connect/certs`));
      const issuer = `${base}/realms/keyward`;
      await jwtVerify(before, jwks, { issuer });
      await jwtVerify(after, jwks, { issuer });
      // And the key API still accepts both.
      for (const t of [before, after]) {
        const r = await fetch(`${base}/v1/keys`, { headers: { authorization: `Bearer ${t}` } });
        assert.equal(r.status, 200);
      }
    } finally {
      await kw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
