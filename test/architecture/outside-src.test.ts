// The bench and the shared harness stand on their own: `npm run bench` must not depend on test files (a test helper
// changed for a test would silently change what the bench measures), and the harness is below both.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..');
const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

/** Every relative import of the folder's files, as repository paths. */
function importsOf(folder: string): Array<{ file: string; target: string }> {
  const out: Array<{ file: string; target: string }> = [];
  for (const file of files(join(ROOT, folder))) {
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT_RE)) {
      out.push({ file: relative(ROOT, file), target: relative(ROOT, resolve(dirname(file), (m[1] ?? m[2])!)) });
    }
  }
  return out;
}

for (const [folder, forbidden] of [['bench', ['test/']], ['harness', ['test/', 'bench/']]] as const) {
  test(`${folder}/ imports nothing from ${forbidden.join(' or ')}`, () => {
    const bad = importsOf(folder).filter((i) => forbidden.some((f) => i.target.startsWith(f)));
    assert.deepEqual(bad, []);
  });
}
