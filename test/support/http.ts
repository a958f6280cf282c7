import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { PROBLEM_CODES, type ProblemCode } from '../../src/core/problem-codes.ts';

export interface Res {
  status: number;
  body: any;
  headers: LightMyRequestResponse['headers'];
  raw: LightMyRequestResponse;
}

/** inject() with JSON in and out. */
export async function req(app: FastifyInstance, opts: InjectOptions): Promise<Res> {
  const r = await app.inject(opts);
  let body: unknown = r.body;
  try {
    body = r.body ? JSON.parse(r.body) : undefined;
  } catch {
    // not JSON
  }
  return { status: r.statusCode, body, headers: r.headers, raw: r };
}

/** Asserts an RFC 9457 problem with the given status and code. */
export function assertProblem(r: Res, status: number, code: ProblemCode): void {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status} ${JSON.stringify(r.body)}`);
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  assert.equal(r.body.code, code, JSON.stringify(r.body));
  assert.equal(r.body.status, status);
  assert.equal(r.body.title, PROBLEM_CODES[code].title);
  assert.equal(r.body.type, 'https://keyward.dev/problems/' + code.replaceAll('.', '/'));
  assert.equal(typeof r.body.request_id, 'string');
}
