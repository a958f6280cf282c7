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
});
