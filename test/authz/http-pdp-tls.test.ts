// The external PDP over TLS with a client certificate (mTLS), as a remote PDP would be deployed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { HttpPdp } from '../../src/authz/http.ts';
import type { AuthzRequest } from '../../src/authz/types.ts';
import { TestPki } from '../support/certs.ts';

const pki = new TestPki();
let server: https.Server;
let url: string;
const seen: string[] = [];

before(async () => {
  pki.ca('ca');
  pki.leaf('pdp', 'ca', 'localhost', 'IP:127.0.0.1');
  pki.leaf('keyward', 'ca', 'keyward-instance');
  server = https.createServer(
    { key: readFileSync(pki.path('pdp.key')), cert: readFileSync(pki.path('pdp.pem')), ca: readFileSync(pki.path('ca.pem')), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      seen.push((req.socket as TLSSocket).getPeerCertificate().subject.CN as string);
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const r = JSON.parse(body) as { request_id: string };
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ request_id: r.request_id, decision: 'Permit', reasons: [{ policy_id: 'tls-ok' }], obligations: [], policy_version: 'v1' }));
      });
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/authorize`;
});
after(() => server.close());

const request: AuthzRequest = {
  requestId: 'r-tls',
  action: 'kms:Sign',
  permission: 'keyward.key.k1.sign',
  principal: { id: 'svc', type: 'service', authMethod: 'jwt', permissions: [], attributes: {} },
  resource: { type: 'Key', id: 'k1', attributes: { key_type: 'EC-P256', state: 'enabled' } },
  context: { source_ip: '127.0.0.1', request_time: new Date().toISOString(), auth_method: 'jwt' },
};

test('HTTP PDP over mTLS: the PDP sees Keyward\'s client certificate and permits', async () => {
  const pdp = new HttpPdp({ endpoint: url, timeoutMs: 2000, caFile: pki.path('ca.pem'), certFile: pki.path('keyward.pem'), keyFile: pki.path('keyward.key') });
  const d = await pdp.decide(request);
  assert.deepEqual([d.allowed, d.policyVersion], [true, 'v1']);
  assert.equal(seen.at(-1), 'keyward-instance');
  await pdp.close?.();
});

test('without the client certificate, or without trusting the PDP\'s CA, every decision fails closed', async () => {
  for (const pdp of [
    new HttpPdp({ endpoint: url, timeoutMs: 2000, caFile: pki.path('ca.pem') }),
    new HttpPdp({ endpoint: url, timeoutMs: 2000, certFile: pki.path('keyward.pem'), keyFile: pki.path('keyward.key') }),
  ]) {
    await assert.rejects(pdp.decide(request), (e: { code?: string; status?: number }) => e.code === 'authz.pdp_unavailable' && e.status === 503);
    await pdp.close?.();
  }
});
