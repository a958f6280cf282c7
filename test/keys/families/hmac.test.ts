import assert from 'node:assert/strict';
import { createHmac, createSecretKey, randomBytes as nodeRandomBytes } from 'node:crypto';
import { test } from 'node:test';
import { hmac, verifyHmac } from '../../../src/keys/families/hmac.ts';
import { generateKey, loadPrivateKey } from '../../../src/keys/families/index.ts';
import { flipBit } from './helpers.ts';

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
