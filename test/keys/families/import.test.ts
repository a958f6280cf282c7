import assert from 'node:assert/strict';
import { type KeyObject, createPublicKey, generateKeyPairSync, randomBytes, verify as nodeVerify } from 'node:crypto';
import { describe, test } from 'node:test';
import { type SigningKeyType, SIGNING_KEY_TYPES, fingerprint, importKey, loadPrivateKey, sign } from '../../../src/keys/families/index.ts';
import { problem } from '../../support/problem.ts';

// Keys made by node:crypto directly (independent of generateKey); a single RSA-4096.
function nodeKey(type: SigningKeyType): KeyObject {
  switch (type) {
    case 'EC-P256': return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'EC-P384': return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    case 'EC-P521': return generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey;
    case 'Ed25519': return generateKeyPairSync('ed25519').privateKey;
    case 'RSA-2048': return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    case 'RSA-3072': return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
    case 'RSA-4096': return generateKeyPairSync('rsa', { modulusLength: 4096 }).privateKey;
    default: {
      const unknown: never = type;
      throw new Error(`no node key for ${String(unknown)}`);
    }
  }
}
const keys = new Map(SIGNING_KEY_TYPES.map((t) => [t, nodeKey(t)]));
const pkcs8Pem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }) as string;
const message = Buffer.from('imported keys sign too');

describe('asymmetric import', () => {
  for (const type of SIGNING_KEY_TYPES) {
    const key = keys.get(type)!;
    const pub = createPublicKey(key);
    const spki = pub.export({ type: 'spki', format: 'der' });

    for (const [form, input] of [['PEM', { pem: pkcs8Pem(key) }], ['JWK', { jwk: key.export({ format: 'jwk' }) }]] as const) {
      test(`${type} from ${form}`, async () => {
        const imported = importKey(type, input);
        assert.deepEqual(imported.material, key.export({ type: 'pkcs8', format: 'der' }));
        assert.deepEqual(imported.publicKeySpki, spki);
        assert.equal(fingerprint(type, imported.publicKeySpki, imported.material), fingerprint(type, spki, Buffer.alloc(0)));
        const loaded = loadPrivateKey(type, imported.material);
        const sig = await sign({ keyObject: loaded, type, input: { message } });
        const hash = type === 'Ed25519' ? null : type === 'EC-P384' ? 'sha384' : type === 'EC-P521' ? 'sha512' : 'sha256';
        assert.ok(nodeVerify(hash, message, pub, sig));
      });
    }

    test(`${type}: another type's key is a type mismatch`, () => {
      for (const other of SIGNING_KEY_TYPES.filter((t) => t !== type)) {
        const k = keys.get(other)!;
        assert.throws(() => importKey(type, { pem: pkcs8Pem(k) }), problem('key.import_type_mismatch'), `${other} as ${type}`);
        assert.throws(() => importKey(type, { jwk: k.export({ format: 'jwk' }) }), problem('key.import_type_mismatch'), `${other} JWK as ${type}`);
      }
    });

    test(`${type}: a public key is not private`, () => {
      assert.throws(() => importKey(type, { pem: pub.export({ type: 'spki', format: 'pem' }) as string }), problem('key.import_not_private'));
      assert.throws(() => importKey(type, { jwk: pub.export({ format: 'jwk' }) }), problem('key.import_not_private'));
    });
  }

  test('other curves and algorithms are mismatches', () => {
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
    assert.throws(() => importKey('EC-P256', { pem: pkcs8Pem(k1) }), problem('key.import_type_mismatch'));
    const ed448 = generateKeyPairSync('ed448').privateKey;
    assert.throws(() => importKey('Ed25519', { pem: pkcs8Pem(ed448) }), problem('key.import_type_mismatch'));
    assert.throws(() => importKey('EC-P256', { jwk: { kty: 'oct', k: randomBytes(32).toString('base64url') } }), problem('key.import_type_mismatch'));
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey;
    assert.throws(() => importKey('RSA-2048', { pem: pkcs8Pem(pss) }), problem('key.import_type_mismatch'));
  });

  test('traditional PEM forms (PKCS#1, SEC1) are accepted and stored as PKCS#8', () => {
    const rsa = keys.get('RSA-2048')!;
    const fromPkcs1 = importKey('RSA-2048', { pem: rsa.export({ type: 'pkcs1', format: 'pem' }) as string });
    assert.deepEqual(fromPkcs1.material, rsa.export({ type: 'pkcs8', format: 'der' }));
    const ec = keys.get('EC-P256')!;
    const fromSec1 = importKey('EC-P256', { pem: ec.export({ type: 'sec1', format: 'pem' }) as string });
    assert.deepEqual(fromSec1.publicKeySpki, createPublicKey(ec).export({ type: 'spki', format: 'der' }));
  });

  test('garbage is import_invalid', () => {
    const pem = pkcs8Pem(keys.get('EC-P256')!);
    for (const bad of ['', 'not a key', pem.slice(0, pem.length / 2), pem.replace('MIGHAgEA', 'MAGHAgEA'), '-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n']) {
      assert.throws(() => importKey('EC-P256', { pem: bad }), problem('key.import_invalid'), JSON.stringify(bad.slice(0, 40)));
    }
    for (const jwk of [{}, { kty: 'EC' }, { kty: 'EC', crv: 'P-256', d: 'AAAA', x: 'AAAA', y: 'AAAA' }, { kty: 'RSA', n: 'AQAB', e: 'AQAB', d: 'AQAB' }]) {
      assert.throws(() => importKey('EC-P256', { jwk }), problem('key.import_invalid'), JSON.stringify(jwk));
    }
    assert.throws(() => importKey('EC-P256', { jwk: 'nope' as never }), problem('key.import_invalid'));
    assert.throws(() => importKey('EC-P256', { pem: 42 as never }), problem('key.import_invalid'));
  });

  test('a PKCS#8 whose embedded public key does not match the private scalar is refused', () => {
    const der = keys.get('EC-P256')!.export({ type: 'pkcs8', format: 'der' });
    assert.equal(der.subarray(34, 36).toString('hex'), '0420', 'P-256 PKCS#8 layout: scalar at 36');
    const bad = Buffer.from(der);
    bad[40] = bad[40]! ^ 0x01;
    const pem = `-----BEGIN PRIVATE KEY-----\n${bad.toString('base64')}\n-----END PRIVATE KEY-----\n`;
    assert.throws(() => importKey('EC-P256', { pem }), problem('key.import_invalid'));
  });

  test('encrypted PEM is refused', () => {
    const enc = keys.get('EC-P256')!.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
    assert.throws(() => importKey('EC-P256', { pem: enc }), problem('key.import_invalid'));
  });

  test('a PEM with two private keys is refused (OpenSSL would take the first); EC PARAMETERS before the key is fine', () => {
    const a = keys.get('EC-P256')!;
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    assert.throws(() => importKey('EC-P256', { pem: pkcs8Pem(a) + pkcs8Pem(b) }), problem('key.import_invalid'));
    assert.throws(() => importKey('EC-P256', { pem: pkcs8Pem(a) + (b.export({ type: 'sec1', format: 'pem' }) as string) }), problem('key.import_invalid'));
    // What `openssl ecparam -name prime256v1 -genkey` prints.
    const params = '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n';
    const imported = importKey('EC-P256', { pem: params + (a.export({ type: 'sec1', format: 'pem' }) as string) });
    assert.deepEqual(imported.material, a.export({ type: 'pkcs8', format: 'der' }));
  });

  test('a JWK whose public point belongs to another key is refused', () => {
    const a = keys.get('EC-P256')!.export({ format: 'jwk' });
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    assert.throws(() => importKey('EC-P256', { jwk: { ...a, x: b.x, y: b.y } }), problem('key.import_invalid'));
  });

  test('exactly one input', () => {
    const pem = pkcs8Pem(keys.get('Ed25519')!);
    assert.throws(() => importKey('Ed25519', {}), problem('key.import_invalid'));
    assert.throws(() => importKey('Ed25519', { pem, jwk: keys.get('Ed25519')!.export({ format: 'jwk' }) }), problem('key.import_invalid'));
    assert.throws(() => importKey('Ed25519', { raw_base64: randomBytes(32).toString('base64') }), problem('key.import_invalid'));
  });
});

