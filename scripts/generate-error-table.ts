// Writes the README's error table from the problem code registry (src/core/problem-codes.ts), between the markers
// `<!-- problem-codes:start -->` and `<!-- problem-codes:end -->`. `npm run errors:table` rewrites README.md;
// test/core/problem-codes.test.ts fails when the committed table is not what this produces.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PROBLEM_CODES, type ProblemCode, type ProblemSpec } from '../src/core/problem-codes.ts';

export const README_PATH = fileURLToPath(new URL('../README.md', import.meta.url));
export const START = '<!-- problem-codes:start -->';
export const END = '<!-- problem-codes:end -->';

const WHERE: Record<ProblemSpec['surface'], string> = { api: '', cli: 'CLI / start-up: ', pdp: '`keyward pdp serve`: ' };

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The table: by status, then by code, so a new code lands in a predictable place. */
export function errorTable(): string {
  const rows = (Object.entries(PROBLEM_CODES) as Array<[ProblemCode, ProblemSpec]>)
    .sort(([a, x], [b, y]) => x.status - y.status || (a < b ? -1 : a > b ? 1 : 0))
    .map(([code, s]) => {
      const retry = s.retryAfter !== undefined ? ` Sent with \`Retry-After: ${s.retryAfter}\`.` : '';
      return `| \`${code}\` | ${s.status} | ${cell(s.title)} | ${cell(WHERE[s.surface] + s.when + retry)} |`;
    });
  return ['| code | status | title | when |', '|---|---|---|---|', ...rows].join('\n');
}

/** `readme` with the text between the markers replaced by the generated table. */
export function withErrorTable(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} … ${END} block`);
  return `${readme.slice(0, start + START.length)}\n${errorTable()}\n${readme.slice(end)}`;
}

if (import.meta.main) {
  const readme = await readFile(README_PATH, 'utf8');
  const next = withErrorTable(readme);
  if (next !== readme) await writeFile(README_PATH, next);
  process.stdout.write(next !== readme ? `wrote ${README_PATH}\n` : `${README_PATH} is up to date\n`);
}
