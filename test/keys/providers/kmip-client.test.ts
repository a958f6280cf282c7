// The KMIP client against a real PyKMIP server (Debian python3-pykmip) that the test starts with its own
// certificates and database. Skipped locally when pykmip-server is missing; fails under CI.
import assert from 'node:assert/strict';
import { constants, createCipheriv, createDecipheriv, createSecretKey, generateKeyPairSync, randomBytes, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { type TestContext, after, describe, test } from 'node:test';
import { KmipClient, type KmipClientOptions } from '../../../src/keys/providers/kmip/client.ts';
import {
  KmipAuthenticationError,
  KmipInvalidRequestError,
  KmipItemNotFoundError,
  KmipPermissionDeniedError,
  KmipServerError,
  KmipUnavailableError,
  KmipWrongStateError,
} from '../../../src/keys/providers/kmip/errors.ts';
import { PykmipServer, requirePykmip, startPykmip } from '../../support/pykmip.ts';

// One server for the tests that leave it running (start-up takes about a second); the outage test has its own.
let shared: PykmipServer | undefined;
after(() => shared?.dispose());

async function sharedPykmip(t: TestContext): Promise<PykmipServer | undefined> {
  if (!requirePykmip(t)) return undefined;
  shared ??= await PykmipServer.create();
  await shared.start();
  return shared;
}

function clientFor(t: TestContext, server: PykmipServer, who: 'client' | 'other' | 'noauth' = 'client', opts: Partial<KmipClientOptions> = {}): KmipClient {
  const c = new KmipClient({ host: '127.0.0.1', port: server.port, ...server.credentials(who), ...opts });
  t.after(() => c.close());
  return c;
}

const wrongState = (state: string) => (e: unknown) => e instanceof KmipWrongStateError && e.code === 'kmip.wrong_state' && e.state === state;

describe('KMIP client against PyKMIP', { concurrency: false }, () => {
  test('health probe, versions and query', async (t) => {
    const server = await sharedPykmip(t);
    if (!server) return;
    const c = clientFor(t, server);
    assert.deepEqual(await c.probe(), { version: { major: 1, minor: 4 } });
    const versions = await c.discoverVersions();
    assert.ok(versions.some((v) => v.major === 1 && v.minor === 4));
    const q = await c.query();
    assert.match(q.vendor ?? '', /^PyKMIP /);
    for (const op of [0x01, 0x02, 0x03, 0x08, 0x0a, 0x0b, 0x12, 0x13, 0x14, 0x1f, 0x20, 0x21, 0x22]) assert.ok(q.operations.includes(op), `operation 0x${op.toString(16)}`);
  });

  test('AES-256: create, attributes, activate, GCM round trip with AAD, locate by name, revoke, destroy', async (t) => {
    const server = await sharedPykmip(t);
    if (!server) return;
    const c = clientFor(t, server);
    const id = await c.create({ name: 'tenant-a/aes' });
    assert.deepEqual(await c.getAttributes(id), {
      id,
      objectType: 'symmetric-key',
      state: 'pre-active',
      algorithm: 'AES',
      length: 256,
      names: ['tenant-a/aes'],
      usageMask: 0x0c,
      sensitive: true,
    });
    assert.deepEqual(await c.locate({ name: 'tenant-a/aes' }), [id]);
    assert.deepEqual(await c.locate({ name: 'nobody' }), []);

    await assert.rejects(c.encrypt(id, Buffer.from('x')), wrongState('pre-active'));
    await c.activate(id);
    await assert.rejects(c.activate(id), wrongState('active'));
    assert.equal((await c.getAttributes(id)).state, 'active');

    const plaintext = Buffer.from('the quick brown fox');
    const aad = Buffer.from('key=tenant-a/aes;v=1');
    const sealed = await c.encrypt(id, plaintext, { aad });
    assert.equal(sealed.iv.length, 12);
    assert.equal(sealed.tag.length, 16);
    assert.notDeepEqual(sealed.ciphertext, plaintext);
    assert.deepEqual(await c.decrypt(id, { ...sealed, aad }), plaintext);
    // Wrong AAD or tag: refused. PyKMIP reports it as General Failure.
    await assert.rejects(c.decrypt(id, { ...sealed, aad: Buffer.from('other') }), KmipServerError);
    await assert.rejects(c.decrypt(id, { ...sealed, tag: Buffer.from(sealed.tag).fill(0) }), KmipServerError);
    const again = await c.encrypt(id, plaintext, { aad });
    assert.notDeepEqual(again.iv, sealed.iv);

    await assert.rejects(c.destroy(id), wrongState('active'));
    await c.revoke(id);
    assert.equal((await c.getAttributes(id)).state, 'deactivated');
    await assert.rejects(c.decrypt(id, { ...sealed, aad }), wrongState('deactivated'));
    await c.destroy(id);
    await assert.rejects(c.getAttributes(id), KmipItemNotFoundError);
    await assert.rejects(c.encrypt(id, plaintext), KmipItemNotFoundError);
  });

  test('GCM inside PyKMIP interoperates with node:crypto AES-256-GCM (registered key)', async (t) => {
    const server = await sharedPykmip(t);
    if (!server) return;
    const c = clientFor(t, server);
    const raw = randomBytes(32);
    const id = await c.register(createSecretKey(raw), { name: 'hyok-aes' });
    await c.activate(id);
    assert.deepEqual((await c.getAttributes(id)).algorithm, 'AES');

    const aad = Buffer.from('context');
    const plaintext = randomBytes(100);
    const sealed = await c.encrypt(id, plaintext, { aad });
    const d = createDecipheriv('aes-256-gcm', raw, sealed.iv).setAAD(aad).setAuthTag(sealed.tag);
    assert.deepEqual(Buffer.concat([d.update(sealed.ciphertext), d.final()]), plaintext);

    const iv = randomBytes(12);
    const e = createCipheriv('aes-256-gcm', raw, iv).setAAD(aad);
    const ciphertext = Buffer.concat([e.update(plaintext), e.final()]);
    assert.deepEqual(await c.decrypt(id, { ciphertext, iv, tag: e.getAuthTag(), aad }), plaintext);
  });

  test('RSA: create pair, activate, sign PKCS#1 v1.5 and PSS, verify in PyKMIP and with node:crypto', async (t) => {
    const server = await sharedPykmip(t);
    if (!server) return;
    const c = clientFor(t, server);
    const { privateKeyId, publicKeyId } = await c.createKeyPair({ length: 2048, name: 'tenant-a/rsa', publicKeyName: 'tenant-a/rsa.pub' });
    const attrs = await c.getAttributes(privateKeyId);
    assert.deepEqual([attrs.objectType, attrs.algorithm, attrs.length, attrs.state, attrs.names, attrs.sensitive], ['private-key', 'RSA', 2048, 'pre-active', ['tenant-a/rsa'], true]);
    assert.equal((await c.getAttributes(publicKeyId)).objectType, 'public-key');
    await assert.rejects(c.sign(privateKeyId, Buffer.from('m'), 'RSA_PKCS1_V15_SHA256'), wrongState('pre-active'));
    await c.activate(privateKeyId);
    await c.activate(publicKeyId);

    const publicKey = await c.getPublicKey(publicKeyId);
    assert.equal(publicKey.asymmetricKeyType, 'rsa');
    assert.equal(publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    // Only public keys are ever fetched: for a private key no Get is sent.
    await assert.rejects(c.getPublicKey(privateKeyId), (e: unknown) => e instanceof KmipInvalidRequestError && e.code === 'kmip.not_public_key');

    const message = Buffer.from('sign me');
    for (const [alg, hash, pss] of [
      ['RSA_PKCS1_V15_SHA256', 'sha256', false],
      ['RSA_PKCS1_V15_SHA512', 'sha512', false],
      ['RSA_PSS_SHA256', 'sha256', true],
      ['RSA_PSS_SHA384', 'sha384', true],
    ] as const) {
      const signature = await c.sign(privateKeyId, message, alg);
      assert.equal(signature.length, 256, alg);
      const key = pss ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO } : publicKey;
      assert.ok(nodeVerify(hash, message, key, signature), `${alg}: node:crypto verifies`);
      assert.ok(!nodeVerify(hash, Buffer.from('other'), key, signature), `${alg}: node:crypto rejects another message`);
      assert.equal(await c.verify(publicKeyId, message, signature, alg), true, `${alg}: PyKMIP verifies`);
      assert.equal(await c.verify(publicKeyId, Buffer.from('other'), signature, alg), false, `${alg}: PyKMIP rejects another message`);
      if (pss) {
        // PyKMIP signs PSS with the maximum salt length, not the digest length JWS PS256 requires.
        const digestSalt = { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
        assert.equal(nodeVerify(hash, message, digestSalt, signature), false, `${alg}: salt is not the digest length`);
      }
    }

    await c.revoke(privateKeyId);
    await assert.rejects(c.sign(privateKeyId, message, 'RSA_PKCS1_V15_SHA256'), wrongState('deactivated'));
    await c.destroy(privateKeyId);
    await assert.rejects(c.sign(privateKeyId, message, 'RSA_PKCS1_V15_SHA256'), KmipItemNotFoundError);
    await assert.rejects(c.getAttributes(privateKeyId), KmipItemNotFoundError);
    // The public key lives on; it can still be fetched.
    assert.ok((await c.getPublicKey(publicKeyId)).equals(publicKey));
  });

  test('revoked for compromise: any state goes to compromised and use is refused', async (t) => {
    const server = await sharedPykmip(t);
    if (!server) return;
    const c = clientFor(t, server);
    const { privateKeyId } = await c.createKeyPair({ length: 2048 });
    await c.activate(privateKeyId);
    await c.revoke(privateKeyId, 'key-compromise', 'HSM audit found a leak');
    assert.equal((await c.getAttributes(privateKeyId)).state, 'compromised');
    await assert.rejects(c.sign(privateKeyId, Buffer.from('m'), 'RSA_PSS_SHA256'), wrongState('compromised'));
    await c.destroy(privateKeyId);
    await assert.rejects(c.getAttributes(privateKeyId), KmipItemNotFoundError);
  });

  test('hold-your-own-key: a registered RSA-3072 key signs; revoking it outside Keyward stops signing', async (t) => {
    const server = await sharedPykmip(t);
    if (!server) return;
    const customer = clientFor(t, server);
    const keyward = clientFor(t, server);
    const pair = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const id = await customer.register(pair.privateKey, { name: 'customer/signing' });
    const pubId = await customer.register(pair.publicKey, { name: 'customer/signing.pub' });
    await customer.activate(id);
    await customer.activate(pubId);
    assert.ok((await keyward.getPublicKey(pubId)).equals(pair.publicKey));
    const [found] = await keyward.locate({ name: 'customer/signing' });
    assert.equal(found, id);
    const message = Buffer.from('hyok');
    const signature = await keyward.sign(id, message, 'RSA_PKCS1_V15_SHA384');
    assert.ok(nodeVerify('sha384', message, pair.publicKey, signature));
    assert.ok(await keyward.verify(pubId, message, nodeSign('sha384', message, pair.privateKey), 'RSA_PKCS1_V15_SHA384'));
    // PyKMIP verifies PSS only with the maximum salt length: a JWS-style (digest-length salt) signature is "invalid".
    const pss = (saltLength: number) => nodeSign('sha256', message, { key: pair.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
    assert.equal(await keyward.verify(pubId, message, pss(constants.RSA_PSS_SALTLEN_MAX_SIGN), 'RSA_PSS_SHA256'), true);
    assert.equal(await keyward.verify(pubId, message, pss(constants.RSA_PSS_SALTLEN_DIGEST), 'RSA_PSS_SHA256'), false);
    await customer.revoke(id, 'privilege-withdrawn');
    await assert.rejects(keyward.sign(id, message, 'RSA_PKCS1_V15_SHA384'), wrongState('deactivated'));
  });

  test('PyKMIP stores EC keys but cannot sign with them', async (t) => {
    const server = await sharedPykmip(t);
    if (!server) return;
    const c = clientFor(t, server);
    const id = await c.register(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    await c.activate(id);
    const attrs = await c.getAttributes(id);
    assert.deepEqual([attrs.algorithm, attrs.length], ['ECDSA', 256]);
    // No ECDSA signature scheme exists in PyKMIP 0.10; an RSA scheme on an EC key fails inside the server.
    await assert.rejects(c.sign(id, Buffer.from('m'), 'RSA_PKCS1_V15_SHA256'), KmipServerError);
  });

  test('another identity is denied (not told the state); a certificate without clientAuth is not authenticated', async (t) => {
    const server = await sharedPykmip(t);
    if (!server) return;
    const owner = clientFor(t, server);
    const other = clientFor(t, server, 'other');
    const { privateKeyId } = await owner.createKeyPair({ length: 2048 });
    await owner.activate(privateKeyId);
    await assert.rejects(other.sign(privateKeyId, Buffer.from('m'), 'RSA_PKCS1_V15_SHA256'), (e: unknown) => e instanceof KmipPermissionDeniedError && e.code === 'kmip.permission_denied');
    await assert.rejects(other.revoke(privateKeyId), KmipPermissionDeniedError);
    await assert.rejects(other.destroy(privateKeyId), KmipPermissionDeniedError);
    const noEku = clientFor(t, server, 'noauth');
    await assert.rejects(noEku.probe(), (e: unknown) => e instanceof KmipAuthenticationError && e.code === 'kmip.authentication_failed');
  });

  test('a stopped server gives a typed unavailable error; the same client recovers when it is back', async (t) => {
    const server = await startPykmip(t);
    if (!server) return;
    const c = clientFor(t, server, 'client', { connectTimeoutMs: 2000, requestTimeoutMs: 5000 });
    const { privateKeyId } = await c.createKeyPair({ length: 2048 });
    await c.activate(privateKeyId);
    await c.sign(privateKeyId, Buffer.from('before'), 'RSA_PKCS1_V15_SHA256');

    await server.stop();
    for (const op of [() => c.probe(), () => c.sign(privateKeyId, Buffer.from('during'), 'RSA_PKCS1_V15_SHA256')]) {
      await assert.rejects(op(), (e: unknown) => e instanceof KmipUnavailableError && e.code === 'kmip.unavailable' && ['connect', 'closed'].includes(e.kind));
    }

    await server.start();
    assert.deepEqual(await c.probe(), { version: { major: 1, minor: 4 } });
    // Same database: the key made before the outage still signs.
    const signature = await c.sign(privateKeyId, Buffer.from('after'), 'RSA_PKCS1_V15_SHA256');
    assert.equal(signature.length, 256);
  });
});
