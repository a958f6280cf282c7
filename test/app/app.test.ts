// The app's answers at its edges: requests no route takes (an unknown path, a known path with another method), and
// bodies it will not read.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { assertProblem, req } from '../support/http.ts';

describe('the app at its edges', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward();
    await t.post('/v1/keys', { key_id: 'k', key_type: 'EC-P256' });
  });
  after(() => t.close());
  const call = (method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS', url: string) => req(t.kw.app, { method, url, headers: t.auth });

  test('a path that exists with other methods is 405 with Allow (RFC 9110 §15.5.6), not 404', async () => {
    for (const [method, url, allow] of [
      ['DELETE', '/v1/keys/k', 'GET, HEAD'],
      ['PUT', '/v1/keys', 'GET, HEAD, POST'],
      ['OPTIONS', '/v1/keys', 'GET, HEAD, POST'],
      ['GET', '/v1/keys/k/sign', 'POST'],
      ['GET', '/v1/random?bytes=16', 'POST'],
      ['POST', '/healthz', 'GET, HEAD'],
    ] as const) {
      const r = await call(method, url);
      assertProblem(r, 405, 'request.method_not_allowed');
      assert.equal(r.headers['allow'], allow, `${method} ${url}`);
      assert.equal(r.headers['retry-after'], undefined);
    }
    const head = await call('HEAD', '/v1/keys/k/sign');
    assert.equal(head.status, 405);
    assert.equal(head.headers['allow'], 'POST');
  });

  test('a path no route has is still 404 route.not_found, without Allow', async () => {
    for (const url of ['/v1/nope', '/v1/keys/k/sign/extra', '/V1/KEYS']) {
      const r = await call('GET', url);
      assertProblem(r, 404, 'route.not_found');
      assert.equal(r.headers['allow'], undefined);
    }
  });

  test('/openapi.json documents 405 once, as the answer of paths rather than of any operation', async () => {
    const doc = (await req(t.kw.app, { method: 'GET', url: '/openapi.json' })).body;
    assert.deepEqual(doc.components.responses.Problem405.content['application/problem+json'].schema.properties.code.enum, ['request.method_not_allowed']);
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)) {
      for (const [method, op] of Object.entries(ops)) assert.equal(op.responses['405'], undefined, `${method} ${path}`);
    }
  });

  test('a content coding is 415 (RFC 9110 §15.5.16): the body is neither decoded nor read as if it were plain', async () => {
    const body = '{"message":"aGk="}';
    for (const coding of ['gzip', 'deflate, gzip', 'br']) {
      const r = await req(t.kw.app, { method: 'POST', url: '/v1/keys/k/sign', headers: { ...t.auth, 'content-type': 'application/json', 'content-encoding': coding }, payload: body });
      assertProblem(r, 415, 'request.unsupported_media_type');
    }
    const plain = await req(t.kw.app, { method: 'POST', url: '/v1/keys/k/sign', headers: { ...t.auth, 'content-type': 'application/json', 'content-encoding': 'identity' }, payload: body });
    assert.equal(plain.status, 200);
  });
});
