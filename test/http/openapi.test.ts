// /openapi.json describes every route a client calls, as valid OpenAPI 3.1: each identity provider endpoint with its
// own entry, /metrics, no catch-all `*` parameter and no method OpenAPI 3.1 does not have, and public routes marked
// as needing no credential (checked against what the server does without one).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { req } from '../support/http.ts';

type Operation = { security?: Array<Record<string, string[]>>; responses?: Record<string, { content?: Record<string, unknown> }>; parameters?: Array<{ in: string; name: string }> };
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown> } };

/** The OpenAPI 3.1 operations of a path item. */
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * Registered routes that the document leaves out on purpose, and why. Anything else the server routes must be in it.
 * HEAD is not listed: Fastify answers HEAD for every GET route, which the GET entry documents.
 */
const INTERNAL: Array<{ route: RegExp; why: string }> = [
  { route: /^\/docs(\/|$)/, why: 'the documentation page (swagger-ui) and its assets, a view of this document' },
  { route: /^\/admin\/\*$/, why: "Keycloak's admin REST API is not offered: every request below /admin is refused" },
  {
    route: /^\/realms\/:realm(\/?\*)?$/,
    why: 'the rest below a realm goes to the profile guard and the provider: Keycloak paths the profile refuses with its own error, CORS preflight of the endpoints, unknown paths; none is an endpoint to call',
  },
];

/** Every (method, path) the server routes, from its route tree. */
function routesOf(tree: string): Array<{ method: string; url: string }> {
  const out: Array<{ method: string; url: string }> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^(.*?)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = [...m[1]!].length / 4;
    stack[depth] = (depth > 0 ? stack[depth - 1]! : '') + m[2]!;
    stack.length = depth + 1;
    for (const method of m[3]?.split(', ') ?? []) out.push({ method, url: stack[depth]! });
  }
  return out;
}

/** The problem codes an operation documents for a status. */
function documentedCodes(op: Operation, status: number): string[] {
  const media = op.responses?.[String(status)]?.content?.['application/problem+json'] as { schema?: { properties?: { code?: { enum?: string[] } } } } | undefined;
  return media?.schema?.properties?.code?.enum ?? [];
}

