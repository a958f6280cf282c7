import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { assertProblem, req } from '../support/http.ts';

describe('server surface', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward();
  });
  after(() => t.close());

  test('every response carries x-request-id; a sane client id is kept, an insane one replaced', async () => {
    const kept = await req(t.kw.app, { method: 'GET', url: '/v1/keys/nope', headers: { ...t.auth, 'x-request-id': 'trace-123.abc' } });
    assert.equal(kept.headers['x-request-id'], 'trace-123.abc');
    assert.equal(kept.body.request_id, 'trace-123.abc');
    const replaced = await req(t.kw.app, { method: 'GET', url: '/healthz', headers: { 'x-request-id': 'bad id\twith "quotes"' } });
    assert.match(String(replaced.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const fresh = await req(t.kw.app, { method: 'GET', url: '/healthz' });
    assert.match(String(fresh.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  test('healthz is alive; readyz reports storage, seal and audit', async () => {
    assert.deepEqual((await req(t.kw.app, { method: 'GET', url: '/healthz' })).body, { status: 'ok' });
    const r = await req(t.kw.app, { method: 'GET', url: '/readyz' });
    assert.deepEqual(r.body, { status: 'ready', checks: { storage: true, unsealed: true, audit: true } });
  });

  test('metrics: requests by route and status, latency, key operations by type and outcome, seal state', async () => {
    await t.post('/v1/keys', { key_id: 'm', key_type: 'EC-P256' });
    await t.post('/v1/keys/m/sign', { message: 'aGk=' });
    await t.post('/v1/keys/m/sign', { digest: 'aGk=', hash_algorithm: 'SHA-256' });
    const m = (await req(t.kw.app, { method: 'GET', url: '/metrics' })).body as string;
    assert.match(m, /keyward_http_requests_total\{method="POST",route="\/v1\/keys\/:id\/sign",status="200"\} 1/);
    assert.match(m, /keyward_http_requests_total\{method="POST",route="\/v1\/keys\/:id\/sign",status="400"\} 1/);
    assert.match(m, /keyward_http_request_duration_seconds_bucket\{le="0.005",method="POST",route="\/v1\/keys\/:id\/sign",status="200"\}/);
    assert.match(m, /keyward_key_operations_total\{operation="sign",key_type="EC-P256",outcome="success"\} 1/);
    assert.match(m, /keyward_key_operations_total\{operation="sign",key_type="unknown",outcome="error"\} 1/);
    assert.match(m, /^keyward_sealed 0$/m);
  });

  test('OpenAPI 3.1 generated from the route schemas, and a docs page', async () => {
    const doc = (await req(t.kw.app, { method: 'GET', url: '/openapi.json' })).body;
    assert.equal(doc.openapi, '3.1.0');
    for (const p of ['/v1/keys', '/v1/keys/{id}/sign', '/v1/keys/{id}/rotate', '/v1/sys/unseal', '/spirl/keys/{id}/sign']) assert.ok(doc.paths[p], `missing ${p}`);
    const sign = doc.paths['/v1/keys/{id}/sign'].post;
    assert.ok(sign.requestBody.content['application/json'].schema.properties.digest);
    // A body that requires nothing may be left out (its defaults apply); one with required fields may not.
    assert.equal(sign.requestBody.required, true);
    assert.equal(doc.paths['/v1/keys/{id}/datakey'].post.requestBody.required, false);
    assert.equal(doc.paths['/v1/sys/unseal'].post.requestBody.required, false);
    const docs = await t.kw.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
  });

  test('every credential-less request to a guarded route is 401 problem+json with WWW-Authenticate', async () => {
    const doc = (await req(t.kw.app, { method: 'GET', url: '/openapi.json' })).body;
    const open: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { security?: unknown[] }>>)) {
      for (const [method, op] of Object.entries(ops)) {
        // A public route says so with an empty security requirement; the rest need a credential.
        if (op.security?.length === 0) {
          open.push(`${method} ${path}`);
          continue;
        }
        const url = path.replace('{id}', 'k1');
        const r = await req(t.kw.app, { method: method.toUpperCase() as 'GET', url, ...(method === 'post' ? { payload: {} } : {}) });
        assertProblem(r, 401, 'auth.missing_credential');
        assert.match(String(r.headers['www-authenticate']), /^Bearer /);
      }
    }
    assert.deepEqual(open.sort(), ['get /healthz', 'get /metrics', 'get /openapi.json', 'get /readyz', 'get /v1/audit/public-key']);
  });

  test('a wrong API key is 401 auth.invalid_credential and is audited; logs never carry the key', async () => {
    const r = await req(t.kw.app, { method: 'GET', url: '/v1/keys', headers: { 'x-api-key': 'not-the-key' } });
    assert.equal(r.status, 401);
    assert.ok(t.auditLines.some((l) => l.includes('"auth.failure"')));
    const all = [...t.logs, ...t.auditLines].join('\n');
    assert.ok(!all.includes(t.token));
  });
});
