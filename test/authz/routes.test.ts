// POST /v1/authz/explain with input the schema alone cannot judge.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { assertProblem, req } from '../support/http.ts';

describe('POST /v1/authz/explain', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward();
  });
  after(() => t.close());
  const explain = (payload: object) => req(t.kw.app, { method: 'POST', url: '/v1/authz/explain', headers: t.auth, payload });

  test('an action on a key without key_id is request.invalid, for the caller and for a what-if principal (was a 500)', async () => {
    for (const body of [{ action: 'kms:Sign' }, { action: 'kms:DestroyKey', principal: { id: 'bob' } }, { action: 'kms:CreateKey', overwrite: true }]) {
      const r = await explain(body);
      assertProblem(r, 400, 'request.invalid');
      assert.match(r.body.detail, /key_id/);
    }
  });

  test('actions that are not on a key need no key_id', async () => {
    const r = await explain({ action: 'kms:ListKeys' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.allowed, true);
  });
});
