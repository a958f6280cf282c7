// Turns anything thrown during a request into RFC 9457 problem+json with a stable code. Framework errors are
// matched on their error codes, never on message text; unknown errors become a neutral 500.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ProblemError, isProblem, problemBody, problemHeaders, type ProblemCode } from './problem.ts';

const FASTIFY_CODES: Record<string, { code: ProblemCode; detail: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'request.body_too_large', detail: 'the request body exceeds the configured limit' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'request.unsupported_media_type', detail: 'send application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'request.invalid_content_length', detail: 'content-length does not match the body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'request.empty_body', detail: 'the JSON body is empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'request.malformed_json', detail: 'the body is not valid JSON' },
  FST_ERR_BAD_URL: { code: 'request.bad_url', detail: 'the URL could not be decoded' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'request.uri_too_long', detail: 'a path parameter is too long' },
  FST_ERR_ASYNC_CONSTRAINT: { code: 'request.bad_url', detail: 'the request could not be routed' },
};

/** Which path parameter errors get their own code (so clients can tell a bad key id from a bad body). */
const PARAM_CODES: Record<string, ProblemCode> = { '/id': 'key.invalid_id' };

/**
 * A route's codes for invalid values of its body or query fields, so that a fault has one code whichever check
 * catches it: the schema at the edge (`limit=-1`, `shares: 1000`) or the service behind it (`limit=0`,
 * `shares: 1` with `threshold: 2`). Keys are field paths; `*` stands for an array index (`shares/*`). A field's
 * code covers its nested values; a missing required field, an unknown field and an unmapped one stay
 * request.invalid. A key starting with `#` names a constraint across the body's fields by its schema location
 * (`#/oneOf`: exactly one of message or digest) and carries its own detail: every error under it, whichever
 * branch failed, is that one fault.
 */
export type FieldCodes = Readonly<Record<string, ProblemCode | { code: ProblemCode; detail: string }>>;

declare module 'fastify' {
  interface FastifyContextConfig {
    fieldCodes?: FieldCodes;
  }
}

