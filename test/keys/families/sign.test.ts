import assert from 'node:assert/strict';
import { type KeyObject, constants, createPublicKey, verify as nodeVerify, sign as nodeSign, randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { type SigningKeyType, SIGNING_KEY_TYPES, generateKey, loadPrivateKey, loadPublicKey, sign, verify } from '../../../src/keys/families/index.ts';
import { DIGEST_LENGTH, HASH_ALGORITHMS, type EcdsaFormat, type HashAlgorithm, type RsaPadding } from '../../../src/keys/types.ts';
import { problem } from '../../support/problem.ts';
import { digestOf, flipBit, nodeHash, parseEcdsaDer } from './helpers.ts';

interface Pair { priv: KeyObject; pub: KeyObject }
const keys = new Map<SigningKeyType, Pair>();
const otherKeys = new Map<SigningKeyType, Pair>();

async function pair(type: SigningKeyType): Promise<Pair> {
  const g = await generateKey(type);
  assert.ok(g.publicKeySpki);
  return { priv: loadPrivateKey(type, g.material), pub: loadPublicKey(g.publicKeySpki) };
}

before(async () => {
  // One key per type (a single RSA-4096), plus a second "wrong" key for all but RSA-4096.
  await Promise.all(SIGNING_KEY_TYPES.map(async (t) => keys.set(t, await pair(t))));
  await Promise.all(SIGNING_KEY_TYPES.filter((t) => t !== 'RSA-4096').map(async (t) => otherKeys.set(t, await pair(t))));
  otherKeys.set('RSA-4096', otherKeys.get('RSA-2048')!);
});

const EC_FIELD: Record<string, number> = { 'EC-P256': 32, 'EC-P384': 48, 'EC-P521': 66 };
const message = Buffer.from('the quick brown fox signs the lazy dog');

interface Variant { hash?: HashAlgorithm; padding?: RsaPadding; format?: EcdsaFormat }
function variants(type: SigningKeyType): Variant[] {
  // Pure EdDSA takes no hash algorithm.
  if (type === 'Ed25519') return [{}];
  const out: Variant[] = [];
  for (const hash of HASH_ALGORITHMS) {
    if (type.startsWith('EC-')) for (const format of ['der', 'raw'] as const) out.push({ hash, format });
    else for (const padding of ['pkcs1', 'pss'] as const) out.push({ hash, padding });
  }
  return out;
}

const label = (v: Variant) => [v.hash, v.padding, v.format].filter(Boolean).join('/');

/** node:crypto's own verification of a signature over `message`, independent of the code under test. */
function nodeVerifies(type: SigningKeyType, pub: KeyObject, v: Variant, sig: Buffer): boolean {
  if (type === 'Ed25519') return nodeVerify(null, message, pub, sig);
  if (type.startsWith('EC-')) {
    return nodeVerify(nodeHash(v.hash!), message, { key: pub, dsaEncoding: v.format === 'raw' ? 'ieee-p1363' : 'der' }, sig);
  }
  const opts = v.padding === 'pss'
    ? { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: DIGEST_LENGTH[v.hash!] }
    : { key: pub, padding: constants.RSA_PKCS1_PADDING };
  return nodeVerify(nodeHash(v.hash!), message, opts, sig);
}

function checkShape(type: SigningKeyType, v: Variant, sig: Buffer) {
  if (!type.startsWith('EC-')) return;
  if (v.format === 'raw') assert.equal(sig.length, 2 * EC_FIELD[type]!);
  else parseEcdsaDer(sig);
}

for (const type of SIGNING_KEY_TYPES) {
  describe(`sign/verify ${type}`, () => {
    for (const v of variants(type)) {
      const opts = { hashAlgorithm: v.hash, rsaPadding: v.padding, ecdsaFormat: v.format };
      const digestSupported = type !== 'Ed25519';

      test(`message ${label(v)}`, async () => {
        const { priv, pub } = keys.get(type)!;
        const sig = await sign({ keyObject: priv, type, input: { message }, ...opts });
        checkShape(type, v, sig);
        assert.ok(nodeVerifies(type, pub, v, sig), 'node:crypto verifies');
        assert.equal(await verify({ keyObject: priv, type, input: { message }, ...opts, publicKey: pub, signature: sig }), true);
        if (digestSupported) {
          const digest = { digest: digestOf(v.hash!, message), hashAlgorithm: v.hash! };
          assert.equal(await verify({ keyObject: priv, type, input: digest, ...opts, publicKey: pub, signature: sig }), true, 'digest verifier');
        }
        // Tampered signature, tampered message, wrong key.
        assert.equal(await verify({ keyObject: priv, type, input: { message }, ...opts, publicKey: pub, signature: flipBit(sig) }), false);
        assert.equal(await verify({ keyObject: priv, type, input: { message: flipBit(message) }, ...opts, publicKey: pub, signature: sig }), false);
        const other = otherKeys.get(type)!.pub;
        assert.equal(await verify({ keyObject: priv, type, input: { message }, ...opts, publicKey: other, signature: sig }), false);
      });

      if (digestSupported) {
        test(`digest ${label(v)}`, async () => {
          const { priv, pub } = keys.get(type)!;
          const digest = { digest: digestOf(v.hash!, message), hashAlgorithm: v.hash! };
          const sig = await sign({ keyObject: priv, type, input: digest, ...opts });
          checkShape(type, v, sig);
          assert.ok(nodeVerifies(type, pub, v, sig), 'node:crypto verifies the digest signature over the message');
          assert.equal(await verify({ keyObject: priv, type, input: digest, ...opts, publicKey: pub, signature: sig }), true);
          assert.equal(await verify({ keyObject: priv, type, input: { message }, ...opts, publicKey: pub, signature: sig }), true, 'message verifier');
          assert.equal(await verify({ keyObject: priv, type, input: digest, ...opts, publicKey: pub, signature: flipBit(sig) }), false);
          // Flip the first byte: ECDSA uses only the leftmost field-size bits of a longer digest (P-256 with SHA-512).
          assert.equal(await verify({ keyObject: priv, type, input: { ...digest, digest: flipBit(digest.digest, 0) }, ...opts, publicKey: pub, signature: sig }), false);
          const other = otherKeys.get(type)!.pub;
          assert.equal(await verify({ keyObject: priv, type, input: digest, ...opts, publicKey: other, signature: sig }), false);
        });
      }
    }

    test('garbled signatures are false, never a throw', async () => {
      const { priv, pub } = keys.get(type)!;
      const digestInputs = type === 'Ed25519' ? [] : [{ digest: digestOf('SHA-256', message), hashAlgorithm: 'SHA-256' as const }];
      const good = await sign({ keyObject: priv, type, input: { message } });
      const garbage = [Buffer.alloc(0), Buffer.alloc(1), randomBytes(good.length), good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.alloc(1)])];
      for (const input of [{ message }, ...digestInputs]) {
        const typeOpts = type.startsWith('EC-') ? [{ ecdsaFormat: 'raw' as const }] : type.startsWith('RSA-') ? [{ rsaPadding: 'pss' as const }] : [];
        for (const formatOpts of [{}, ...typeOpts]) {
          for (const signature of garbage) {
            assert.equal(await verify({ keyObject: priv, type, input, ...formatOpts, publicKey: pub, signature }), false);
          }
        }
      }
    });
  });
}

