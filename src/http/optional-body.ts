// A route whose body schema requires nothing (datakey: `bytes` defaults to 32; sys/unseal with an HSM seal) takes
// a POST without a body as `{}`, so the schema's defaults apply; a route that needs fields keeps request.empty_body.
import type { FastifyInstance, FastifyRequest, preValidationHookHandler } from 'fastify';

/**
 * Whether `{}` is a whole body for this schema, decided from its shape: an object schema with no required field and
 * no combinator (a `oneOf` can require fields per branch). Conservative: when unsure, the body stays required.
 */
export function bodyIsOptional(schema: unknown): boolean {
  if (schema === null || typeof schema !== 'object') return false;
  const s = schema as Record<string, unknown>;
  if (s['type'] !== 'object') return false;
  if (Array.isArray(s['required']) && s['required'].length > 0) return false;
  return !['oneOf', 'anyOf', 'allOf', 'not', 'if', 'minProperties', '$ref'].some((k) => k in s);
}

const absentAsEmpty: preValidationHookHandler = (req: FastifyRequest, _reply, done) => {
  if (req.body === undefined) req.body = {};
  done();
};

/** Registers the hook on routes added after this call (hooks of the route run after it). */
export function acceptAbsentBody(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (!bodyIsOptional(route.schema?.body)) return;
    const own = route.preValidation;
    route.preValidation = [absentAsEmpty, ...(own === undefined ? [] : [own].flat())];
  });
}
