import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { before, test } from 'node:test';
import { type GeneratedKey, type SigningKeyType, SIGNING_KEY_TYPES, fingerprint, generateKey, publicKeyJwk, publicKeyPem } from '../../../src/keys/families/index.ts';
import { problem } from '../../support/problem.ts';

const keys = new Map<SigningKeyType, GeneratedKey>();
before(async () => {
  await Promise.all(SIGNING_KEY_TYPES.map(async (t) => keys.set(t, await generateKey(t))));
});

const FP = /^sha256:[0-9a-f]{64}$/;
const ALG: Record<SigningKeyType, string> = {
  'EC-P256': 'ES256', 'EC-P384': 'ES384', 'EC-P521': 'ES512', Ed25519: 'EdDSA', 'RSA-2048': 'RS256', 'RSA-3072': 'RS256', 'RSA-4096': 'RS256',
};

test('asymmetric fingerprint = SHA-256 over the SPKI DER of the PEM', () => {
  for (const [type, k] of keys) {
    const fp = fingerprint(type, k.publicKeySpki, k.material);
    assert.match(fp, FP);
    const pem = publicKeyPem(k.publicKeySpki!);
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);
    const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
    assert.equal(fp, 'sha256:' + createHash('sha256').update(der).digest('hex'), type);
  }
});

test('symmetric fingerprint: stable, format-compliant, not a plain hash of the key', async () => {
  for (const type of ['AES-256-GCM', 'HMAC-SHA256'] as const) {
    const { material, publicKeySpki } = await generateKey(type);
    assert.equal(publicKeySpki, null);
    const fp = fingerprint(type, null, material);
    assert.match(fp, FP);
    assert.equal(fingerprint(type, null, Buffer.from(material)), fp);
    assert.notEqual(fp, 'sha256:' + createHash('sha256').update(material).digest('hex'));
    assert.notEqual(fingerprint(type, null, randomBytes(32)), fp);
  }
});

test('asymmetric fingerprint needs the SPKI', () => {
  assert.throws(() => fingerprint('EC-P256', null, Buffer.alloc(1)), problem('crypto.key_material_invalid', 500));
});

test('public JWK per type', () => {
  for (const [type, k] of keys) {
    const jwk = publicKeyJwk(type, k.publicKeySpki!, 'kid-1');
    assert.equal(jwk.alg, ALG[type]);
    assert.equal(jwk.use, 'sig');
    assert.equal(jwk.kid, 'kid-1');
    assert.equal(jwk.d, undefined, 'no private members');
    assert.equal(jwk.p, undefined);
    // The JWK is the same key as the SPKI.
    const back = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' });
    assert.deepEqual(back, k.publicKeySpki);
  }
  assert.equal(publicKeyJwk('EC-P521', keys.get('EC-P521')!.publicKeySpki!, 'k').crv, 'P-521');
  assert.equal(publicKeyJwk('Ed25519', keys.get('Ed25519')!.publicKeySpki!, 'k').crv, 'Ed25519');
  assert.throws(() => publicKeyJwk('AES-256-GCM', Buffer.alloc(0), 'k'), problem('crypto.operation_unsupported'));
  assert.throws(() => publicKeyJwk('EC-P384', keys.get('EC-P256')!.publicKeySpki!, 'k'), problem('crypto.key_material_invalid', 500));
});
