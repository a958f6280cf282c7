// Schema-first routes: TypeBox schemas validate at the edge, document the route in OpenAPI and type the handler
// (request and reply) through Fastify's type provider, so handlers need no casts. The provider is the few lines of
// @fastify/type-provider-typebox that matter here; Fastify's own Ajv does the validation.
import { type Static, type TSchema, type TProperties, type ObjectOptions, Type } from '@sinclair/typebox';
import type { FastifyRequest, FastifyTypeProvider } from 'fastify';
import type { AuthzTarget } from './security.ts';

export interface TypeBoxTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
  serializer: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
}

/** A string from a fixed list, rendered as `enum` (as the OpenAPI document and the validation messages had it). */
export const StringEnum = <const T extends readonly string[]>(values: T, options: { description?: string; default?: T[number] } = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });

/** A request object that refuses unknown members (a misspelt option must not be ignored). */
export const Strict = <T extends TProperties>(properties: T, options: ObjectOptions = {}) => Type.Object(properties, { additionalProperties: false, ...options });

/** A JSON object whose members are not described further (JWT claims, a JWK, attributes). */
export const AnyObject = (options: ObjectOptions = {}) => Type.Record(Type.String(), Type.Unknown(), options);

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

interface RouteSchemas {
  params?: TSchema;
  querystring?: TSchema;
  body?: TSchema;
}
type Part<S extends RouteSchemas, K extends keyof RouteSchemas> = S[K] extends TSchema ? Static<S[K]> : unknown;
export interface Validated<S extends RouteSchemas> {
  params: Part<S, 'params'>;
  query: Part<S, 'querystring'>;
  body: Part<S, 'body'>;
}

/**
 * A route's authorization targets from its validated request. Route config is not typed by the route's schema, so
 * the one cast lives here; it holds because the authorization stage runs after validation (src/authz/hook.ts).
 */
export const authzFrom = <S extends RouteSchemas>(_schema: S, targets: (req: Validated<S>) => AuthzTarget[]) => (req: FastifyRequest) =>
  targets(req as unknown as Validated<S>);
