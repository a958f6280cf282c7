import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from '../../src/keys/random.ts';
import { problem } from '../support/problem.ts';

test('randomBytes bounds', () => {
  assert.equal(randomBytes(1).length, 1);
  assert.equal(randomBytes(1024).length, 1024);
  assert.notDeepEqual(randomBytes(32), randomBytes(32));
  for (const n of [0, -1, 1025, 1.5, Number.NaN]) assert.throws(() => randomBytes(n), problem('crypto.random_length'), String(n));
});
