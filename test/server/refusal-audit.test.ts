// Every refusal to an authenticated principal leaves exactly one audit event with its code and never the body:
// parser and validation refusals, bad base64, 413, 415, and 404 for an unknown route. Unknown routes answer 404
// whatever the credentials (none, wrong or valid); only a caller with a valid credential is identified and audited.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertProblem, req } from '../support/http.ts';
import { RefusalLedger } from '../../src/audit/refusals.ts';
import type { ProblemCode } from '../../src/core/problem-codes.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';

interface Event {
  event_type: string;
  action: string;
  outcome: string;
  error_code: string | null;
  request_id: string | null;
  principal: { id: string; auth_method: string } | null;
  resource: { type: string; id?: string } | null;
}

/** A marker in every body: it must never reach the trail. */
const MARK = 'BODYMARK7f3a';

describe('refusals to authenticated principals are audited', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward({ config: { server: { body_limit: 4096 } } });
    await t.post('/v1/keys', { key_id: 'ok', key_type: 'EC-P256' });
  });
  after(() => t.close());

  const send = (method: 'GET' | 'POST', url: string, body?: string, headers: Record<string, string> = t.auth, ct = 'application/json') =>
    req(t.kw.app, { method, url, headers: { ...headers, ...(body !== undefined ? { 'content-type': ct } : {}) }, ...(body !== undefined ? { payload: body } : {}) });
  const eventsFor = (requestId: string) => t.auditLines.filter((l) => l.includes(requestId)).map((l) => JSON.parse(l) as Event);

  const cases: Array<[string, 'GET' | 'POST', string, string | undefined, string | undefined, number, ProblemCode, string, string | undefined]> = [
    // name, method, url, body, content type, status, code, action, key id
    ['malformed JSON', 'POST', '/v1/keys/ok/sign', `{"message": "${MARK}`, undefined, 400, 'request.malformed_json', 'kms:Sign', 'ok'],
    ['malformed JSON on create', 'POST', '/v1/keys', `{"key_id": "${MARK}`, undefined, 400, 'request.malformed_json', '/v1/keys', undefined],
    ['unknown field', 'POST', '/v1/keys', `{"key_id":"x","key_type":"EC-P256","${MARK}":1}`, undefined, 400, 'request.invalid', 'kms:CreateKey', 'x'],
    ['wrong type', 'POST', '/v1/keys/ok/encrypt', `{"plaintext":7,"x":"${MARK}"}`, undefined, 400, 'request.invalid', 'kms:Encrypt', 'ok'],
    ['invalid key id in the path', 'GET', '/v1/keys/.hidden', undefined, undefined, 400, 'key.invalid_id', 'kms:DescribeKey', undefined],
    ['invalid key id in the body', 'POST', '/v1/keys', `{"key_id":"../${MARK}","key_type":"EC-P256"}`, undefined, 400, 'key.invalid_id', 'kms:CreateKey', undefined],
    ['bad base64', 'POST', '/v1/keys/ok/sign', `{"message":"*${MARK}*"}`, undefined, 400, 'request.invalid_base64', 'kms:Sign', 'ok'],
    ['body too large', 'POST', '/v1/keys/ok/sign', JSON.stringify({ message: MARK.repeat(600) }), undefined, 413, 'request.body_too_large', 'kms:Sign', 'ok'],
    ['unsupported media type', 'POST', '/v1/keys/ok/sign', `message=${MARK}`, 'application/x-www-form-urlencoded', 415, 'request.unsupported_media_type', 'kms:Sign', 'ok'],
    ['bad label filter', 'GET', '/v1/keys?label=nope', undefined, undefined, 400, 'request.invalid_label_filter', 'kms:ListKeys', undefined],
    ['unknown route', 'GET', `/v1/nothing-here/${MARK}?q=${MARK}`, undefined, undefined, 404, 'route.not_found', 'route:unknown', undefined],
    ['unknown route with a body', 'POST', '/v1/keys/ok/nothing', `{"x":"${MARK}"}`, undefined, 404, 'route.not_found', 'route:unknown', undefined],
  ];
  for (const [name, method, url, body, ct, status, code, action, keyId] of cases) {
    test(`${name}: ${status} ${code}, one request.refused event`, async () => {
      const r = await send(method, url, body, t.auth, ct);
      assertProblem(r, status, code);
      const events = eventsFor(r.body.request_id);
      assert.equal(events.length, 1, JSON.stringify(events));
      const e = events[0]!;
      assert.equal(e.event_type, 'request.refused');
      assert.equal(e.error_code, code);
      assert.equal(e.outcome, 'error');
      assert.equal(e.action, action);
      assert.deepEqual(e.principal && [e.principal.id, e.principal.auth_method], ['test-admin', 'api_key']);
      assert.equal(e.resource?.id, keyId);
      assert.ok(!t.auditLines.some((l) => l.includes(MARK)), 'no body or path text in the trail');
    });
  }

  test('a refusal the key service already audited gets no second event', async () => {
    const r = await send('POST', '/v1/keys/missing/sign', '{"message":"aGk="}');
    assertProblem(r, 404, 'key.not_found');
    assert.deepEqual(eventsFor(r.body.request_id).map((e) => [e.event_type, e.error_code]), [['key.sign', 'key.not_found']]);
  });

  test('an unknown route is 404 with no credential or a wrong one, and then leaves no event', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-key' }, { 'x-api-key': 'wrong' }] as Array<Record<string, string>>) {
      const r = await send('GET', '/v1/nothing-here', undefined, headers);
      assertProblem(r, 404, 'route.not_found');
      assert.deepEqual(eventsFor(r.body.request_id), [], JSON.stringify(headers));
    }
    // A known route still asks for credentials.
    assertProblem(await send('GET', '/v1/keys', undefined, {}), 401, 'auth.missing_credential');
  });
});

test('a request id chosen by two requests in flight never hides a refusal', async () => {
  const recorded: string[] = [];
  const ledger = new RefusalLedger({ record: async (e) => void recorded.push(e.event_type), ready: () => true, close: async () => {} });
  const refusal = { event_type: 'key.sign', action: 'kms:Sign', principal: null, resource: null, outcome: 'error' as const, request_id: 'same' };
  ledger.begin('same');
  ledger.begin('same');
  await ledger.record(refusal);
  assert.equal(ledger.hasRefusal('same'), false, 'either request may be the one without an event');
  ledger.end('same');
  assert.equal(ledger.hasRefusal('same'), true);
  ledger.end('same');
  assert.equal(ledger.hasRefusal('same'), false, 'forgotten once the response is done');
  // Events of requests not in flight (internal operations) leave no mark behind.
  await ledger.record({ ...refusal, request_id: 'internal' });
  ledger.begin('internal');
  assert.equal(ledger.hasRefusal('internal'), false);
  assert.equal(recorded.length, 2);
});
