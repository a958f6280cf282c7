import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';

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

export { assertProblem } from './problem.ts';
