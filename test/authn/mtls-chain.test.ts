import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { authnConfigSchema, authnProductionProblems, authnTlsRequirements } from '../../src/authn/config.ts';
import { authenticateRequest, chainAuthenticators, createAuthenticator, createBootstrapTokenAuthenticator, generateBootstrapToken } from '../../src/authn/index.ts';
import { fingerprint } from '../../src/authn/fingerprint.ts';
import type { Authenticator } from '../../src/authn/types.ts';
import { isProblem } from '../../src/core/problem.ts';
import { movableClock, rejectsWith, testLogger } from './helpers.ts';
import { TestPki } from '../support/certs.ts';

const pki = new TestPki();
const dir = pki.dir;
const f = (n: string) => pki.path(n);
const ca = (name: string) => pki.ca(name);
const leaf = (name: string, caName: string, cn: string, san?: string) => pki.leaf(name, caName, cn, san);

let server: https.Server;
let port: number;
let authn: Authenticator;

before(async () => {
  ca('ca');
  ca('otherca');
  leaf('server', 'ca', 'localhost', 'IP:127.0.0.1');
  leaf('spiffe', 'ca', 'ignored-cn', 'URI:spiffe://prod.example/ns/payments/sa/api, DNS:api.local');
  leaf('foreign', 'ca', 'x', 'URI:spiffe://evil.example/ns/a');
  leaf('cn', 'ca', 'legacy-client');
  leaf('rogue', 'otherca', 'legacy-client');
  const raw = {
    type: 'mtls' as const,
    ca_file: f('ca.pem'),
    identities: { 'spiffe://prod.example/ns/payments/*': ['keyward.key.payments-*.sign'], 'legacy-client': ['keyward.keys.list'] },
  };
  const cfg = authnConfigSchema.parse(raw);
  authn = await createAuthenticator(cfg, { env: {}, logger: testLogger().logger, clock: movableClock(), mode: 'production' });
  const strict = await createAuthenticator(authnConfigSchema.parse({ ...raw, trust_domains: ['prod.example'] }), { env: {}, logger: testLogger().logger, clock: movableClock(), mode: 'production' });
  server = https.createServer({ key: readFileSync(f('server.key')), cert: readFileSync(f('server.pem')), ca: readFileSync(f('ca.pem')), requestCert: true, rejectUnauthorized: false }, async (req, res) => {
    const sock = req.socket as TLSSocket;
    const a = req.url === '/strict' ? strict : authn;
    try {
      const p = await authenticateRequest(a, { headers: req.headers, sourceIp: sock.remoteAddress ?? '', peerCertificate: sock.getPeerCertificate(), peerAuthorized: sock.authorized });
      res.end(JSON.stringify({ ok: true, p }));
    } catch (err) {
      res.statusCode = isProblem(err) ? err.status : 500;
      res.end(JSON.stringify({ code: isProblem(err) ? err.code : String(err) }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server?.closeAllConnections();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function call(client: string | undefined, path = '/'): Promise<{ status: number; body: { p?: { id: string; permissions: string[]; attributes: Record<string, unknown> }; code?: string } }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, ca: readFileSync(f('ca.pem')), agent: false, ...(client ? { key: readFileSync(f(`${client}.key`)), cert: readFileSync(f(`${client}.pem`)) } : {}) },
      (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(b) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('mTLS: SPIFFE ID preferred over CN, mapped to permissions', async () => {
  const r = await call('spiffe');
  assert.equal(r.status, 200);
  assert.equal(r.body.p?.id, 'spiffe://prod.example/ns/payments/sa/api');
  assert.deepEqual(r.body.p?.permissions, ['keyward.key.payments-*.sign']);
  assert.equal(r.body.p?.attributes['trust_domain'], 'prod.example');
});

test('mTLS: CN when there is no SPIFFE ID; wrong CA and trust domains refused; no cert is no credential', async () => {
  const cn = await call('cn');
  assert.deepEqual([cn.status, cn.body.p?.id, cn.body.p?.permissions], [200, 'legacy-client', ['keyward.keys.list']]);
  assert.deepEqual([(await call('rogue')).status, (await call('rogue')).body.code], [401, 'auth.invalid_credential']);
  assert.deepEqual((await call('foreign', '/strict')).body.code, 'auth.client_not_allowed');
  assert.deepEqual((await call('cn', '/strict')).body.code, 'auth.client_not_allowed');
  assert.equal((await call('spiffe', '/strict')).status, 200);
  assert.deepEqual((await call(undefined)).body.code, 'auth.missing_credential');
});

test('chain: order decides, and a recognised but invalid credential never falls through', async () => {
  const env = { K: fingerprint('the-api-key-123') };
  const { logger } = testLogger();
  const clock = movableClock();
  const cfg = authnConfigSchema.parse({
    type: 'chain',
    authenticators: [
      { type: 'api_key', keys: [{ id: 'k', hash_env: 'K', scopes: ['keyward.keys.list'] }] },
      { type: 'forwarded_identity', trusted_proxies: ['10.0.0.0/8'], permissions_header: 'x-perms' },
    ],
  });
  const a = await createAuthenticator(cfg, { env, logger, clock, mode: 'production' });
  const fwdHeaders = { 'x-forwarded-user': 'bob', 'x-perms': 'keyward.*' };
  assert.equal((await a.authenticate({ headers: { 'x-api-key': 'the-api-key-123', ...fwdHeaders }, sourceIp: '10.0.0.1' }))?.id, 'k');
  await rejectsWith(a.authenticate({ headers: { 'x-api-key': 'wrong', ...fwdHeaders }, sourceIp: '10.0.0.1' }), 'auth.invalid_credential');
  assert.equal((await a.authenticate({ headers: fwdHeaders, sourceIp: '10.0.0.1' }))?.id, 'bob');
  await rejectsWith(a.authenticate({ headers: fwdHeaders, sourceIp: '8.8.8.8' }), 'auth.invalid_credential');
  await rejectsWith(authenticateRequest(a, { headers: {}, sourceIp: '8.8.8.8' }), 'auth.missing_credential');
  await rejectsWith(a.authenticate({ headers: { authorization: 'Basic Zm9vOmJhcg==' }, sourceIp: '8.8.8.8' }), 'auth.malformed_credential');
  // a dev bootstrap token in front of the configured chain; a wrong bootstrap token is not tried as an API key
  const { token, tokenHash } = generateBootstrapToken();
  const bt = createBootstrapTokenAuthenticator({ tokenHash, issuedAt: clock.now(), maxAge: 900, mode: 'dev', logger, clock });
  const both = chainAuthenticators([bt, a]);
  assert.equal((await both.authenticate({ headers: { authorization: `Bearer ${token}` }, sourceIp: '1.1.1.1' }))?.id, 'bootstrap');
  assert.equal((await both.authenticate({ headers: { authorization: 'Bearer the-api-key-123' }, sourceIp: '1.1.1.1' }))?.id, 'k');
  await rejectsWith(both.authenticate({ headers: { authorization: `Bearer ${generateBootstrapToken().token}` }, sourceIp: '1.1.1.1' }), 'auth.invalid_credential');
});

test('insecure only in dev mode; production problems; TLS requirements', async () => {
  const { logger } = testLogger();
  const insecure = authnConfigSchema.parse({ type: 'insecure' });
  await assert.rejects(createAuthenticator(insecure, { env: {}, logger, clock: movableClock(), mode: 'production' }), /insecure/);
  const a = await createAuthenticator(insecure, { env: {}, logger, clock: movableClock(), mode: 'dev' });
  assert.deepEqual(await a.authenticate({ headers: {}, sourceIp: '1.2.3.4' }), { id: 'anonymous', type: 'anonymous', authMethod: 'insecure', permissions: ['keyward.*'], attributes: {} });
  assert.ok(authnProductionProblems(insecure).some((p) => p.includes('insecure')));
  const bt = authnConfigSchema.parse({ type: 'bootstrap_token', token_hash_env: 'X', max_age: '2h' });
  assert.equal(authnProductionProblems(bt).length, 3);
  const ok = authnConfigSchema.parse({ type: 'chain', authenticators: [{ type: 'jwt', issuer: 'https://idp', audience: 'kw', jwks_url: 'https://idp/jwks' }, { type: 'bootstrap_token', token_hash_env: 'X', issued_at_env: 'Y' }] });
  assert.deepEqual(authnProductionProblems(ok), []);
  assert.equal(authnProductionProblems(authnConfigSchema.parse({ type: 'jwt', issuer: 'x', audience: 'kw', jwks_url: 'http://idp.example/jwks' })).length, 1);
  const proxies = (trusted: string[]) => authnProductionProblems(authnConfigSchema.parse({ type: 'forwarded_identity', trusted_proxies: trusted }));
  for (const everyone of [['0.0.0.0/0'], ['0.0.0.0/00'], ['0.0.0.0/1', '128.0.0.0/1'], ['::/0'], ['::/8']]) assert.equal(proxies(everyone).length, 1, everyone.join());
  assert.deepEqual(proxies(['10.0.0.0/8', '192.168.1.7', 'fd00::/16']), []);
  assert.deepEqual(authnTlsRequirements(authnConfigSchema.parse({ type: 'mtls', ca_file: '/x/ca.pem' })), { requestClientCert: true, caFiles: ['/x/ca.pem'] });
  await assert.rejects(createAuthenticator(authnConfigSchema.parse({ type: 'mtls', ca_file: '/nonexistent/ca.pem' }), { env: {}, logger, clock: movableClock(), mode: 'dev' }), /ca_file/);
});

test('chain with two JWT issuers routes each token to its issuer; an unknown issuer is refused by the first', async () => {
  const { startIdp } = await import('./helpers.ts');
  const a = await startIdp();
  const b = await startIdp();
  try {
    await a.addKey('ka', 'ES256');
    await b.addKey('kb', 'ES256');
    const { logger } = testLogger();
    const chain = await createAuthenticator(
      authnConfigSchema.parse({
        type: 'chain',
        authenticators: [
          { type: 'jwt', issuer: a.issuer, audience: 'kw', jwks_url: a.jwksUrl, algorithms: ['ES256'] },
          { type: 'jwt', issuer: b.issuer, audience: 'kw', jwks_url: b.jwksUrl, algorithms: ['ES256'] },
        ],
      }),
      { env: {}, logger, clock: movableClock(new Date()), mode: 'production' },
    );
    const exp = Math.floor(Date.now() / 1000) + 60;
    const fromB = await b.sign({ iss: b.issuer, aud: 'kw', sub: 'bob', exp });
    const p = await authenticateRequest(chain, { headers: { authorization: `Bearer ${fromB}` }, sourceIp: '127.0.0.1' });
    assert.equal(p.id, 'bob');
    // Signed by B but claiming A's issuer: routed to A, whose keys do not verify it.
    const forged = await b.sign({ iss: a.issuer, aud: 'kw', sub: 'mallory', exp });
    await rejectsWith(authenticateRequest(chain, { headers: { authorization: `Bearer ${forged}` }, sourceIp: '127.0.0.1' }), 'auth.kid_unknown');
    const stranger = await b.sign({ iss: 'https://elsewhere', aud: 'kw', sub: 'eve', exp });
    await rejectsWith(authenticateRequest(chain, { headers: { authorization: `Bearer ${stranger}` }, sourceIp: '127.0.0.1' }), 'auth.issuer_mismatch');
    await chain.close?.();
  } finally {
    await a.close();
    await b.close();
  }
});
