// Asserting a problem, one way for each form it takes: an HTTP answer (from inject, or from fetch through `fetched`)
// is an RFC 9457 problem+json with this status and code; a thrown error is a ProblemError with this code and status.
import assert from 'node:assert/strict';
import { PROBLEM_CODES, type ProblemCode } from '../../src/core/problem-codes.ts';

/** What assertProblem reads of an answer: inject's `Res` is one; `fetched` makes one of a fetch Response. */
export interface Answer {
  status: number;
  body: any;
  headers: Record<string, string | string[] | number | undefined>;
}

/** Asserts an RFC 9457 problem with the given status and code. */
export function assertProblem(r: Answer, status: number, code: ProblemCode, context = ''): void {
  const where = context ? `${context}: ` : '';
  assert.equal(r.status, status, `${where}expected ${status} ${code}, got ${r.status} ${JSON.stringify(r.body)}`);
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/, where);
  assert.equal(r.body?.code, code, `${where}${JSON.stringify(r.body)}`);
  assert.equal(r.body.status, status, where);
  assert.equal(r.body.title, PROBLEM_CODES[code].title, where);
  assert.equal(r.body.type, 'https://keyward.dev/problems/' + code.replaceAll('.', '/'), where);
  assert.equal(typeof r.body.request_id, 'string', where);
}

/** A fetch Response as an Answer (the body read and parsed when it is JSON). */
export async function fetched(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, body, headers: Object.fromEntries(res.headers) };
}

/** An assert.throws / assert.rejects matcher for a ProblemError with this code (and status, default 400). */
export const problem = (code: ProblemCode, status: number = PROBLEM_CODES[code].status) => ({ name: 'ProblemError', code, status });
