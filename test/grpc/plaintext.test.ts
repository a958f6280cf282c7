// Without server.tls the gRPC port is plaintext, like REST's; production mode says so at start.
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { keyClient, refused } from './client.ts';

let t: TestKeyward;
before(async () => {
  t = await startKeyward({ config: { server: { grpc: { port: 0 }, body_limit: 4096 } } });
});
after(() => t?.close());

test('plaintext gRPC serves the key API, and production mode warns about it', async () => {
  const c = keyClient(t.kw.grpc!.port, undefined, { 'x-api-key': t.token });
  try {
    await c.call('CreateKey', { key_id: 'plain', key_type: 'Ed25519' });
    assert.equal((await c.call('Sign', { key_id: 'plain', message: Buffer.from('m') })).signature.length, 64);
    await refused(c.call('ListKeys', {}, { 'x-api-key': 'not-a-key' }), status.UNAUTHENTICATED, 'auth.invalid_credential');
    // Over server.body_limit: grpc-js refuses the message itself, before any stage (so no problem code).
    await assert.rejects(c.call('Sign', { key_id: 'plain', message: Buffer.alloc(5000) }), (e: { code: number }) => e.code === status.RESOURCE_EXHAUSTED);
  } finally {
    c.close();
  }
  assert.ok(t.logs.some((l) => l.includes('server.grpc: serving gRPC without TLS')), 'the production warning is logged');
});

test('without server.grpc there is no gRPC port', async () => {
  const other = await startKeyward();
  try {
    assert.equal(other.kw.grpc, undefined);
  } finally {
    await other.close();
  }
});
