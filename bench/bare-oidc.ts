// A bare oidc-provider (in-memory adapter, same algorithm, client credentials) for the issuance baseline.
// argv[2]: port. Prints "ready" when listening.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', alg: 'ES256', use: 'sig' };
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{ client_id: 'bench', client_secret: 'bench-secret-0123456789', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256' }],
  jwks: { keys: [jwk as never] },
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => 'urn:bench:api',
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({ scope: '', audience: 'urn:bench:api', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
    },
  },
});
http.createServer(provider.callback()).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
