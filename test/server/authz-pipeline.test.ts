// Authentication and authorization stages wired into the real app: JWT resource server, API keys with live
// reload, Cedar and external PDPs, explain, and the audit records of refusals.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fingerprint } from '../../src/authn/index.ts';
import { startIdp, type Idp } from '../authn/helpers.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { assertProblem, req } from '../support/http.ts';

const policies = join(import.meta.dirname, '..', '..', 'policies');

describe('JWT callers with the builtin PDP', () => {
  let idp: Idp;
  let t: TestKeyward;
  const env: NodeJS.ProcessEnv = {};
  before(async () => {
    idp = await startIdp();
    await idp.addKey('k1', 'ES256');
    const adminKey = randomBytes(32).toString('base64url');
    env.KW_ADMIN_HASH = fingerprint(adminKey);
    t = await startKeyward({
      env,
      config: {
        authn: {
          type: 'chain',
          authenticators: [
            { type: 'jwt', issuer: idp.issuer, audience: 'keyward', jwks_url: idp.jwksUrl, algorithms: ['ES256'] },
            { type: 'api_key', keys: [{ id: 'admin', hash_env: 'KW_ADMIN_HASH', scopes: ['keyward.*'] }] },
          ],
        },
      },
    });
    t.auth.authorization = `Bearer ${adminKey}`;
  });
  after(async () => {
    await t?.close();
    await idp?.close();
  });
  const token = (claims: Record<string, unknown>) =>
    idp.sign({ iss: idp.issuer, aud: 'keyward', sub: 'svc-payments', exp: Math.floor(Date.now() / 1000) + 300, iat: Math.floor(Date.now() / 1000), ...claims });

  test('permissions from the token decide; the missing permission is named; refusals are audited', async () => {
    const jwt = await token({ permissions: ['keyward.key.pay-*.create', 'keyward.key.pay-*.sign', '-keyward.key.pay-frozen.sign'] });
    const auth = { authorization: `Bearer ${jwt}` };
    assert.equal((await req(t.kw.app, { method: 'POST', url: '/v1/keys', headers: auth, payload: { key_id: 'pay-1', key_type: 'EC-P256' } })).status, 201);
    assert.equal((await req(t.kw.app, { method: 'POST', url: '/v1/keys/pay-1/sign', headers: auth, payload: { message: 'aGk=' } })).status, 200);
    const other = await req(t.kw.app, { method: 'POST', url: '/v1/keys', headers: auth, payload: { key_id: 'hr-1', key_type: 'EC-P256' } });
    assertProblem(other, 403, 'auth.scope_denied');
    assert.match(other.body.detail, /keyward\.key\.hr-1\.create/);
    await t.post('/v1/keys', { key_id: 'pay-frozen', key_type: 'EC-P256' });
    const frozen = await req(t.kw.app, { method: 'POST', url: '/v1/keys/pay-frozen/sign', headers: auth, payload: { message: 'aGk=' } });
    assertProblem(frozen, 403, 'auth.scope_denied');
    assert.match(frozen.body.detail, /denied by grant -keyward\.key\.pay-frozen\.sign/);
    const denied = t.auditLines.map((l) => JSON.parse(l)).filter((e) => e.event_type === 'authz.denied');
    assert.ok(denied.some((e) => e.resource.id === 'hr-1' && e.principal.id === 'svc-payments' && e.outcome === 'denied' && e.error_code === 'auth.scope_denied'));
    assert.ok(!t.auditLines.some((l) => l.includes(jwt)), 'the token never reaches the audit trail');
  });

  test('overwriting an existing key needs the overwrite permission as well as create', async () => {
    const jwt = await token({ permissions: ['keyward.key.pay-*.create'] });
    const r = await req(t.kw.app, { method: 'POST', url: '/v1/keys', headers: { authorization: `Bearer ${jwt}` }, payload: { key_id: 'pay-1', key_type: 'EC-P256', overwrite: true } });
    assertProblem(r, 403, 'auth.scope_denied');
    assert.match(r.body.detail, /keyward\.key\.pay-1\.overwrite/);
  });

  test('importing over an existing key needs the overwrite permission as well as import', async () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await t.post('/v1/keys', { key_id: 'pay-imp', key_type: 'EC-P256' });
    const before = (await t.get('/v1/keys/pay-imp')).body.fingerprint;
    const body = { key_id: 'pay-imp', key_type: 'EC-P256', private_key_pem: pem, overwrite: true };
    const importOnly = await token({ permissions: ['keyward.key.pay-*.import'] });
    const r = await req(t.kw.app, { method: 'POST', url: '/v1/keys/import', headers: { authorization: `Bearer ${importOnly}` }, payload: body });
    assertProblem(r, 403, 'auth.scope_denied');
    assert.match(r.body.detail, /keyward\.key\.pay-imp\.overwrite/);
    assert.equal((await t.get('/v1/keys/pay-imp')).body.fingerprint, before, 'the key is untouched');
    const both = await token({ permissions: ['keyward.key.pay-*.import', 'keyward.key.pay-*.overwrite'] });
    assert.equal((await req(t.kw.app, { method: 'POST', url: '/v1/keys/import', headers: { authorization: `Bearer ${both}` }, payload: body })).status, 201);
  });

  test('two Authorization headers are refused, whichever comes first', async () => {
    const good = await token({ permissions: ['keyward.keys.list'] });
    for (const headers of [[`Bearer ${good}`, 'Bearer junk'], ['Bearer junk', `Bearer ${good}`]]) {
      const r = await t.kw.app.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: headers } as unknown as Record<string, string> });
      assert.equal(r.statusCode, 401, r.body);
      assert.equal(JSON.parse(r.body).code, 'auth.malformed_credential');
    }
  });

  test('invalid tokens fail with their own codes and never fall through to the API key', async () => {
    const expired = await token({ exp: Math.floor(Date.now() / 1000) - 3600, permissions: ['keyward.*'] });
    const r = await req(t.kw.app, { method: 'GET', url: '/v1/keys', headers: { authorization: `Bearer ${expired}`, 'x-api-key': 'whatever' } });
    assertProblem(r, 401, 'auth.token_expired');
    assert.match(String(r.headers['www-authenticate']), /invalid_token/);
    const wrongAud = await idp.sign({ iss: idp.issuer, aud: 'other', sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 });
    assertProblem(await req(t.kw.app, { method: 'GET', url: '/v1/keys', headers: { authorization: `Bearer ${wrongAud}` } }), 401, 'auth.audience_mismatch');
  });

  test('POST /v1/authz/explain names the matching grants, for the caller or a what-if principal', async () => {
    const self = await t.post('/v1/authz/explain', { action: 'kms:Sign', key_id: 'pay-1' });
    assert.equal(self.body.allowed, true);
    assert.deepEqual(self.body.matched, ['keyward.*']);
    const whatIf = await req(t.kw.app, {
      method: 'POST',
      url: '/v1/authz/explain',
      headers: t.auth,
      payload: { action: 'kms:Sign', key_id: 'pay-1', principal: { id: 'bob', permissions: ['keyward.key.pay-*.sign', '-keyward.key.pay-1.*'] } },
    });
    assert.equal(whatIf.body.allowed, false);
    assert.equal(whatIf.body.denied_by, '-keyward.key.pay-1.*');
    const jwt = await token({ permissions: ['keyward.key.pay-*.sign'] });
    assertProblem(await req(t.kw.app, { method: 'POST', url: '/v1/authz/explain', headers: { authorization: `Bearer ${jwt}` }, payload: { action: 'kms:Sign' } }), 403, 'auth.scope_denied');
  });

  test('API keys reload live through POST /v1/sys/reload', async () => {
    const fresh = randomBytes(32).toString('base64url');
    const before = await req(t.kw.app, { method: 'GET', url: '/v1/keys', headers: { 'x-api-key': fresh } });
    assertProblem(before, 401, 'auth.invalid_credential');
    env.KW_ADMIN_HASH = fingerprint(fresh);
    const reload = await t.post('/v1/sys/reload');
    assert.equal(reload.status, 200);
    assert.deepEqual(reload.body.reloaded, ['authn']);
    assert.equal((await req(t.kw.app, { method: 'GET', url: '/v1/keys', headers: { 'x-api-key': fresh } })).status, 200);
    t.auth.authorization = `Bearer ${fresh}`;
  });
});