describe('symmetric import', () => {
  test('AES-256-GCM raw and oct JWK', () => {
    const raw = randomBytes(32);
    assert.deepEqual(importKey('AES-256-GCM', { raw_base64: raw.toString('base64') }), { material: raw, publicKeySpki: null });
    assert.deepEqual(importKey('AES-256-GCM', { jwk: { kty: 'oct', k: raw.toString('base64url'), alg: 'A256GCM' } }).material, raw);
    assert.equal(loadPrivateKey('AES-256-GCM', raw).symmetricKeySize, 32);
    for (const n of [0, 16, 31, 33, 64]) {
      assert.throws(() => importKey('AES-256-GCM', { raw_base64: randomBytes(n).toString('base64') }), problem('key.import_invalid'), `${n} bytes`);
    }
  });

  test('HMAC-SHA256 takes 16..64 bytes', () => {
    for (const n of [16, 32, 64]) {
      const raw = randomBytes(n);
      assert.deepEqual(importKey('HMAC-SHA256', { raw_base64: raw.toString('base64') }).material, raw);
      assert.deepEqual(importKey('HMAC-SHA256', { jwk: { kty: 'oct', k: raw.toString('base64url') } }).material, raw);
    }
    for (const n of [0, 15, 65]) {
      assert.throws(() => importKey('HMAC-SHA256', { raw_base64: randomBytes(n).toString('base64') }), problem('key.import_invalid'), `${n} bytes`);
    }
  });

  test('bad encodings and wrong shapes', () => {
    assert.throws(() => importKey('AES-256-GCM', { raw_base64: 'not base64!' }), problem('key.import_invalid'));
    assert.throws(() => importKey('AES-256-GCM', { raw_base64: randomBytes(32).toString('base64url').replace(/=+$/, '') + '-_' }), problem('key.import_invalid'));
    assert.throws(() => importKey('AES-256-GCM', { jwk: { kty: 'oct', k: 'a+b/' } }), problem('key.import_invalid'));
    assert.throws(() => importKey('AES-256-GCM', { pem: pkcs8Pem(keys.get('EC-P256')!) }), problem('key.import_invalid'));
    assert.throws(() => importKey('AES-256-GCM', { jwk: keys.get('EC-P256')!.export({ format: 'jwk' }) }), problem('key.import_type_mismatch'));
    assert.throws(
      () => importKey('AES-256-GCM', { jwk: { kty: 'oct', k: randomBytes(32).toString('base64url'), alg: 'HS256' } }),
      problem('key.import_type_mismatch'),
    );
  });
});

test('loadPrivateKey refuses material of another type (internal error)', () => {
  const ec = keys.get('EC-P256')!.export({ type: 'pkcs8', format: 'der' });
  assert.throws(() => loadPrivateKey('EC-P384', ec), problem('crypto.key_material_invalid', 500));
  assert.throws(() => loadPrivateKey('Ed25519', Buffer.from('junk')), problem('crypto.key_material_invalid', 500));
  assert.throws(() => loadPrivateKey('AES-256-GCM', randomBytes(16)), problem('crypto.key_material_invalid', 500));
});
