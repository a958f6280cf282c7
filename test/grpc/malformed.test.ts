// Messages a client can send that REST's routing would never let through: an empty key_id (proto3 cannot tell it
// from an unset one) and bytes that do not decode as the method's message. Each is a refusal with a problem code,
// audited, never INTERNAL.
import { status } from '@grpc/grpc-js';
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