const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('the OpenAPI document', () => {
  let t: TestKeyward;
  let doc: Doc;
  before(async () => {
    t = await startKeyward({
      config: {
        spirl: { enabled: true },
        idp: { enabled: true, base_url: 'http://127.0.0.1:8080', argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 }, realms: [{ name: 'main', access_token_resource: 'https://keyward.test/api' }] },
      },
    });
    doc = (await req(t.kw.app, { method: 'GET', url: '/openapi.json' })).body;
  });
  after(() => t.close());

  test('is valid OpenAPI 3.1', async () => {
    const validator = new Validator();
    const res = await validator.validate(structuredClone(doc));
    assert.equal(res.valid, true, JSON.stringify(res.errors, null, 1)?.slice(0, 4000));
    assert.equal(validator.version, '3.1');
    assert.equal(doc.openapi, '3.1.0');
    // The validator is no rubber stamp: a `query` operation (OpenAPI 3.2) makes the same document invalid.
    const withQuery = structuredClone(doc);
    withQuery.paths['/healthz']!['query'] = withQuery.paths['/healthz']!['get']!;
    assert.equal((await new Validator().validate(withQuery)).valid, false);
  });

  test('every route the server has is documented, or listed here as internal with the reason', () => {
    const routes = routesOf(t.kw.app.printRoutes());
    assert.ok(routes.length > 50, `the route tree was read: ${routes.length} routes`);
    const missing: string[] = [];
    const internalSeen = new Set<RegExp>();
    for (const { method, url } of routes) {
      const internal = INTERNAL.find((i) => i.route.test(url));
      if (internal) {
        internalSeen.add(internal.route);
        continue;
      }
      if (method === 'HEAD') continue;
      if (!doc.paths[openApiPath(url)]?.[method.toLowerCase()]) missing.push(`${method} ${url}`);
    }
    assert.deepEqual(missing, []);
    // Every exception is still needed (a stale one would hide a route).
    assert.deepEqual(INTERNAL.filter((i) => !internalSeen.has(i.route)).map((i) => i.why), []);
  });

  test('each identity provider endpoint has its own entry', () => {
    const realm = '/realms/{realm}';
    const oidc = `${realm}/protocol/openid-connect`;
    const expected: Record<string, string[]> = {
      [`${realm}/.well-known/openid-configuration`]: ['get'],
      [`${oidc}/auth`]: ['get'],
      [`${oidc}/token`]: ['post'],
      [`${oidc}/certs`]: ['get'],
      [`${oidc}/userinfo`]: ['get', 'post'],
      [`${oidc}/logout`]: ['get'],
      [`${oidc}/token/introspect`]: ['post'],
      [`${oidc}/revoke`]: ['post'],
      '/v1/idp/break-glass': ['post'],
    };
    for (const [path, methods] of Object.entries(expected)) {
      assert.deepEqual(Object.keys(doc.paths[path] ?? {}).sort(), methods, path);
      for (const m of methods) {
        const op = doc.paths[path]![m]!;
        assert.ok(op.responses?.['200'] ?? op.responses?.['3XX'], `${m} ${path} documents its answer`);
        if (!path.startsWith(realm)) continue;
        assert.ok(Object.keys(op.responses!).some((s) => /^[45]/.test(s)), `${m} ${path} documents its errors`);
        assert.ok(op.parameters?.some((p) => p.in === 'path' && p.name === 'realm'), `${m} ${path} names its realm`);
      }
    }
    // Client authentication where the endpoint takes it, an access token at userinfo, nothing at discovery and certs.
    assert.deepEqual(doc.paths[`${oidc}/token`]!['post']!.security, [{ oauthClient: [] }, {}]);
    assert.deepEqual(doc.paths[`${oidc}/token/introspect`]!['post']!.security, [{ oauthClient: [] }]);
    assert.deepEqual(doc.paths[`${oidc}/userinfo`]!['get']!.security, [{ idpAccessToken: [] }]);
    assert.deepEqual(doc.paths[`${realm}/.well-known/openid-configuration`]!['get']!.security, []);
    assert.deepEqual(doc.paths[`${oidc}/certs`]!['get']!.security, []);
    for (const scheme of ['oauthClient', 'idpAccessToken', 'bearer', 'apiKey']) assert.ok(doc.components.securitySchemes[scheme], scheme);
  });

  test("every operation documents its own error responses, from the registry's codes", () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const errors = Object.entries(op.responses ?? {}).filter(([status]) => /^[45]/.test(status));
        assert.ok(errors.length > 0, `${method} ${path} documents its errors`);
        // Its own codes, not the shared list of every code (which a route that declares none falls back to).
        assert.ok(errors.every(([, r]) => !('$ref' in r)), `${method} ${path} declares its problem codes`);
        assert.ok(documentedCodes(op, 500).includes('internal.error'), `${method} ${path}`);
      }
    }
    const sign = doc.paths['/v1/keys/{id}/sign']!['post']!;
    for (const [status, code] of [[400, 'crypto.input_invalid'], [400, 'key.invalid_id'], [404, 'key.not_found'], [409, 'key.disabled'], [401, 'auth.missing_credential'], [403, 'authz.denied'], [503, 'system.sealed']] as const) {
      assert.ok(documentedCodes(sign, status).includes(code), `sign documents ${status} ${code}`);
    }
    // A code the route cannot answer is not listed: reading key metadata never decrypts.
    assert.ok(!documentedCodes(doc.paths['/v1/keys/{id}']!['get']!, 400).includes('crypto.decrypt_failed'));
    assert.deepEqual(documentedCodes(doc.paths['/readyz']!['get']!, 503), ['system.not_ready']);
  });

  test('what the server answers a credentialed caller with an empty or missing body is documented', async () => {
    let problems = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        // Sealing would change every later answer; the rest refuse an empty body or an unknown key without effect.
        if (op.security !== undefined || path === '/v1/sys/seal') continue;
        const url = path.replace('{id}', 'k1');
        for (const payload of method === 'post' ? [{}, undefined] : [undefined]) {
          const r = await req(t.kw.app, { method: method.toUpperCase() as 'GET', url, headers: t.auth, ...(payload ? { payload } : {}) });
          if (!String(r.headers['content-type']).startsWith('application/problem+json')) continue;
          problems++;
          assert.ok(documentedCodes(op, r.status).includes(r.body.code), `${method} ${path} answered ${r.status} ${r.body.code}, which it does not document`);
        }
      }
    }
    assert.ok(problems > 30, `${problems} problems checked`);
  });

  test('/metrics is described, public, as Prometheus text', () => {
    const op = doc.paths['/metrics']?.['get'];
    assert.ok(op);
    assert.deepEqual(op.security, []);
    assert.ok(op.responses?.['200']?.content?.['text/plain']);
  });

  test('no catch-all `*` parameter and no method outside OpenAPI 3.1', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      assert.doesNotMatch(path, /\*/, path);
      for (const method of Object.keys(item)) assert.ok(METHODS.includes(method), `${method} ${path}`);
      for (const op of Object.values(item)) for (const p of op.parameters ?? []) assert.notEqual(p.name, '*', path);
    }
  });

  test('public routes say so, and are: no credential needed where security is empty, one needed elsewhere', async () => {
    const values: Record<string, string> = { realm: 'main', id: 'k1', uid: 'nope', file: 'nope.css' };
    const open: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const url = path.replace(/\{(\w+)\}/g, (_, name: string) => values[name]!);
        const r = await req(t.kw.app, { method: method.toUpperCase() as 'GET', url, ...(method === 'post' ? { payload: {} } : {}) });
        // A problem the server answered is one the operation documents, under its status.
        if (String(r.headers['content-type']).startsWith('application/problem+json')) {
          assert.ok(documentedCodes(op, r.status).includes(r.body.code), `${method} ${path} answered ${r.status} ${r.body.code}, which it does not document`);
        }
        const keywardCredential = op.security === undefined; // the document's default: bearer or API key
        if (op.security?.length === 0) open.push(`${method} ${path}`);
        if (keywardCredential) assert.equal(r.body?.code, 'auth.missing_credential', `${method} ${path}: ${r.status}`);
        else assert.notEqual(r.body?.code, 'auth.missing_credential', `${method} ${path} is documented as public`);
      }
    }
    for (const expected of ['get /healthz', 'get /readyz', 'get /metrics', 'get /openapi.json', 'get /v1/audit/public-key', 'get /realms/{realm}/.well-known/openid-configuration', 'get /realms/{realm}/protocol/openid-connect/certs']) {
      assert.ok(open.includes(expected), expected);
    }
  });
});
