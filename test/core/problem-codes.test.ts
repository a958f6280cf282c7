// The problem code registry is the one list: the README table is generated from it, every code the source raises is
// in it, every code in it is raised somewhere, and each has a real status.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { PROBLEM_CODES, type ProblemCode } from '../../src/core/problem-codes.ts';
import { ProblemError } from '../../src/core/problem.ts';
import { README_PATH, withErrorTable } from '../../scripts/generate-error-table.ts';
import { API_PROBLEM_CODES, problemResponses } from '../../src/http/problem-responses.ts';
import { req } from '../support/http.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';

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

test('problemResponses groups codes by status and enumerates them', () => {
  const r = problemResponses(['key.not_found', 'storage.unavailable', 'key.version_not_found', 'route.not_found']);
  assert.deepEqual(Object.keys(r), ['404', '503']);
  assert.deepEqual(r['404']!.content['application/problem+json'].schema, {
    $ref: '#/components/schemas/Problem',
    properties: { code: { type: 'string', enum: ['key.not_found', 'key.version_not_found', 'route.not_found'] } },
  });
  assert.equal(r['404']!.headers, undefined);
  assert.ok(r['503']!.headers?.['Retry-After']);
});

describe('the served OpenAPI document', () => {
  let t: TestKeyward;
  let doc: any;
  before(async () => {
    t = await startKeyward();
    doc = (await req(t.kw.app, { method: 'GET', url: '/openapi.json' })).body;
  });
  after(() => t.close());

  test('is valid OpenAPI 3.1', async () => {
    const result = await new Validator().validate(structuredClone(doc));
    assert.equal(result.valid, true, JSON.stringify(result.errors)?.slice(0, 2000));
  });

  test("its problem responses enumerate exactly the registry's API codes for each status", () => {
    const expected = new Map<string, string[]>();
    for (const c of [...API_PROBLEM_CODES].sort()) expected.set(String(PROBLEM_CODES[c].status), [...(expected.get(String(PROBLEM_CODES[c].status)) ?? []), c]);
    const served = new Map<string, string[]>();
    for (const [name, r] of Object.entries(doc.components.responses as Record<string, any>)) {
      const status = /^Problem(\d{3})$/.exec(name)?.[1];
      if (status) served.set(status, r.content['application/problem+json'].schema.properties.code.enum);
    }
    assert.deepEqual(Object.fromEntries(served), Object.fromEntries(expected));
    assert.ok(!API_PROBLEM_CODES.includes('migrate.output_exists' as ProblemCode) && expected.get('409')!.includes('key.exists'));
  });

  test('every operation documents problem responses from the registry; public ones leave out 401 and 403', () => {
    let operations = 0;
    const enumerated = (r: any): string[] => {
      const resolved = r.$ref ? doc.components.responses[r.$ref.split('/').pop()] : r;
      return resolved.content['application/problem+json'].schema.properties.code.enum;
    };
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        operations++;
        const isPublic = Array.isArray(op.security) && op.security.length === 0;
        const problems = Object.entries(op.responses as Record<string, any>).filter(([, r]) => r.$ref || r.content?.['application/problem+json']);
        assert.ok(problems.some(([s]) => s === '500'), `${method} ${path} documents internal.error`);
        for (const [status, r] of problems) {
          for (const code of enumerated(r)) {
            assert.ok(API_PROBLEM_CODES.includes(code as ProblemCode), `${method} ${path}: ${code} is an API code`);
            assert.equal(String(PROBLEM_CODES[code as ProblemCode].status), status, `${method} ${path}: ${code} under ${status}`);
          }
        }
        const unauthorized = op.responses['401'];
        if (isPublic) assert.equal(unauthorized, undefined, `${method} ${path} is public`);
        else assert.ok(enumerated(unauthorized).includes('auth.missing_credential'), `${method} ${path} needs a credential`);
      }
    }
    assert.ok(operations > 20);
  });
});