describe('defaults', () => {
  test('EC default hash follows the curve; DER by default', async () => {
    for (const [type, hash] of [['EC-P256', 'SHA-256'], ['EC-P384', 'SHA-384'], ['EC-P521', 'SHA-512']] as const) {
      const { priv, pub } = keys.get(type)!;
      const sig = await sign({ keyObject: priv, type, input: { message } });
      parseEcdsaDer(sig);
      assert.ok(nodeVerify(nodeHash(hash), message, pub, sig), `${type} signs with ${hash}`);
    }
  });

  test('RSA defaults to PKCS#1 v1.5 with SHA-256', async () => {
    const { priv, pub } = keys.get('RSA-2048')!;
    const sig = await sign({ keyObject: priv, type: 'RSA-2048', input: { message } });
    assert.ok(nodeVerify('sha256', message, { key: pub, padding: constants.RSA_PKCS1_PADDING }, sig));
    // PKCS#1 v1.5 is deterministic: equal to node's own signature.
    assert.deepEqual(sig, nodeSign('sha256', message, priv));
  });

  test('PSS uses salt length = hash length', async () => {
    const { priv, pub } = keys.get('RSA-2048')!;
    const sig = await sign({ keyObject: priv, type: 'RSA-2048', input: { message }, rsaPadding: 'pss', hashAlgorithm: 'SHA-384' });
    assert.ok(nodeVerify('sha384', message, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }, sig));
    assert.ok(!nodeVerify('sha384', message, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig));
  });

  test('EC-P521 raw signature is 132 bytes', async () => {
    const { priv } = keys.get('EC-P521')!;
    assert.equal((await sign({ keyObject: priv, type: 'EC-P521', input: { message }, ecdsaFormat: 'raw' })).length, 132);
    const digest = { digest: digestOf('SHA-512', message), hashAlgorithm: 'SHA-512' as const };
    assert.equal((await sign({ keyObject: priv, type: 'EC-P521', input: digest, ecdsaFormat: 'raw' })).length, 132);
  });

  test('an option for another key type is refused, not ignored', async () => {
    const ed = keys.get('Ed25519')!;
    const ec = keys.get('EC-P256')!;
    const rsa = keys.get('RSA-2048')!;
    await assert.rejects(sign({ keyObject: ed.priv, type: 'Ed25519', input: { message }, hashAlgorithm: 'SHA-512' }), problem('crypto.hash_algorithm_unsupported'));
    await assert.rejects(sign({ keyObject: ed.priv, type: 'Ed25519', input: { message }, rsaPadding: 'pss' }), problem('crypto.rsa_padding_unsupported'));
    await assert.rejects(sign({ keyObject: ed.priv, type: 'Ed25519', input: { message }, ecdsaFormat: 'raw' }), problem('crypto.ecdsa_format_unsupported'));
    await assert.rejects(sign({ keyObject: ec.priv, type: 'EC-P256', input: { message }, rsaPadding: 'pss' }), problem('crypto.rsa_padding_unsupported'));
    await assert.rejects(sign({ keyObject: rsa.priv, type: 'RSA-2048', input: { message }, ecdsaFormat: 'raw' }), problem('crypto.ecdsa_format_unsupported'));
    await assert.rejects(verify({ keyObject: rsa.priv, type: 'RSA-2048', input: { message }, ecdsaFormat: 'raw', publicKey: rsa.pub, signature: Buffer.alloc(256) }), problem('crypto.ecdsa_format_unsupported'));
    // Without options, Ed25519 is plain pure EdDSA.
    assert.deepEqual(await sign({ keyObject: ed.priv, type: 'Ed25519', input: { message } }), nodeSign(null, message, ed.priv));
  });

  test('high-S ECDSA signatures from OpenSSL verify through the digest path', async () => {
    // OpenSSL does not normalise S, so across 24 signatures some are high-S (probability of none: 2^-24).
    const { priv, pub } = keys.get('EC-P256')!;
    for (let i = 0; i < 24; i++) {
      const m = randomBytes(20);
      const sig = nodeSign('sha256', m, priv);
      const digest = { digest: digestOf('SHA-256', m), hashAlgorithm: 'SHA-256' as const };
      assert.equal(await verify({ keyObject: priv, type: 'EC-P256', input: digest, publicKey: pub, signature: sig }), true);
    }
  });
});

