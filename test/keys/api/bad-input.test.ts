// Every endpoint facing bad input: a problem+json with its own code, no crash, no partial state.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { assertProblem, req } from '../../support/http.ts';

describe('bad input', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward({ config: { server: { body_limit: 4096 } } });
    await t.post('/v1/keys', { key_id: 'ok', key_type: 'EC-P256' });
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

  test('a query on a route that takes none is refused, not ignored: sign?version=2 would sign with the newest', async () => {
    const get = (url: string) => req(t.kw.app, { method: 'GET', url, headers: t.auth });
    assertProblem(await raw('POST', '/v1/keys/ok/sign?version=2', '{"message":"aGk="}'), 400, 'request.invalid');
    assertProblem(await raw('POST', '/v1/keys/ok/rotate?x=1'), 400, 'request.invalid');
    assertProblem(await get('/v1/keys/ok?version=1'), 400, 'request.invalid');
    assertProblem(await get('/v1/keys/ok/jwks?version=1'), 400, 'request.invalid');
    // Routes that take a query keep it, and an empty query string is no query.
    assert.equal((await get('/v1/keys/ok/public-key?version=1')).status, 200);
    assert.equal((await get('/v1/keys/ok?')).status, 200);
    assert.equal((await raw('POST', '/v1/keys/ok/sign', '{"message":"aGk="}')).status, 200);
  });

  test('exactly one of message or digest is judged with the body, before any key is looked up or unwrapped', async () => {
    // A key that does not exist: were the key loaded first, these would be 404 key.not_found.
    for (const url of ['/v1/keys/missing/sign', '/v1/keys/missing/verify']) {
      const signature = url.endsWith('verify') ? { signature: 'aGk=' } : {};
      for (const body of [{ message: 'aGk=', digest: 'aGk=' }, {}]) {
        const r = await raw('POST', url, JSON.stringify({ ...body, ...signature }));
        assertProblem(r, 400, 'crypto.input_invalid');
        assert.equal(r.body.detail, 'send exactly one of message or digest');
      }
    }
    assertProblem(await raw('POST', '/v1/keys/missing/verify', '{"message":"aGk=","signature":"aGk="}'), 404, 'key.not_found');
    // The OpenAPI document states the rule too.
    const doc = (await req(t.kw.app, { method: 'GET', url: '/openapi.json' })).body;
    const sign = doc.paths['/v1/keys/{id}/sign'].post.requestBody.content['application/json'].schema;
    assert.deepEqual(sign.oneOf, [{ required: ['message'] }, { required: ['digest'] }]);
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
    assertProblem(await raw('POST', '/v1/keys', JSON.stringify({ key_id: 'desc', key_type: 'EC-P256', description: 'a\u001b[31mred' })), 400, 'key.invalid_description');
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

  test('options for another key type are refused, not ignored', async () => {
    await raw('POST', '/v1/keys', '{"key_id":"rsa","key_type":"RSA-2048"}');
    await raw('POST', '/v1/keys', '{"key_id":"ed","key_type":"Ed25519"}');
    assertProblem(await raw('POST', '/v1/keys/rsa/sign', '{"message":"eA==","signature_format":"raw"}'), 400, 'crypto.ecdsa_format_unsupported');
    assertProblem(await raw('POST', '/v1/keys/ok/sign', '{"message":"eA==","rsa_padding":"pss"}'), 400, 'crypto.rsa_padding_unsupported');
    assertProblem(await raw('POST', '/v1/keys/ed/sign', '{"message":"eA==","hash_algorithm":"SHA-384"}'), 400, 'crypto.hash_algorithm_unsupported');
    assertProblem(await raw('POST', '/v1/keys/ok/jwt', '{"payload":{},"rsa_padding":"pss"}'), 400, 'crypto.rsa_padding_unsupported');
    const sig = Buffer.alloc(256).toString('base64');
    assertProblem(await raw('POST', '/v1/keys/rsa/verify', JSON.stringify({ message: 'eA==', signature: sig, signature_format: 'raw' })), 400, 'crypto.ecdsa_format_unsupported');
  });

  test('JWT claims: registered claim types, nesting depth and typ are checked', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = { a: deep };
    assertProblem(await raw('POST', '/v1/keys/ok/jwt', JSON.stringify({ payload: deep })), 400, 'crypto.jwt_claims_invalid');
    assertProblem(await raw('POST', '/v1/keys/ok/jwt', '{"payload":{"exp":"tomorrow"}}'), 400, 'crypto.jwt_claims_invalid');
    assertProblem(await raw('POST', '/v1/keys/ok/jwt', '{"payload":{"aud":[1]}}'), 400, 'crypto.jwt_claims_invalid');
    assertProblem(await raw('POST', '/v1/keys/ok/jwt', '{"payload":{},"typ":"a\\r\\nb"}'), 400, 'crypto.jwt_header_invalid');
    assert.equal((await raw('POST', '/v1/keys/ok/jwt', '{"payload":{"exp":2000000000,"aud":["a","b"],"sub":"s","nested":{"a":{"b":1}}}}')).status, 200);
  });

  test('text/plain is 415; an empty JSON body is request.empty_body', async () => {
    assertProblem(await raw('POST', '/v1/random', '{"bytes":4}', 'text/plain'), 415, 'request.unsupported_media_type');
    assertProblem(await raw('POST', '/v1/random', ''), 400, 'request.empty_body');
    assertProblem(await t.post('/v1/random'), 400, 'request.empty_body');
  });

  test('ids in bodies: any length outside the grammar is key.invalid_id', async () => {
    for (const id of ['x'.repeat(129), 'x'.repeat(300), 'x'.repeat(3000)]) {
      assertProblem(await raw('POST', '/v1/keys', JSON.stringify({ key_id: id, key_type: 'EC-P256' })), 400, 'key.invalid_id');
    }
  });

  test('label filters follow the label grammar; __proto__ cannot drop the filter', async () => {
    for (const f of ['__proto__=x', 'Bad%20Name=x', 'a=b%0a', '=x', 'noequals']) {
      assertProblem(await raw('GET', `/v1/keys?label=${f}`), 400, 'request.invalid_label_filter');
    }
    assert.deepEqual((await raw('GET', '/v1/keys?label=nope=x')).body.keys, []);
  });

  test('errors the framework raises before routing carry the common headers', async () => {
    for (const url of ['/v1/keys/%zz', `/v1/keys/${'x'.repeat(600)}`]) {
      const r = await raw('GET', url);
      assert.ok(r.status === 400 || r.status === 414, `${url}: ${r.status}`);
      assert.equal(typeof r.headers['x-request-id'], 'string');
      assert.equal(r.headers['x-request-id'], r.body.request_id);
      assert.equal(r.headers['cache-control'], 'no-store');
    }
  });
});

