// SignJwt's payload_json is read as REST reads a JSON body: I-JSON only, so both transports refuse the same claims.
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { keyClient, refused, type KeyClient } from './client.ts';

let t: TestKeyward;
let c: KeyClient;
before(async () => {
  t = await startKeyward({ config: { server: { grpc: { port: 0 } } } });
  c = keyClient(t.kw.grpc!.port, undefined, { 'x-api-key': t.token });
  await c.call('CreateKey', { key_id: 'ec', key_type: 'EC-P256' });
});
after(async () => {
  c?.close();
  await t?.close();
});

test('claims with a member named twice, or a lone surrogate, are request.malformed_json as over REST', async () => {
  for (const payload_json of ['{"sub":"alice","sub":"admin"}', '{"sub":"\\ud800"}']) {
    await refused(c.call('SignJwt', { key_id: 'ec', payload_json }), status.INVALID_ARGUMENT, 'request.malformed_json');
    const rest = await t.kw.app.inject({ method: 'POST', url: '/v1/keys/ec/jwt', headers: { ...t.auth, 'content-type': 'application/json' }, payload: `{"payload":${payload_json}}` });
    assert.equal(rest.json().code, 'request.malformed_json');
  }
  assert.ok((await c.call('SignJwt', { key_id: 'ec', payload_json: '{"sub":"alice","nested":{"sub":"x"}}' })).jwt);
});
