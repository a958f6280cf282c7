// OpenAPI 3.1 generated from the route schemas, served at /openapi.json with a docs page at /docs.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * What the document says about a route whose library validates its input and writes its answers itself
     * (oidc-provider: forms in, OAuth errors out). Merged into the route's schema for the document only: never
     * compiled into a validator or a serializer, so it cannot change what the route accepts or sends.
     */
    documented?: Pick<FastifySchema, 'summary' | 'description' | 'tags' | 'querystring' | 'body' | 'response' | 'security'> & { consumes?: string[] };
  }
}

/** Security schemes of the identity provider's endpoints (src/idp/endpoints.ts). */
export const OAUTH_CLIENT_SCHEME = 'oauthClient';
export const IDP_BEARER_SCHEME = 'idpAccessToken';

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
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
    // Public routes (config.security.public) say so: an empty security requirement, no Keyward credential (an
    // identity provider endpoint may document the OAuth client authentication it takes instead).
    transform: ({ schema, url, route }) => {
      const config = route.config;
      const documented: FastifySchema = { ...schema, ...config?.documented };
      if (config?.security?.public === true && documented.security === undefined) documented.security = [];
      return { schema: documented, url };
    },
  });
  // The docs page and its assets are public (a browser carries no bearer token); everything else declares its own.
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...(route.config ?? {}), security: { public: true } };
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: false }, staticCSP: true });
  app.get('/openapi.json', {
    config: { security: { public: true } },
    schema: { tags: ['docs'], summary: 'This OpenAPI 3.1 document', response: { 200: { description: 'OpenAPI 3.1 document', type: 'object', additionalProperties: true } } },
  }, async () => app.swagger());
}
