// mTLS end to end: Keyward serving TLS, clients presenting certificates generated in-test.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import { TestPki } from '../support/certs.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';

const pki = new TestPki();

function call(port: number, path: string, client: string | undefined, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const r = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: body === undefined ? 'GET' : 'POST',
        ca: readFileSync(pki.path('ca.pem')),
        ...(client ? { cert: readFileSync(pki.path(`${client}.pem`)), key: readFileSync(pki.path(`${client}.key`)) } : {}),
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        let data = '';
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: data ? JSON.parse(data) : undefined }));
      },
    );
    r.on('error', reject);
    r.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('mTLS with SPIFFE identities', () => {
  let t: TestKeyward;
  let port: number;
  before(async () => {
    pki.ca('ca');
    pki.ca('rogue');
    pki.leaf('server', 'ca', 'localhost', 'IP:127.0.0.1');
    pki.leaf('payments', 'ca', 'payments', 'URI:spiffe://prod.example/ns/payments/sa/api');
    pki.leaf('byname', 'ca', 'ops-console');
    pki.leaf('intruder', 'rogue', 'payments', 'URI:spiffe://prod.example/ns/payments/sa/api');
    t = await startKeyward({
      config: {
        server: { tls: { cert_file: pki.path('server.pem'), key_file: pki.path('server.key') } },
        authn: {
          type: 'mtls',
          ca_file: pki.path('ca.pem'),
          trust_domains: ['prod.example'],
          identities: { 'spiffe://prod.example/ns/payments/*': ['keyward.key.pay-*.sign', 'keyward.keys.list'] },
        },
      },
    });
    await t.kw.keys.create({ principal: null, requestId: 'setup' }, { id: 'pay-1', type: 'EC-P256' });
    await t.kw.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.kw.app.server.address() as { port: number }).port;
  });
  after(() => t?.close());

  test('a SPIFFE workload signs with the keys its identity maps to', async () => {
    const r = await call(port, '/v1/keys/pay-1/sign', 'payments', { message: 'aGk=' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const denied = await call(port, '/v1/keys/pay-1/rotate', 'payments', {});
    assert.equal(denied.status, 403);
    assert.equal(denied.body.code, 'auth.scope_denied');
  });

  test('a certificate from another CA is refused; no certificate is a missing credential', async () => {
    const r = await call(port, '/v1/keys', 'intruder');
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'auth.invalid_credential');
    const none = await call(port, '/v1/keys', undefined);
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 'auth.missing_credential');
  });

  test('with trust domains configured, a CN-only certificate is refused', async () => {
    const r = await call(port, '/v1/keys', 'byname');
    assert.ok(r.status === 401 || r.status === 403, JSON.stringify(r.body));
  });
});
