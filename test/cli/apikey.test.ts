// keyward apikey generate: the raw key must be usable as `--token KEY` on every client command.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newApiKey } from '../../src/cli/commands/apikey.ts';

test('a generated API key never starts with "-" (it would be read as an option after --token)', () => {
  // One base64url key in 64 starts with "-": 2000 draws without one would be chance only once in ~10^13.
  for (let i = 0; i < 2000; i++) {
    const key = newApiKey();
    assert.match(key, /^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/);
  }
});
