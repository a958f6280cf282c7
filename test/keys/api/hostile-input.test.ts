// Input an attacker would send, found by driving the running server: each gets a 4xx problem with its own code,
// never a 500 and never a silent reinterpretation.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { assertProblem, req } from '../../support/http.ts';

describe('hostile input', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward();
    await req(t.kw.app, { method: 'POST', url: '/v1/keys', headers: t.auth, payload: { key_id: 'ec', key_type: 'EC-P256' } });
  });
  after(() => t.close());
  const post = (url: string, body: string) => req(t.kw.app, { method: 'POST', url, headers: { ...t.auth, 'content-type': 'application/json' }, payload: body });

  test('JWT claims nested deeper than JSON.stringify can follow are refused, not a 500', async () => {
    // 20 000 levels fit in 100 KB, well inside the body limit; the size check used to stringify them first.
    const depth = 20_000;
    const body = `{"payload":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    assertProblem(await post('/v1/keys/ec/jwt', body), 400, 'crypto.jwt_claims_invalid');
  });

  test('a member named twice is refused: two parsers (or a log and the service) would read different requests', async () => {
    const r = await post('/v1/keys', '{"key_id":"dup","key_type":"EC-P256","key_type":"RSA-2048"}');
    assertProblem(r, 400, 'request.malformed_json');
    assertProblem(await post('/v1/keys/ec/jwt', '{"payload":{"sub":"alice","sub":"admin"}}'), 400, 'request.malformed_json');
    assertProblem(await req(t.kw.app, { method: 'GET', url: '/v1/keys/dup', headers: t.auth }), 404, 'key.not_found');
    // The same name in sibling objects is no duplicate.
    assert.equal((await post('/v1/keys/ec/jwt', '{"payload":{"a":{"x":1},"b":{"x":2}}}')).status, 200);
  });

  test('lone surrogates are refused: they have no UTF-8 form, so storage would change or reject them', async () => {
    assertProblem(await post('/v1/keys', '{"key_id":"ls","key_type":"EC-P256","labels":{"team":"\\ud800"}}'), 400, 'request.malformed_json');
    assertProblem(await post('/v1/keys', '{"key_id":"ls","key_type":"EC-P256","description":"x\\udfff"}'), 400, 'request.malformed_json');
    assertProblem(await req(t.kw.app, { method: 'GET', url: '/v1/keys/ls', headers: t.auth }), 404, 'key.not_found');
    // A surrogate pair is a character like any other.
    assert.equal((await post('/v1/keys', '{"key_id":"pair","key_type":"EC-P256","description":"\\ud83d\\udd11"}')).status, 201);
  });

  test('a body that is not UTF-8 is refused, not read with U+FFFD in place of the bytes that did not fit', async () => {
    const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
    const jwt = (payload: Buffer, ct = 'application/json') => req(t.kw.app, { method: 'POST', url: '/v1/keys/ec/jwt', headers: { ...t.auth, 'content-type': ct }, payload });
    // Latin-1 é, an encoded surrogate (ED A0 80), a truncated sequence.
    for (const bad of [[0xe9], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      assertProblem(await jwt(bytes('{"payload":{"name":"', bad, '"}}')), 400, 'request.malformed_json');
    }
    // Another declared charset is not read as if it were UTF-8.
    assertProblem(await jwt(bytes('{"payload":{"name":"x"}}'), 'application/json; charset=iso-8859-1'), 415, 'request.unsupported_media_type');
    // UTF-8 itself, declared or not, with or without a BOM, is read as sent.
    for (const [body, ct] of [[bytes('{"payload":{"name":"é"}}'), 'application/json; charset=UTF-8'], [bytes([0xef, 0xbb, 0xbf], '{"payload":{"name":"é"}}'), 'application/json']] as const) {
      const r = await jwt(body, ct);
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(Buffer.from(r.body.jwt.split('.')[1], 'base64url').toString()).name, 'é');
    }
  });

  test('a __proto__ member is refused as such, not called invalid JSON', async () => {
    for (const body of ['{"key_id":"p","key_type":"EC-P256","labels":{"__proto__":"x"}}', '{"key_id":"p","key_type":"EC-P256","labels":{"constructor":{"prototype":{}}}}']) {
      const r = await post('/v1/keys', body);
      assertProblem(r, 400, 'request.malformed_json');
      assert.match(r.body.detail, /__proto__/);
    }
    assert.equal((await post('/v1/keys', '{"key_id":"p","key_type":"EC-P256","labels":{"constructor":"x"}}')).status, 201);
  });

  test('a number beyond a double is refused: JSON.parse makes it Infinity, which a JWT would carry as null', async () => {
    assertProblem(await post('/v1/keys/ec/jwt', '{"payload":{"amount":1e400}}'), 400, 'request.malformed_json');
    assertProblem(await post('/v1/keys/ec/jwt', '{"payload":{"a":[-1e400]}}'), 400, 'request.malformed_json');
    // The largest double is a number like any other.
    assert.equal((await post('/v1/keys/ec/jwt', '{"payload":{"amount":1.7976931348623157e308}}')).status, 200);
  });

  test('the key service itself refuses lone surrogates in labels and descriptions (PostgreSQL jsonb cannot hold them)', async () => {
    const ctx = { principal: null, requestId: 'hostile-input' };
    await assert.rejects(t.kw.keys.create(ctx, { id: 'ls-svc', type: 'EC-P256', labels: { team: 'x\ud800' } }), { code: 'key.invalid_label' });
    await assert.rejects(t.kw.keys.create(ctx, { id: 'ls-svc', type: 'EC-P256', description: '\udc00' }), { code: 'key.invalid_description' });
  });
});
