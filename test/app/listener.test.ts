// The socket bound before the app exists: what it answers while Keyward is starting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bindListener } from '../../src/app/listener.ts';
import { parseConfig } from '../../src/config/load.ts';
import { PROBLEM_CODES } from '../../src/core/problem-codes.ts';

test('while starting: 503 system.not_ready with the headers every problem gets, Retry-After from the registry', async () => {
  const config = parseConfig({ mode: 'dev', server: { host: '127.0.0.1', port: 0 }, audit: { signing_key_path: '/nonexistent/never-read.pem' } }, {});
  const listener = await bindListener(config);
  try {
    const res = await fetch(`${listener.address}/v1/keys`);
    assert.equal(res.status, 503);
    assert.match(String(res.headers.get('content-type')), /^application\/problem\+json/);
    const body = (await res.json()) as { code: string; title: string; status: number; request_id: string };
    assert.equal(body.code, 'system.not_ready');
    assert.equal(body.title, PROBLEM_CODES['system.not_ready'].title);
    assert.equal(res.headers.get('x-request-id'), body.request_id);
    const retryAfter: number | undefined = (PROBLEM_CODES['system.not_ready'] as { retryAfter?: number }).retryAfter;
    assert.equal(res.headers.get('retry-after'), retryAfter === undefined ? null : String(retryAfter));
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  } finally {
    await listener.close();
  }
});