describe('request errors', () => {
  test('digest length must match the hash algorithm', async () => {
    for (const type of ['EC-P256', 'EC-P521', 'RSA-2048'] as const) {
      const { priv, pub } = keys.get(type)!;
      for (const [hashAlgorithm, len] of [['SHA-256', 48], ['SHA-384', 32], ['SHA-512', 63], ['SHA-256', 0]] as const) {
        const input = { digest: Buffer.alloc(len), hashAlgorithm };
        await assert.rejects(async () => sign({ keyObject: priv, type, input }), problem('crypto.digest_length'));
        await assert.rejects(async () => verify({ keyObject: priv, type, input, publicKey: pub, signature: Buffer.alloc(64) }), problem('crypto.digest_length'));
      }
    }
  });

  test('Ed25519 refuses a digest', async () => {
    const { priv, pub } = keys.get('Ed25519')!;
    const input = { digest: digestOf('SHA-256', message), hashAlgorithm: 'SHA-256' as const };
    await assert.rejects(async () => sign({ keyObject: priv, type: 'Ed25519', input }), problem('crypto.digest_not_supported'));
    await assert.rejects(async () => verify({ keyObject: priv, type: 'Ed25519', input, publicKey: pub, signature: Buffer.alloc(64) }), problem('crypto.digest_not_supported'));
  });

  test('RSA-PSS over a digest is randomised (fresh salt), and a signature with another salt length is refused', async () => {
    const { priv, pub } = keys.get('RSA-2048')!;
    const input = { digest: digestOf('SHA-256', message), hashAlgorithm: 'SHA-256' as const };
    const a = await sign({ keyObject: priv, type: 'RSA-2048', input, rsaPadding: 'pss' });
    const b = await sign({ keyObject: priv, type: 'RSA-2048', input, rsaPadding: 'pss' });
    assert.notDeepEqual(a, b);
    // Salt length = hash length on both paths; a maximum-salt signature (Go's PSSSaltLengthAuto) does not verify.
    const maxSalt = nodeSign('sha256', message, { key: priv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN });
    assert.equal(await verify({ keyObject: priv, type: 'RSA-2048', input, rsaPadding: 'pss', publicKey: pub, signature: maxSalt }), false);
  });

  test('unsupported hash algorithms', async () => {
    const { priv } = keys.get('EC-P256')!;
    const bad = 'SHA-1' as HashAlgorithm;
    await assert.rejects(async () => sign({ keyObject: priv, type: 'EC-P256', input: { message }, hashAlgorithm: bad }), problem('crypto.hash_algorithm_unsupported'));
    await assert.rejects(async () => sign({ keyObject: priv, type: 'EC-P256', input: { digest: Buffer.alloc(20), hashAlgorithm: bad } }), problem('crypto.hash_algorithm_unsupported'));
    await assert.rejects(
      async () => sign({ keyObject: priv, type: 'EC-P256', input: { digest: Buffer.alloc(32), hashAlgorithm: 'SHA-256' }, hashAlgorithm: 'SHA-384' }),
      problem('crypto.hash_algorithm_mismatch'),
    );
  });

  test('bad padding / format values', async () => {
    const { priv } = keys.get('RSA-2048')!;
    await assert.rejects(async () => sign({ keyObject: priv, type: 'RSA-2048', input: { message }, rsaPadding: 'oaep' as RsaPadding }), problem('crypto.rsa_padding_unsupported'));
    await assert.rejects(async () => sign({ keyObject: priv, type: 'RSA-2048', input: { message }, ecdsaFormat: 'jws' as EcdsaFormat }), problem('crypto.ecdsa_format_unsupported'));
  });

  test('symmetric key types cannot sign', async () => {
    for (const type of ['AES-256-GCM', 'HMAC-SHA256'] as const) {
      const k = loadPrivateKey(type, (await generateKey(type)).material);
      await assert.rejects(async () => sign({ keyObject: k, type, input: { message } }), problem('crypto.operation_unsupported'));
      await assert.rejects(async () => verify({ keyObject: k, type, input: { message }, publicKey: k, signature: Buffer.alloc(32) }), problem('crypto.operation_unsupported'));
    }
  });

  test('a public key of another type is just false', async () => {
    const { priv } = keys.get('EC-P256')!;
    const sig = await sign({ keyObject: priv, type: 'EC-P256', input: { message } });
    const ed = createPublicKey(keys.get('Ed25519')!.priv);
    assert.equal(await verify({ keyObject: priv, type: 'EC-P256', input: { message }, publicKey: ed, signature: sig }), false);
    const digest = { digest: digestOf('SHA-256', message), hashAlgorithm: 'SHA-256' as const };
    assert.equal(await verify({ keyObject: priv, type: 'EC-P256', input: digest, publicKey: ed, signature: sig }), false);
  });
});

describe('event loop', () => {
  test('an RSA-4096 message signature leaves the event loop free while it runs', async () => {
    // Synchronous signing would hold the loop for the whole signature: the immediate could only run afterwards.
    const { priv, pub } = keys.get('RSA-4096')!;
    let immediateRan = false;
    setImmediate(() => (immediateRan = true));
    const sig = await sign({ keyObject: priv, type: 'RSA-4096', input: { message } });
    assert.equal(immediateRan, true);
    assert.equal(await verify({ keyObject: priv, type: 'RSA-4096', input: { message }, publicKey: pub, signature: sig }), true);
  });
});