describe('policy decision points in the app', () => {
  test('embedded Cedar: starter policies permit a team service to sign its own keys and forbid others', async () => {
    const idp = await startIdp();
    await idp.addKey('k1', 'ES256');
    const t = await startKeyward({
      config: {
        authn: { type: 'jwt', issuer: idp.issuer, audience: 'keyward', jwks_url: idp.jwksUrl, algorithms: ['ES256'] },
        authz: { pdp: { type: 'cedar', policies_path: policies, schema_path: join(policies, 'keyward.cedarschema'), watch: false } },
      },
    });
    try {
      // Keys are created directly through the service (the caller here has no admin policy).
      const ctx = { principal: null, requestId: 'setup' };
      await t.kw.keys.create(ctx, { id: 'pay-key', type: 'EC-P256', labels: { team: 'payments' } });
      await t.kw.keys.create(ctx, { id: 'hr-key', type: 'EC-P256', labels: { team: 'hr' } });
      const jwt = await idp.sign({ iss: idp.issuer, aud: 'keyward', client_id: 'payments', exp: Math.floor(Date.now() / 1000) + 60 });
      const auth = { authorization: `Bearer ${jwt}` };
      assert.equal((await req(t.kw.app, { method: 'POST', url: '/v1/keys/pay-key/sign', headers: auth, payload: { message: 'aGk=' } })).status, 200);
      const r = await req(t.kw.app, { method: 'POST', url: '/v1/keys/hr-key/sign', headers: auth, payload: { message: 'aGk=' } });
      assertProblem(r, 403, 'authz.denied');
      const explained = await req(t.kw.app, { method: 'POST', url: '/v1/authz/explain', headers: auth, payload: { action: 'kms:Sign', key_id: 'pay-key' } });
      assertProblem(explained, 403, 'authz.denied');
      // Grants carried by the credential bound what the policies may permit.
      const scoped = async (permissions: string[]) => ({ authorization: `Bearer ${await idp.sign({ iss: idp.issuer, aud: 'keyward', client_id: 'payments', permissions, exp: Math.floor(Date.now() / 1000) + 60 })}` });
      const outside = await req(t.kw.app, { method: 'POST', url: '/v1/keys/pay-key/sign', headers: await scoped(['keyward.key.pay-*.verify']), payload: { message: 'aGk=' } });
      assertProblem(outside, 403, 'auth.scope_denied');
      assert.match(outside.body.detail, /keyward\.key\.pay-key\.sign/);
      assert.equal((await req(t.kw.app, { method: 'POST', url: '/v1/keys/pay-key/sign', headers: await scoped(['keyward.key.pay-*.sign']), payload: { message: 'aGk=' } })).status, 200);
      assertProblem(await req(t.kw.app, { method: 'POST', url: '/v1/keys/hr-key/sign', headers: await scoped(['keyward.key.*.sign']), payload: { message: 'aGk=' } }), 403, 'authz.denied');
    } finally {
      await t.close();
      await idp.close();
    }
  });

  test('external HTTP PDP unreachable: every operation is denied 503 authz.pdp_unavailable (fail closed)', async () => {
    const t = await startKeyward({ config: { authz: { pdp: { type: 'http', endpoint: 'http://127.0.0.1:9/v1/authorize', timeout_ms: 500 } } } });
    try {
      const r = await t.get('/v1/keys');
      assertProblem(r, 503, 'authz.pdp_unavailable');
      assert.ok(t.auditLines.some((l) => l.includes('"authz.pdp_unavailable"')));
    } finally {
      await t.close();
    }
  });
});
