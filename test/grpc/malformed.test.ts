// Messages a client can send that REST's routing would never let through: an empty key_id (proto3 cannot tell it
// from an unset one) and bytes that do not decode as the method's message. Each is a refusal with a problem code,
// audited, never INTERNAL.
import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { keyClient, refused } from './client.ts';

let t: TestKeyward;
before(async () => {
  t = await startKeyward({ config: { server: { grpc: { port: 0 } } } });
});
after(() => t?.close());

// Every RPC that names a key in key_id (REST: the path's {id}).
const KEYED = ['GetKey', 'GetPublicKey', 'GetJwks', 'RotateKey', 'DisableKey', 'EnableKey', 'DestroyKey', 'Sign', 'Verify', 'Encrypt', 'Decrypt', 'GenerateDataKey', 'GenerateMac', 'VerifyMac', 'SignJwt'];

test('an empty or unset key_id is key.invalid_id on every RPC that names a key, as REST answers an empty {id}', async () => {
  const c = keyClient(t.kw.grpc!.port, undefined, t.auth);
  try {
    for (const rpc of KEYED) {
      await refused(c.call(rpc, {}, { 'x-request-id': `empty-${rpc}` }), status.INVALID_ARGUMENT, 'key.invalid_id');
      await refused(c.call(rpc, { key_id: '' }), status.INVALID_ARGUMENT, 'key.invalid_id');
      const events = t.auditLines.map((l) => JSON.parse(l) as { request_id: string; error_code: string }).filter((e) => e.request_id === `empty-${rpc}`);
      assert.deepEqual(events.map((e) => e.error_code), ['key.invalid_id'], rpc);
    }
  } finally {
    c.close();
  }
  assert.ok(!t.logs.some((l) => l.includes('unhandled error')), 'no call reached the unhandled-error path');
});

/** Sends `bytes` as the request of `method` as they are, with no protobuf encoding on the client. */
function rawCall(method: string, bytes: Buffer, md: Record<string, string>): Promise<ServiceError> {
  const client = new Client(`127.0.0.1:${t.kw.grpc!.port}`, credentials.createInsecure());
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(md)) metadata.add(k, v);
  return new Promise<ServiceError>((resolve, reject) => {
    client.makeUnaryRequest(`/keyward.v1.KeyService/${method}`, (b: Buffer) => b, (b: Buffer) => b, bytes, metadata, (err) => {
      client.close();
      if (err) resolve(err);
      else reject(new Error(`${method} accepted bytes that are not its message`));
    });
  });
}

test('bytes that are not the message are request.invalid (INVALID_ARGUMENT, audited), after authentication', async () => {
  // 0xff…: a tag with field number 0 and an over-long varint. 0x0a 0x01 0x05: field 1 length-delimited, where
  // RandomRequest's field 1 is a varint.
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]);
  const cases: Array<[string, Buffer]> = [['GetKey', garbage], ['CreateKey', garbage], ['GenerateRandom', garbage], ['GenerateRandom', Buffer.from([0x0a, 0x01, 0x05])]];
  for (const [i, [rpc, bytes]] of cases.entries()) {
    const rid = `garbage-${i}-${rpc}`;
    const err = await rawCall(rpc, bytes, { ...t.auth, 'x-request-id': rid });
    assert.equal(err.code, status.INVALID_ARGUMENT, `${rpc}: ${err.code} ${err.details}`);
    assert.deepEqual(err.metadata.get('keyward-problem-code'), ['request.invalid'], rpc);
    assert.deepEqual(err.metadata.get('x-request-id'), [rid]);
    const events = t.auditLines.map((l) => JSON.parse(l) as { request_id: string; error_code: string }).filter((e) => e.request_id === rid);
    assert.deepEqual(events.map((e) => e.error_code), ['request.invalid'], rpc);
  }
  const anonymous = await rawCall('GetKey', garbage, {});
  assert.equal(anonymous.code, status.UNAUTHENTICATED);
  assert.deepEqual(anonymous.metadata.get('keyward-problem-code'), ['auth.missing_credential']);
  // The server still serves well-formed calls.
  const c = keyClient(t.kw.grpc!.port, undefined, t.auth);
  try {
    assert.equal((await c.call('GenerateRandom', { bytes: 4 })).random.length, 4);
  } finally {
    c.close();
  }
});
