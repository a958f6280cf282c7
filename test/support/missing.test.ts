// The one "skip locally, fail in CI" rule: what it does, and that no test decides about CI on its own.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { skipUnless, whenMissing } from './missing.ts';

function withCi<T>(ci: string | undefined, f: () => T): T {
  const saved = process.env.CI;
  if (ci === undefined) delete process.env.CI;
  else process.env.CI = ci;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
}

test('locally a missing service is a skip with its reason; under CI it is an error', () => {
  withCi(undefined, () => {
    assert.equal(skipUnless(true, 'the X tests', 'X is missing'), false);
    assert.equal(skipUnless(false, 'the X tests', 'X is missing'), 'X is missing: the X tests skipped');
  });
  withCi('true', () => {
    assert.equal(skipUnless(true, 'the X tests', 'X is missing'), false);
    assert.throws(() => skipUnless(false, 'the X tests', 'X is missing'), /^Error: X is missing; CI is set, so the X tests fail instead of skipping$/);
    assert.throws(() => whenMissing('the X tests', 'X is missing'), /CI is set/);
  });
});

test('only test/support/missing.ts reads CI', () => {
  const root = join(import.meta.dirname, '..', '..');
  const hits = ['test', 'harness', 'bench']
    .flatMap((dir) => (readdirSync(join(root, dir), { recursive: true }) as string[]).map((f) => join(dir, f)))
    .filter((f) => f.endsWith('.ts') && /process\.env(\.CI\b|\[['"]CI['"]\])/.test(readFileSync(join(root, f), 'utf8')));
  assert.deepEqual(hits.sort(), ['test/support/missing.test.ts', 'test/support/missing.ts']);
});
