import assert from 'node:assert/strict';
import { type KeyObject, createSecretKey, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { decrypt, encrypt, generateDataKey } from '../../../src/keys/families/aes-gcm.ts';
import { ciphertextVersion, generateKey, loadPrivateKey } from '../../../src/keys/families/index.ts';
import { problem } from '../../support/problem.ts';

const k1 = createSecretKey(randomBytes(32));
const k2 = createSecretKey(randomBytes(32));
const versions = new Map<number, KeyObject>([[1, k1], [2, k2]]);
const resolve = (v: number) => versions.get(v);
const plaintext = Buffer.from('attack at dawn');
const aad = Buffer.from('tenant=a;key=orders');

describe('AES-256-GCM envelope', () => {
  test('roundtrip without and with AAD; layout', async () => {
    const k = loadPrivateKey('AES-256-GCM', (await generateKey('AES-256-GCM')).material);
    const ct = encrypt(k, 7, plaintext);
    assert.equal(ct.length, 1 + 4 + 12 + plaintext.length + 16);
    assert.equal(ct[0], 0x01);
    assert.equal(ct.readUInt32BE(1), 7);
    assert.equal(ciphertextVersion(ct), 7);
    assert.deepEqual(decrypt(() => k, ct), { plaintext, version: 7 });
    assert.deepEqual(decrypt(() => k, ct, Buffer.alloc(0)), { plaintext, version: 7 }, 'empty AAD = no AAD');

    const withAad = encrypt(k1, 1, plaintext, aad);
    assert.deepEqual(decrypt(resolve, withAad, aad), { plaintext, version: 1 });
    assert.deepEqual(decrypt(resolve, encrypt(k2, 2, Buffer.alloc(0), aad), aad), { plaintext: Buffer.alloc(0), version: 2 });
    assert.equal(ciphertextVersion(encrypt(k1, 0xffffffff, plaintext)), 0xffffffff);
  });

  test('fresh IV each time', () => {
    const a = encrypt(k1, 1, plaintext);
    const b = encrypt(k1, 1, plaintext);
    assert.notDeepEqual(a.subarray(5, 17), b.subarray(5, 17));
    assert.notDeepEqual(a, b);
  });

  test('AAD mismatch fails', () => {
    const ct = encrypt(k1, 1, plaintext, aad);
    assert.throws(() => decrypt(resolve, ct), problem('crypto.decrypt_failed'));
    assert.throws(() => decrypt(resolve, ct, Buffer.from('tenant=b;key=orders')), problem('crypto.decrypt_failed'));
    assert.throws(() => decrypt(resolve, encrypt(k1, 1, plaintext), aad), problem('crypto.decrypt_failed'));
  });

  test('tampering with any region fails', () => {
    const ct = encrypt(k1, 1, plaintext, aad);
    const regions = { format: 0, version: 4, iv: 10, body: 17 + 3, tag: ct.length - 1 };
    for (const [name, i] of Object.entries(regions)) {
      const bad = Buffer.from(ct);
      bad[i] = bad[i]! ^ 0x40;
      assert.throws(
        () => decrypt(resolve, bad, aad),
        (e: { code?: string }) => ['crypto.decrypt_failed', 'crypto.ciphertext_malformed', 'crypto.key_version_unavailable'].includes(e.code ?? ''),
        name,
      );
    }
    // Truncation and extension.
    assert.throws(() => decrypt(resolve, ct.subarray(0, ct.length - 1), aad), problem('crypto.decrypt_failed'));
    assert.throws(() => decrypt(resolve, Buffer.concat([ct, Buffer.alloc(1)]), aad), problem('crypto.decrypt_failed'));
  });

  test('swapping the header version is detected even when that version resolves to the same key', () => {
    // Both versions map to the same key: only the header's binding into the AAD can catch the swap.
    const same = (v: number) => (v === 1 || v === 2 ? k1 : undefined);
    const ct = encrypt(k1, 1, plaintext, aad);
    const swapped = Buffer.from(ct);
    swapped.writeUInt32BE(2, 1);
    assert.equal(ciphertextVersion(swapped), 2);
    assert.throws(() => decrypt(same, swapped, aad), problem('crypto.decrypt_failed'));
  });

  test('wrong key fails; unknown version is unavailable', () => {
    const ct = encrypt(k1, 1, plaintext);
    assert.throws(() => decrypt(() => k2, ct), problem('crypto.decrypt_failed'));
    assert.throws(() => decrypt(resolve, encrypt(k1, 3, plaintext)), problem('crypto.key_version_unavailable'));
  });

  test('malformed ciphertexts', () => {
    const ct = encrypt(k1, 1, plaintext);
    for (const bad of [Buffer.alloc(0), Buffer.from([1]), ct.subarray(0, 32), Buffer.concat([Buffer.from([2]), ct.subarray(1)])]) {
      assert.throws(() => ciphertextVersion(bad), problem('crypto.ciphertext_malformed'));
      assert.throws(() => decrypt(resolve, bad), problem('crypto.ciphertext_malformed'));
    }
    // The shortest well-formed envelope (empty plaintext) parses.
    assert.equal(ciphertextVersion(ct.subarray(0, 33)), 1);
  });

  test('programming errors are internal', () => {
    assert.throws(() => encrypt(k1, -1, plaintext), problem('crypto.key_version_invalid', 500));
    assert.throws(() => encrypt(k1, 2 ** 32, plaintext), problem('crypto.key_version_invalid', 500));
    assert.throws(() => encrypt(createSecretKey(randomBytes(16)), 1, plaintext), problem('crypto.key_material_invalid', 500));
  });
});

describe('data keys', () => {
  for (const bytes of [16, 32, 64] as const) {
    test(`${bytes}-byte data key roundtrip`, () => {
      const dk = generateDataKey(k2, 2, bytes, aad);
      assert.equal(dk.plaintext.length, bytes);
      assert.deepEqual(decrypt(resolve, dk.ciphertext, aad), { plaintext: dk.plaintext, version: 2 });
      assert.throws(() => decrypt(resolve, dk.ciphertext), problem('crypto.decrypt_failed'));
    });
  }

  test('other sizes are refused', () => {
    assert.throws(() => generateDataKey(k1, 1, 24 as 16), problem('crypto.data_key_length'));
  });
});
