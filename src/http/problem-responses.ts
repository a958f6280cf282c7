// OpenAPI problem+json responses generated from the problem code registry (src/core/problem-codes.ts): one response
// per status, its codes enumerated on `code`, so the document cannot name a code the server does not have or miss
// one it does. Every operation refers to the shared responses (components.responses.Problem<status>); a route that
// knows its own codes can use problemResponses(codes) instead.
import { STATUS_CODES } from 'node:http';
import { PROBLEM_CODES, type ProblemCode, type ProblemSpec } from '../core/problem-codes.ts';
import { PROBLEM_TYPE_BASE } from './problem.ts';

/** The codes the HTTP API can answer with (not the CLI's, not the standalone PDP's). */
export const API_PROBLEM_CODES = (Object.keys(PROBLEM_CODES) as ProblemCode[]).filter((c) => PROBLEM_CODES[c].surface === 'api');

export const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'RFC 9457 problem details. Match on `code`, never on `title` or `detail`.',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string', format: 'uri', description: `${PROBLEM_TYPE_BASE} + the code with dots as slashes` },
    title: { type: 'string', description: "The code's title" },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
    request_id: { type: 'string' },
  },
  additionalProperties: true,
} as const;

export interface ProblemResponse {
  description: string;
  headers?: Record<string, { description: string; schema: { type: 'integer' } }>;
  content: { 'application/problem+json': { schema: Record<string, unknown> } };
}

const spec = (c: ProblemCode): ProblemSpec => PROBLEM_CODES[c];

/** Response objects by status for `codes` (sorted), each enumerating its codes on `code`. */
export function problemResponses(codes: readonly ProblemCode[] = API_PROBLEM_CODES): Record<string, ProblemResponse> {
  const byStatus = new Map<number, ProblemCode[]>();
  for (const c of [...new Set(codes)].sort()) byStatus.set(spec(c).status, [...(byStatus.get(spec(c).status) ?? []), c]);
  return Object.fromEntries(
    [...byStatus].sort(([a], [b]) => a - b).map(([status, list]) => {
      const retry = list.filter((c) => spec(c).retryAfter !== undefined);
      return [
        String(status),
        {
          description: `${STATUS_CODES[status]}: ${list.map((c) => `\`${c}\` (${spec(c).title})`).join(', ')}`,
          ...(retry.length ? { headers: { 'Retry-After': { description: `Seconds to wait; sent with ${retry.map((c) => `\`${c}\``).join(', ')}`, schema: { type: 'integer' as const } } } } : {}),
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem', properties: { code: { type: 'string', enum: list } } } } },
        },
      ];
    }),
  );
}

/** Statuses an operation on a public route cannot answer: it asks for no credential and no permission. */
const NOT_PUBLIC = new Set(['401', '403']);
/** Statuses no operation answers: 405 is the path's answer to a method it has no operation for. */
const NOT_AN_OPERATION = new Set(['405']);

export interface OpenApiDoc {
  components?: { schemas?: Record<string, unknown>; responses?: Record<string, unknown> };
  paths?: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
}

/**
 * `doc` with the shared problem responses in its components and a reference to each on every operation, except
 * where the operation documents that status itself. `isPublic(path, method)` drops 401 and 403. An operation whose
 * codes `codesOf(path, method)` knows gets responses enumerating those codes instead of the shared ones.
 */
export function withProblemResponses<T extends OpenApiDoc>(
  doc: T,
  isPublic: (path: string, method: string) => boolean,
  codesOf: (path: string, method: string) => readonly ProblemCode[] | undefined = () => undefined,
): T {
  const shared = problemResponses();
  doc.components = {
    ...doc.components,
    schemas: { ...doc.components?.schemas, Problem: PROBLEM_SCHEMA },
    responses: { ...doc.components?.responses, ...Object.fromEntries(Object.entries(shared).map(([s, r]) => [`Problem${s}`, r])) },
  };
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(ops)) {
      const own = codesOf(path, method);
      if (own) {
        op.responses = { ...problemResponses(own.filter((c) => !(NOT_PUBLIC.has(String(spec(c).status)) && isPublic(path, method)))), ...op.responses };
        continue;
      }
      const refs = Object.keys(shared)
        .filter((s) => !NOT_AN_OPERATION.has(s) && !(NOT_PUBLIC.has(s) && isPublic(path, method)))
        .map((s) => [s, { $ref: `#/components/responses/Problem${s}` }]);
      op.responses = { ...Object.fromEntries(refs), ...op.responses };
    }
  }
  return doc;
}
