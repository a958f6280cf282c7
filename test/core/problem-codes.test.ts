// The problem code registry is the one list: the README table is generated from it, every code the source raises is
// in it, every code in it is raised somewhere, and each has a real status.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { PROBLEM_CODES, type ProblemCode } from '../../src/core/problem-codes.ts';
import { ProblemError } from '../../src/core/problem.ts';
import { README_PATH, withErrorTable } from '../../scripts/generate-error-table.ts';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const REGISTRY_FILE = join(SRC, 'core', 'problem-codes.ts');
const CODES = Object.keys(PROBLEM_CODES) as ProblemCode[];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}
const SOURCES = sourceFiles(SRC)
  .filter((f) => f !== REGISTRY_FILE)
  .map((f) => ({ file: f.slice(SRC.length), text: readFileSync(f, 'utf8') }));

test('the README error table is the generated one', () => {
  const readme = readFileSync(README_PATH, 'utf8');
  assert.ok(readme.includes('`key.not_found` | 404'), 'the README has a generated error table');
  assert.equal(readme, withErrorTable(readme), 'README.md error table is stale: run `npm run errors:table`');
});

test('every code has a dotted name, a real error status, a title and a sentence saying when', () => {
  for (const [code, spec] of Object.entries(PROBLEM_CODES)) {
    assert.match(code, /^[a-z]+(\.[a-z0-9_]+)+$/, code);
    assert.ok(spec.status >= 400 && spec.status <= 599 && STATUS_CODES[spec.status] !== undefined, `${code}: status ${spec.status}`);
    assert.ok(spec.title.length > 0 && spec.title.length <= 60 && !spec.title.endsWith('.'), `${code}: title`);
    assert.match(spec.when, /^\S.*[.)]$/, `${code}: when is one sentence`);
    if ('retryAfter' in spec) assert.ok(Number.isInteger(spec.retryAfter) && spec.retryAfter > 0 && spec.status === 503, `${code}: Retry-After with a 503`);
  }
});

test('a problem takes its status and title from the registry', () => {
  const e = new ProblemError({ code: 'key.destroyed', detail: 'key k is destroyed' });
  assert.deepEqual([e.status, e.title, e.message], [410, 'Key destroyed', 'key k is destroyed']);
  // @ts-expect-error a code that is not in the registry does not compile
  assert.throws(() => new ProblemError({ code: 'key.not_fuond' }), TypeError);
});

/**
 * Literals in the places a problem code goes: `code:` in a ProblemError, the first argument of the problem helpers,
 * a comparison with an error's `.code` (`e.code === …`; findings' codes are another vocabulary). The compiler checks most of these;
 * the scan also sees the ones an `any` or a `string` would let through.
 */
const HELPER = /\b(?:problem|badRequest|notFound|conflict|unavailable|authError|keyError|internalError)\(\s*(?:res,\s*)?'([a-z][a-z0-9_.]*)'/g;
const CONSTRUCTED = /new ProblemError\(\{[^}]*?\bcode: '([a-z][a-z0-9_.]*)'/g;
const COMPARED = /\b(?:e|err|error|problem|json)\??\.code\s*[!=]==?\s*'([a-z][a-z0-9_]*\.[a-z0-9_.]+)'/g;
/** Codes of errors that are not problems: the KMIP client's (mapped to problems in kmip/provider.ts). */
const OTHER_ERROR_CODES = /^kmip\./;

test('every problem code the source raises or matches is in the registry', () => {
  const unknown: string[] = [];
  for (const { file, text } of SOURCES) {
    for (const re of [HELPER, CONSTRUCTED, COMPARED]) {
      for (const m of text.matchAll(re)) {
        const code = m[1]!;
        if (!code.includes('.') || OTHER_ERROR_CODES.test(code)) continue;
        if (!(code in PROBLEM_CODES)) unknown.push(`${file}: ${code}`);
      }
    }
  }
  assert.deepEqual(unknown, [], 'add these to src/core/problem-codes.ts (then run `npm run errors:table`)');
});

/** Codes the source builds rather than spells out, and where their variable part is spelled. */
const BUILT: Partial<Record<ProblemCode, { file: string; literal: string }>> = Object.fromEntries(
  (['mechanism_unsupported', 'key_not_found', 'key_exists', 'key_type_mismatch', 'input_invalid', 'decrypt_failed'] as const).map((r) => [
    `hsm.${r}`,
    { file: 'keys/providers/pkcs11/errors.ts', literal: `'${r}'` }, // HsmOperationError: `hsm.${reason}`
  ]),
);

test('every registry code is raised somewhere in src/', () => {
  const unused = CODES.filter((code) => {
    if (SOURCES.some(({ text }) => text.includes(`'${code}'`) || text.includes(`\`${code}\``))) return false;
    const built = BUILT[code];
    return !(built && SOURCES.some(({ file, text }) => file === built.file && text.includes(built.literal)));
  });
  assert.deepEqual(unused, [], 'codes nothing raises: remove them from src/core/problem-codes.ts, or list how they are built in BUILT');
});
