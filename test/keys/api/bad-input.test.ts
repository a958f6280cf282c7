// Every endpoint facing bad input: a problem+json with its own code, no crash, no partial state.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { assertProblem, req } from '../../support/http.ts';

describe('bad input', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward({ config: { server: { body_limit: 4096 } } });
    await req(t.kw.app, { method: 'POST', url: '/v1/keys', headers: t.auth, payload: { key_id: 'ok', key_type: 'EC-P256' } });
  });
  after(() => t.close());
  const raw = (method: 'GET' | 'POST', url: string, body?: string, ct = 'application/json') =>
    req(t.kw.app, { method, url, headers: { ...t.auth, ...(body !== undefined ? { 'content-type': ct } : {}) }, ...(body !== undefined ? { payload: body } : {}) });

  test('malformed JSON, wrong types, unknown fields, missing fields', async () => {
    assertProblem(await raw('POST', '/v1/keys', '{"key_id": "x", '), 400, 'request.malformed_json');
    assertProblem(await raw('POST', '/v1/keys', '{"key_id":"x","key_type":256}'), 400, 'request.invalid');
    assertProblem(await raw('POST', '/v1/keys', '{"key_id":"x","key_type":"EC-P256","colour":"red"}'), 400, 'request.invalid');
    assertProblem(await raw('POST', '/v1/keys', '{"key_id":"x"}'), 400, 'request.invalid');
    assertProblem(await raw('POST', '/v1/keys', '[]'), 400, 'request.invalid');
    assertProblem(await raw('POST', '/v1/keys', '{"__proto__":{"x":1},"key_type":"EC-P256"}'), 400, 'request.malformed_json');
    assertProblem(await raw('POST', '/v1/keys/ok/sign', '{"message":"***"}'), 400, 'request.invalid_base64');
    assertProblem(await raw('POST', '/v1/keys/ok/sign', '{"message":"aGk=","digest":"aGk="}'), 400, 'crypto.input_invalid');
    assertProblem(await raw('POST', '/v1/keys', 'key_type=EC-P256', 'application/x-www-form-urlencoded'), 415, 'request.unsupported_media_type');
  });

  test('oversized bodies are 413 with the configured limit', async () => {
    const big = JSON.stringify({ message: 'A'.repeat(8000) });
    assertProblem(await raw('POST', '/v1/keys/ok/sign', big), 413, 'request.body_too_large');
  });

  test('unsupported key types are 400; unknown ids 404; bad ids have their own code', async () => {
    assertProblem(await raw('POST', '/v1/keys', '{"key_id":"x","key_type":"EC-P224"}'), 400, 'request.invalid');
    assertProblem(await raw('GET', '/v1/keys/missing'), 404, 'key.not_found');
    assertProblem(await raw('POST', '/v1/keys/missing/sign', '{"message":"aGk="}'), 404, 'key.not_found');
    for (const bad of ['.hidden', '..%2F..%2Fetc%2Fpasswd', 'a%00b', 'tab%09id', 'x'.repeat(129), 'caf%C3%A9', 'a%2Fb']) {
      assertProblem(await raw('GET', `/v1/keys/${bad}`), 400, 'key.invalid_id');
    }
    for (const bad of ['../escape', 'with space', 'nul\u0000byte', '']) {
      assertProblem(await raw('POST', '/v1/keys', JSON.stringify({ key_id: bad, key_type: 'EC-P256' })), 400, 'key.invalid_id');
    }
    assertProblem(await raw('POST', '/v1/keys', JSON.stringify({ key_id: 'lbl', key_type: 'EC-P256', labels: { 'Bad Key': 'v' } })), 400, 'key.invalid_label');
  });

  test('no partial state: refused creates leave nothing behind', async () => {
    const before = (await raw('GET', '/v1/keys?limit=1000')).body.keys.length;
    await raw('POST', '/v1/keys', JSON.stringify({ key_id: 'lbl2', key_type: 'EC-P256', labels: { 'Bad Key': 'v' } }));
    await raw('POST', '/v1/keys/import', JSON.stringify({ key_id: 'imp', key_type: 'EC-P256', private_key_pem: 'garbage' }));
    assert.equal((await raw('GET', '/v1/keys?limit=1000')).body.keys.length, before);
  });

  test('unknown routes are problem+json 404; the process keeps serving', async () => {
    assertProblem(await raw('GET', '/v1/nope'), 404, 'route.not_found');
    assert.equal((await raw('GET', '/healthz')).status, 200);
  });
});
