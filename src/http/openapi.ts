// OpenAPI 3.1 generated from the route schemas, served at /openapi.json with a docs page at /docs.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { withProblemResponses, type OpenApiDoc } from './problem-responses.ts';

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  // Public operations (as `METHOD path` in OpenAPI form) answer no 401 or 403; the problem responses leave those out.
  const publicOps = new Set<string>();
  const opKey = (method: string, url: string) => `${method.toLowerCase()} ${url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;
  await app.register(swagger, {
    transform: ({ schema, url, route }) => {
      if (route.config?.security?.public) for (const m of [route.method].flat()) publicOps.add(opKey(m, url));
      return { schema, url };
    },
    // Only the OpenAPI 3 document is generated here (no Swagger 2 mode).
    transformObject: (doc) => ('openapiObject' in doc ? withProblemResponses(doc.openapiObject as OpenApiDoc, (path, method) => publicOps.has(opKey(method, path))) : doc.swaggerObject),
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Keyward', version: '0.1.0', description: 'Key custody and identity service. Errors are RFC 9457 problem+json with a stable `code`.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'JWT access token, API key or bootstrap token' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
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
  app.get('/openapi.json', { config: { security: { public: true } }, schema: { hide: true } }, async () => app.swagger());
}