function fieldCode(codes: FieldCodes | undefined, instancePath: string): ProblemCode | undefined {
  if (codes === undefined || instancePath === '') return undefined;
  const segments = instancePath.slice(1).split('/').map((s) => (/^\d+$/.test(s) ? '*' : s));
  // The longest mapped prefix: `labels/x` falls under `labels`.
  for (let n = segments.length; n > 0; n--) {
    const code = codes[segments.slice(0, n).join('/')];
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function acrossFields(codes: FieldCodes | undefined, errors: ReadonlyArray<{ schemaPath: string }>): { code: ProblemCode; detail: string } | undefined {
  if (codes === undefined) return undefined;
  for (const e of errors) {
    for (const [at, mapped] of Object.entries(codes)) {
      if (at.startsWith('#') && typeof mapped === 'object' && (e.schemaPath === at || e.schemaPath.startsWith(`${at}/`))) return mapped;
    }
  }
  return undefined;
}

const EMPTY_BODY = FASTIFY_CODES['FST_ERR_CTP_EMPTY_JSON_BODY']!;

/**
 * `bodyMissing`: the request had no body (our JSON parser reads an empty one as none, for SPIRL's release).
 * `fieldCodes`: the route's codes for invalid field values (see FieldCodes).
 */
export function toProblem(err: unknown, bodyMissing = false, fieldCodes?: FieldCodes): ProblemError {
  if (isProblem(err)) return err;
  const fe = err as FastifyError & { validationContext?: string };
  if (fe && Array.isArray(fe.validation)) {
    if (bodyMissing && (fe.validationContext ?? 'body') === 'body') return new ProblemError(EMPTY_BODY);
    const first = fe.validation[0];
    const where = fe.validationContext ?? 'body';
    const across = where === 'body' ? acrossFields(fieldCodes, fe.validation) : undefined;
    if (across) return new ProblemError({ code: across.code, detail: across.detail });
    const path = first?.instancePath ?? '';
    if (where === 'params' && PARAM_CODES[path]) {
      return new ProblemError({ code: PARAM_CODES[path]!, detail: 'key ids are 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit' });
    }
    const field = first?.keyword === 'required' ? `${path}/${String((first.params as { missingProperty?: string }).missingProperty)}` : first?.keyword === 'additionalProperties' ? `${path}/${String((first.params as { additionalProperty?: string }).additionalProperty)}` : path;
    const mapped = first?.keyword === 'required' || first?.keyword === 'additionalProperties' ? undefined : fieldCode(fieldCodes, path);
    return new ProblemError({
      code: mapped ?? 'request.invalid',
      detail: `${where}${field || ''} ${first?.message ?? 'is invalid'}`,
      extra: { errors: fe.validation.slice(0, 10).map((v) => ({ in: where, path: v.instancePath, message: v.message })) },
    });
  }
  if (fe && typeof fe.code === 'string' && FASTIFY_CODES[fe.code]) return new ProblemError(FASTIFY_CODES[fe.code]!);
  // secure-json-parse and the JSON parser raise SyntaxError (or prototype-poisoning errors) with status 400.
  if (fe && (fe.statusCode === 400 || fe instanceof SyntaxError)) {
    return new ProblemError({ code: 'request.malformed_json', detail: 'the body is not valid JSON' });
  }
  return new ProblemError({ code: 'internal.error', detail: 'an unexpected error occurred; see the server log with this request_id' });
}

/** Beside x-request-id, on every response: the framework's, the parser's refusals and ours. */
export const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;

/**
 * Headers on every response, including those the framework sends before any hook runs. no-store is the default,
 * not an override: a route that says how its answer may be cached (the sign-in pages' stylesheet and theme files,
 * immutable under a content hash; the profile document) keeps its word.
 */
export function baseHeaders(reply: FastifyReply, req: FastifyRequest): void {
  void reply.header('x-request-id', req.id);
  void reply.header('x-content-type-options', COMMON_HEADERS['x-content-type-options']);
  if (!reply.hasHeader('cache-control')) void reply.header('cache-control', COMMON_HEADERS['cache-control']);
}

export function sendProblem(reply: FastifyReply, req: FastifyRequest, err: ProblemError) {
  void reply.headers(problemHeaders(err));
  return reply.status(err.status).type('application/problem+json').send(problemBody(err, req.id));
}

/**
 * `refused` sees every problem before it is sent and may replace it (the app audits refusals to authenticated
 * callers there, and answers 503 when that audit fails).
 */
export function errorHandler(logger: Logger, refused: (req: FastifyRequest, problem: ProblemError) => Promise<ProblemError>) {
  return async (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const problem = toProblem(err, req.body === undefined, req.routeOptions.config?.fieldCodes);
    if (problem.status >= 500 && !isProblem(err)) {
      // Log the cause (never request bodies) for the operator; the client sees only the neutral problem. Without a
      // prototype, pino's err serializer takes `type` from `name`, not from the constructor (which would say Object).
      const cause = Object.assign(Object.create(null) as object, { name: (err as Error)?.name, message: (err as Error)?.message, stack: (err as Error)?.stack });
      logger.error({ err: cause, request_id: req.id }, 'unhandled error');
    }
    return sendProblem(reply, req, await refused(req, problem));
  };
}

/**
 * Requests Node's HTTP parser refuses before any route sees them (malformed request line or headers, headers too
 * large, header timeout) still get problem+json with a code and a request id, then the connection is closed.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const problem =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new ProblemError({ code: 'request.headers_too_large', detail: 'the request headers exceed the server limit' })
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new ProblemError({ code: 'request.timeout', detail: 'the request was not received in time' })
        : new ProblemError({ code: 'request.malformed_http', detail: 'the request is not valid HTTP/1.1' });
  const id = randomUUID();
  const body = JSON.stringify(problemBody(problem, id));
  socket.end(
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${id}\r\n${Object.entries(COMMON_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join('')}connection: close\r\n\r\n${body}`,
  );
}
