// The error handler on a bare Fastify: what the client sees of an unexpected error, and what the operator's log says.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import Fastify from 'fastify';
import pino from 'pino';
import { errorHandler } from '../../src/http/errors.ts';

test('an unexpected error is a neutral 500 for the client; the log names its type, message and stack', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
  const app = Fastify();
  app.setErrorHandler(errorHandler(logger, async (_req, problem) => problem));
  app.get('/boom', async () => {
    throw new RangeError('Maximum call stack size exceeded');
  });
  try {
    const r = await app.inject({ method: 'GET', url: '/boom' });
    assert.equal(r.statusCode, 500);
    assert.equal(r.json().code, 'internal.error');
    assert.doesNotMatch(r.body, /call stack|RangeError/);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; err?: { type: string; message: string; stack: string } }).find((l) => l.msg === 'unhandled error');
    assert.ok(logged?.err, lines.join('\n'));
    assert.equal(logged.err.type, 'RangeError');
    assert.equal(logged.err.message, 'Maximum call stack size exceeded');
    assert.match(logged.err.stack, /^RangeError: Maximum call stack size exceeded\n/);
  } finally {
    await app.close();
  }
});