describe('requests the HTTP parser refuses are problem+json too', () => {
  let t: TestKeyward;
  let port: number;
  before(async () => {
    t = await startKeyward();
    await t.kw.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.kw.app.server.address() as { port: number }).port;
  });
  after(() => t.close());

  function rawHttp(request: string): Promise<{ head: string; body: any }> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => s.write(request));
      let data = '';
      s.on('data', (c) => (data += c.toString()));
      s.on('error', reject);
      s.on('close', () => {
        const [head, body] = [data.slice(0, data.indexOf('\r\n\r\n')), data.slice(data.indexOf('\r\n\r\n') + 4)];
        resolve({ head, body: JSON.parse(body) });
      });
    });
  }

  test('a garbled request line is 400 request.malformed_http; oversized headers are 431', async () => {
    const bad = await rawHttp('GARBAGE\r\n\r\n');
    assert.match(bad.head, /^HTTP\/1\.1 400 /);
    assert.match(bad.head, /content-type: application\/problem\+json/i);
    assert.equal(bad.body.code, 'request.malformed_http');
    assert.match(bad.head, new RegExp(`x-request-id: ${bad.body.request_id}`));
    const big = await rawHttp(`GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20000)}\r\n\r\n`);
    assert.match(big.head, /^HTTP\/1\.1 431 /);
    assert.equal(big.body.code, 'request.headers_too_large');
    assert.equal(big.body.status, 431);
  });
});
