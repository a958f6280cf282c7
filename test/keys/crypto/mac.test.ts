import assert from 'node:assert/strict';
import { createHmac, createSecretKey, randomBytes as nodeRandomBytes } from 'node:crypto';
import { test } from 'node:test';
import { generateKey, hmac, loadPrivateKey, randomBytes, verifyHmac } from '../../../src/keys/crypto/index.ts';
import { flipBit, problem } from './helpers.ts';

test('HMAC-SHA256 matches node and verifies', async () => {
  const material = (await generateKey('HMAC-SHA256')).material;
  assert.equal(material.length, 32);
  const key = loadPrivateKey('HMAC-SHA256', material);
  const message = Buffer.from('payload');
  const mac = hmac(key, message);
  assert.deepEqual(mac, createHmac('sha256', material).update(message).digest());
  assert.equal(verifyHmac(key, message, mac), true);
  assert.equal(verifyHmac(key, Buffer.from('payloaD'), mac), false);
  assert.equal(verifyHmac(key, message, flipBit(mac)), false);
  assert.equal(verifyHmac(key, message, mac.subarray(0, 16)), false, 'truncated MACs are refused');
  assert.equal(verifyHmac(key, message, Buffer.concat([mac, Buffer.alloc(1)])), false);
  assert.equal(verifyHmac(key, message, Buffer.alloc(0)), false);
  assert.equal(verifyHmac(createSecretKey(nodeRandomBytes(32)), message, mac), false, 'wrong key');
});

test('randomBytes bounds', () => {
  assert.equal(randomBytes(1).length, 1);
  assert.equal(randomBytes(1024).length, 1024);
  assert.notDeepEqual(randomBytes(32), randomBytes(32));
  for (const n of [0, -1, 1025, 1.5, Number.NaN]) assert.throws(() => randomBytes(n), problem('crypto.random_length'), String(n));
});
