// server.access_log: one line per request with the path and the query's parameter names, never their values
// (clients put credentials there: ?access_token=…).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { urlForLog } from '../../src/app/logger.ts';
import { req } from '../support/http.ts';
import { startKeyward } from '../support/keyward.ts';

test('the access log has request paths and query names, never query values', async (t) => {
  const k = await startKeyward({ config: { server: { access_log: true } } });
  t.after(() => k.close());
  const secret = 'S3CRETVALUE';
  await k.get(`/v1/keys?access_token=${secret}&limit=5`);
  await req(k.kw.app, { method: 'GET', url: `/v1/nowhere?code=${secret}&${secret}` });
  await req(k.kw.app, { method: 'GET', url: `/healthz?x=${secret}` });
  const incoming = k.logs.map((l) => JSON.parse(l) as { msg: string; req?: { url: string } }).filter((l) => l.msg === 'incoming request');
  assert.deepEqual(incoming.map((l) => l.req?.url), ['/v1/keys?access_token=[redacted]&limit=[redacted]', '/v1/nowhere?code=[redacted]&[redacted]', '/healthz?x=[redacted]']);
  assert.ok(!k.logs.some((l) => l.includes(secret)), 'no query value in any log line');
});

test('urlForLog keeps paths and names only', () => {
  assert.equal(urlForLog('/v1/keys'), '/v1/keys');
  assert.equal(urlForLog('/a?'), '/a?');
  assert.equal(urlForLog('/a?b=1&&c=&=d'), '/a?b=[redacted]&c=[redacted]&=[redacted]');
});
