// OpenAPI 3.1 generated from the route schemas, served at /openapi.json with a docs page at /docs.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import type { ProblemCode } from '../core/problem-codes.ts';
import { bodyIsOptional } from './optional-body.ts';
import { withProblemResponses, type OpenApiDoc } from './problem-responses.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * What the document says about a route whose library validates its input and writes its answers itself
     * (oidc-provider: forms in, OAuth errors out). Merged into the route's schema for the document only: never
     * compiled into a validator or a serializer, so it cannot change what the route accepts or sends.
     */
    documented?: Pick<FastifySchema, 'summary' | 'description' | 'tags' | 'querystring' | 'body' | 'response' | 'security'> & { consumes?: string[] };
    /**
     * The problem codes the route's own work can answer with (its service's), documented on the operation beside
     * those its kind of route has anyway (routeProblems). Without it, the operation refers to every API code.
     */
    problems?: readonly ProblemCode[];
  }
}

/** Security schemes of the identity provider's endpoints (src/idp/endpoints.ts). */
export const OAUTH_CLIENT_SCHEME = 'oauthClient';
export const IDP_BEARER_SCHEME = 'idpAccessToken';

/** Any request can meet these, whatever its route. */
const ANY_REQUEST: ProblemCode[] = ['request.bad_url', 'internal.error'];
/** A JSON body: the parser's refusals and the schema's. */
const WITH_BODY: ProblemCode[] = ['request.invalid', 'request.malformed_json', 'request.empty_body', 'request.invalid_content_length', 'request.body_too_large', 'request.unsupported_media_type'];
/** A route that needs a credential and a permission: the authentication and authorization stages' refusals. */
const GUARDED: ProblemCode[] = [
  'auth.missing_credential', 'auth.malformed_credential', 'auth.invalid_credential', 'auth.token_expired', 'auth.token_not_yet_valid', 'auth.token_signature_invalid',
  'auth.issuer_mismatch', 'auth.audience_mismatch', 'auth.kid_unknown', 'auth.algorithm_not_allowed', 'auth.client_not_allowed', 'auth.jwks_unavailable', 'auth.scope_denied',
  'authz.denied', 'authz.pdp_unavailable', 'internal.route_without_policy',
  // A refusal of an identified caller is audited; without the trail it is audit.unavailable instead.
  'audit.unavailable',
];

/** The codes an operation documents: what its schemas, field codes and security imply, and what the route declares. */
export function routeProblems(route: Pick<RouteOptions, 'schema' | 'config'>): ProblemCode[] | undefined {
  const config = route.config;
  if (config?.problems === undefined) return undefined;
  const schema = route.schema ?? {};
  const fieldCodes = Object.values(config.fieldCodes ?? {}).map((c) => (typeof c === 'string' ? c : c.code));
  return [
    ...ANY_REQUEST,
    ...(schema.body !== undefined ? WITH_BODY : []),
    ...(schema.params !== undefined || schema.querystring !== undefined ? (['request.invalid'] as const) : []),
    ...fieldCodes,
    ...(config.security?.public === true ? [] : GUARDED),
    ...config.problems,
  ];
}

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  // By operation (`method path` in OpenAPI form): public ones answer no 401 or 403; the codes a route declares.
  const publicOps = new Set<string>();
  const opCodes = new Map<string, ProblemCode[]>();
  // Operations that take an absent body as `{}` (see optional-body.ts); the generator marks every body required.
  const optionalBodyOps = new Set<string>();
  const opKey = (method: string, url: string) => `${method.toLowerCase()} ${url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;
  await app.register(swagger, {
    // Public routes (config.security.public) say so: an empty security requirement, no Keyward credential (an
    // identity provider endpoint may document the OAuth client authentication it takes instead).
    transform: ({ schema, url, route }) => {
      const config = route.config;
      const documented: FastifySchema = { ...schema, ...config?.documented };
      const codes = routeProblems(route);
      for (const m of [route.method].flat()) {
        if (config?.security?.public === true) publicOps.add(opKey(m, url));
        if (codes) opCodes.set(opKey(m, url), codes);
        if (schema?.body !== undefined && bodyIsOptional(schema.body)) optionalBodyOps.add(opKey(m, url));
      }
      if (config?.security?.public === true && documented.security === undefined) documented.security = [];
      return { schema: documented, url };
    },
    // Only the OpenAPI 3 document is generated here (no Swagger 2 mode).
    transformObject: (doc) => {
      if (!('openapiObject' in doc)) return doc.swaggerObject;
      const api = doc.openapiObject as OpenApiDoc & { paths?: Record<string, Record<string, { requestBody?: { required?: boolean } }>> };
      for (const [path, ops] of Object.entries(api.paths ?? {})) {
        for (const [method, op] of Object.entries(ops)) {
          if (op?.requestBody !== undefined && optionalBodyOps.has(opKey(method, path))) op.requestBody.required = false;
        }
      }
      return withProblemResponses(api, (path, method) => publicOps.has(opKey(method, path)), (path, method) => opCodes.get(opKey(method, path)));
    },
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Keyward', version: '0.1.0', description: 'Key custody and identity service. Errors are RFC 9457 problem+json with a stable `code`.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'JWT access token, API key or bootstrap token' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
          // The identity provider's endpoints authenticate OAuth clients and token holders themselves.
          [OAUTH_CLIENT_SCHEME]: { type: 'http', scheme: 'basic', description: 'OAuth client authentication with client_id and client_secret (client_secret_basic, RFC 6749 §2.3.1); other methods go in the form' },
          [IDP_BEARER_SCHEME]: { type: 'http', scheme: 'bearer', description: 'An access token the realm issued' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
  });
  // The docs page and its assets are public (a browser carries no bearer token); everything else declares its own.
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...(route.config ?? {}), security: { public: true } };
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: false }, staticCSP: true });
  app.get('/openapi.json', {
    config: { security: { public: true }, problems: [] },
    schema: { tags: ['docs'], summary: 'This OpenAPI 3.1 document', response: { 200: { description: 'OpenAPI 3.1 document', type: 'object', additionalProperties: true } } },
  }, async () => app.swagger());
}
