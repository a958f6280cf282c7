// The PKCS#11 token wrapper against a real SoftHSM2 token in a private directory. A second binding instance on the
// same library (pkcs11js shares the library's state, as two users of one HSM module in a process would) plays the
// part of whatever logs the token out, closes its sessions or finalizes the library behind the wrapper's back.
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes, verify as nodeVerify, constants } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pkcs11js from 'pkcs11js';
import { HsmOperationError, HsmUnavailableError } from '../../../src/keys/providers/pkcs11/errors.ts';
import { type KeyRef, Pkcs11Token, type TokenObject } from '../../../src/keys/providers/pkcs11/token.ts';
import { type SoftHsm, type SoftHsmToken, softHsm } from '../../support/softhsm.ts';

let hsm: SoftHsm | undefined;
let tok: SoftHsmToken;
let wrongPinTok: SoftHsmToken;
let token: Pkcs11Token;

before(async (t) => {
  hsm = await softHsm(t, 'PKCS#11 token tests');
  if (!hsm) return;
  // Every token exists before the library is first initialized: SoftHSM only looks for tokens in C_Initialize.
  tok = await hsm.initToken('keyward-test');
  wrongPinTok = await hsm.initToken('keyward-wrong-pin');
  token = new Pkcs11Token({ modulePath: hsm.modulePath, tokenLabel: tok.label, pin: tok.pin, sessions: 3, reconnectIntervalMs: 50 });
});

after(async () => {
  await token?.close();
  hsm?.cleanup();
});

/** Skips when SoftHSM2 is missing (softHsm() already failed the run under CI). */
function needHsm(t: { skip(msg: string): void }): boolean {
  if (!hsm) t.skip('SoftHSM2 not installed');
  return hsm !== undefined;
}

/** A second handle on the same library: what else in the process (or a careless operator) does to the token. */
function meddler() {
  const lib = new pkcs11js.PKCS11();
  lib.load(hsm!.modulePath);
  try {
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    if ((e as { code?: number }).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
  }
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === tok.label);
  assert.ok(slot, 'the test token is in a slot');
  return { lib, slot };
}

const message = Buffer.from('keyward pkcs11 test message');

async function keyPair(type: 'EC-P256' | 'EC-P384' | 'RSA-2048' | 'RSA-3072' | 'RSA-4096', label = `${type}-${randomBytes(4).toString('hex')}`) {
  const k = await token.generate(type, { label });
  assert.ok(k.spki);
  return { ...k, spki: k.spki, pub: createPublicKey({ key: k.spki, format: 'der', type: 'spki' }) };
}

function assertHardened(o: TokenObject | undefined): void {
  assert.ok(o);
  assert.equal(o.token, true);
  assert.equal(o.private, true);
  assert.equal(o.sensitive, true);
  assert.equal(o.extractable, false);
  assert.equal(o.alwaysSensitive, true);
  assert.equal(o.neverExtractable, true);
}

describe('key generation', () => {
  for (const [type, curve] of [['EC-P256', 'prime256v1'], ['EC-P384', 'secp384r1']] as const) {
    test(`${type}: a sensitive, non-extractable token key pair, named by label and id, with its SPKI`, async (t) => {
      if (!needHsm(t)) return;
      const k = await keyPair(type);
      assert.equal(k.pub.asymmetricKeyType, 'ec');
      assert.equal(k.pub.asymmetricKeyDetails?.namedCurve, curve);
      const objects = await token.find({ id: k.id });
      assert.deepEqual(objects.map((o) => o.class).sort(), ['private_key', 'public_key']);
      for (const o of objects) {
        assert.equal(o.label, k.label);
        assert.ok(o.id.equals(k.id));
        assert.equal(o.type, type);
      }
      assertHardened(objects.find((o) => o.class === 'private_key'));
      assert.ok((await token.publicKey({ label: k.label })).equals(k.spki));
    });
  }

  for (const [type, bits] of [['RSA-2048', 2048], ['RSA-3072', 3072], ['RSA-4096', 4096]] as const) {
    test(`${type}: a sensitive, non-extractable token key pair with its SPKI`, async (t) => {
      if (!needHsm(t)) return;
      const k = await keyPair(type);
      assert.equal(k.pub.asymmetricKeyType, 'rsa');
      assert.equal(k.pub.asymmetricKeyDetails?.modulusLength, bits);
      assert.equal(k.pub.asymmetricKeyDetails?.publicExponent, 65537n);
      const objects = await token.find({ label: k.label });
      assert.equal(objects.length, 2);
      assert.ok(objects.every((o) => o.type === type));
      assertHardened(objects.find((o) => o.class === 'private_key'));
    });
  }

  test('AES-256: a sensitive, non-extractable secret key', async (t) => {
    if (!needHsm(t)) return;
    const id = randomBytes(8);
    const k = await token.generate('AES-256-GCM', { label: `aes-${id.toString('hex')}`, id });
    assert.ok(k.id.equals(id));
    assert.equal(k.spki, undefined);
    const [o, ...rest] = await token.find({ id });
    assert.equal(rest.length, 0);
    assert.equal(o?.class, 'secret_key');
    assert.equal(o?.type, 'AES-256-GCM');
    assertHardened(o);
  });

  test('the token refuses to hand out the private values', async (t) => {
    if (!needHsm(t)) return;
    const ec = await keyPair('EC-P256');
    const aes = await token.generate('AES-256-GCM', { label: `aes-${randomBytes(4).toString('hex')}` });
    const { lib, slot } = meddler();
    const s = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    try {
      // The wrapper's login is the application's login: this session sees the private objects too.
      for (const [id, cls] of [[ec.id, pkcs11js.CKO_PRIVATE_KEY], [aes.id, pkcs11js.CKO_SECRET_KEY]] as const) {
        lib.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_ID, value: id }, { type: pkcs11js.CKA_CLASS, value: cls }]);
        const [h] = lib.C_FindObjects(s, 2);
        lib.C_FindObjectsFinal(s);
        assert.ok(h, 'the key is visible to the logged-in application');
        assert.throws(() => lib.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_VALUE }]), (e: { message?: string }) => e.message === 'CKR_ATTRIBUTE_SENSITIVE');
      }
    } finally {
      lib.C_CloseSession(s);
    }
  });

  test('names stay unique: a second key with the same label or id is refused', async (t) => {
    if (!needHsm(t)) return;
    const k = await keyPair('EC-P256');
    await assert.rejects(token.generate('EC-P256', { label: k.label }), { name: 'HsmOperationError', code: 'hsm.key_exists', status: 409 });
    await assert.rejects(token.generate('AES-256-GCM', { label: 'other', id: k.id }), { code: 'hsm.key_exists' });
  });

  test('key types the provider does not generate are refused', async (t) => {
    if (!needHsm(t)) return;
    await assert.rejects(token.generate('EC-P521' as never, { label: 'p521' }), { code: 'hsm.mechanism_unsupported' });
    await assert.rejects(token.generate('EC-P256', { label: '' }), { code: 'hsm.input_invalid' });
  });
});

describe('signing', () => {
  test('ES256 and ES384 over a message and over a digest, DER and raw, verify with node:crypto and in the token', async (t) => {
    if (!needHsm(t)) return;
    for (const [type, hash, nodeHash] of [['EC-P256', 'SHA-256', 'sha256'], ['EC-P384', 'SHA-384', 'sha384']] as const) {
      const k = await keyPair(type);
      const ref: KeyRef = { id: k.id };
      const digest = createHash(nodeHash).update(message).digest();
      for (const input of [{ message }, { digest }]) {
        const der = await token.sign(ref, { hash, input });
        assert.ok(nodeVerify(nodeHash, message, k.pub, der), `${type} DER signature verifies`);
        const raw = await token.sign(ref, { hash, input, ecdsaFormat: 'raw' });
        assert.equal(raw.length, type === 'EC-P256' ? 64 : 96);
        assert.ok(nodeVerify(nodeHash, message, { key: k.pub, dsaEncoding: 'ieee-p1363' }, raw), `${type} raw signature verifies`);
        assert.equal(await token.verify(ref, { hash, input, signature: der }), true);
        assert.equal(await token.verify(ref, { hash, input, signature: raw, ecdsaFormat: 'raw' }), true);
      }
      const other = Buffer.from('another message');
      const sig = await token.sign(ref, { hash, input: { message } });
      assert.equal(await token.verify(ref, { hash, input: { message: other }, signature: sig }), false);
      assert.equal(await token.verify(ref, { hash, input: { message }, signature: Buffer.from('not DER') }), false);
      assert.equal(await token.verify(ref, { hash, input: { message }, signature: Buffer.alloc(7), ecdsaFormat: 'raw' }), false);
    }
  });

  test('RS256 (PKCS#1 v1.5 with DigestInfo) and PS256 (PSS, salt = hash length) verify with node:crypto', async (t) => {
    if (!needHsm(t)) return;
    const k = await keyPair('RSA-2048');
    const ref: KeyRef = { label: k.label };
    const digest = createHash('sha256').update(message).digest();
    for (const input of [{ message }, { digest }]) {
      const rs = await token.sign(ref, { hash: 'SHA-256', input });
      assert.equal(rs.length, 256);
      assert.ok(nodeVerify('sha256', message, k.pub, rs), 'RS256 verifies');
      // PKCS#1 v1.5 is deterministic: the same input always signs the same.
      assert.ok(rs.equals(await token.sign(ref, { hash: 'SHA-256', input: { message } })));
      assert.equal(await token.verify(ref, { hash: 'SHA-256', input, signature: rs }), true);

      const ps = await token.sign(ref, { hash: 'SHA-256', input, rsaPadding: 'pss' });
      assert.ok(nodeVerify('sha256', message, { key: k.pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, ps), 'PS256 verifies');
      assert.equal(nodeVerify('sha256', message, k.pub, ps), false, 'a PSS signature is not a PKCS#1 v1.5 one');
      assert.equal(await token.verify(ref, { hash: 'SHA-256', input, signature: ps, rsaPadding: 'pss' }), true);
      assert.equal(await token.verify(ref, { hash: 'SHA-256', input, signature: ps }), false);
    }
    // SHA-512 over a 2048-bit key too: the DigestInfo prefix is the hash's own.
    const rs512 = await token.sign(ref, { hash: 'SHA-512', input: { message } });
    assert.ok(nodeVerify('sha512', message, k.pub, rs512));
  });

  test('bad requests are refused with a clear code', async (t) => {
    if (!needHsm(t)) return;
    const ec = await keyPair('EC-P256');
    await assert.rejects(token.sign({ id: ec.id }, { hash: 'SHA-256', input: { digest: Buffer.alloc(20) } }), { code: 'hsm.input_invalid' });
    await assert.rejects(token.sign({ id: ec.id }, { hash: 'SHA-256', input: { message }, rsaPadding: 'pss' }), { code: 'hsm.input_invalid' });
    await assert.rejects(token.sign({ id: randomBytes(8) }, { hash: 'SHA-256', input: { message } }), (e: unknown) => {
      assert.ok(e instanceof HsmOperationError);
      assert.equal(e.code, 'hsm.key_not_found');
      assert.equal(e.status, 404);
      return true;
    });
    // An AES key has no private key to sign with; an EC key is no AES key.
    const aes = await token.generate('AES-256-GCM', { label: `aes-${randomBytes(4).toString('hex')}` });
    await assert.rejects(token.sign({ id: aes.id }, { hash: 'SHA-256', input: { message } }), { code: 'hsm.key_not_found' });
    await assert.rejects(token.encrypt({ id: ec.id }, { plaintext: message }), { code: 'hsm.key_not_found' });
  });
});

describe('AES-GCM', () => {
  test('round trip with AAD; a wrong AAD, IV or tag fails authentication', async (t) => {
    if (!needHsm(t)) return;
    const k = await token.generate('AES-256-GCM', { label: `aes-${randomBytes(4).toString('hex')}` });
    const ref: KeyRef = { id: k.id };
    const aad = Buffer.from('context: tenant-a');
    const sealed = await token.encrypt(ref, { plaintext: message, aad });
    assert.equal(sealed.iv.length, 12);
    assert.equal(sealed.tag.length, 16);
    assert.equal(sealed.ciphertext.length, message.length);
    assert.ok(!sealed.ciphertext.equals(message));
    assert.ok((await token.decrypt(ref, { ...sealed, aad })).equals(message));

    const refused = { name: 'HsmOperationError', code: 'hsm.decrypt_failed', status: 400 };
    await assert.rejects(token.decrypt(ref, { ...sealed, aad: Buffer.from('context: tenant-b') }), refused);
    await assert.rejects(token.decrypt(ref, sealed), refused);
    const badTag = Buffer.from(sealed.tag);
    badTag[0] = (badTag[0] ?? 0) ^ 1;
    await assert.rejects(token.decrypt(ref, { ...sealed, tag: badTag, aad }), refused);
    await assert.rejects(token.decrypt(ref, { ...sealed, iv: randomBytes(12), aad }), refused);
    // A refusal is not an outage: the token keeps working.
    assert.ok((await token.decrypt(ref, { ...sealed, aad })).equals(message));
  });

  test('a caller-chosen IV, no AAD, and an empty plaintext', async (t) => {
    if (!needHsm(t)) return;
    const k = await token.generate('AES-256-GCM', { label: `aes-${randomBytes(4).toString('hex')}` });
    const iv = randomBytes(12);
    const a = await token.encrypt({ id: k.id }, { plaintext: message, iv });
    const b = await token.encrypt({ id: k.id }, { plaintext: message, iv });
    assert.ok(a.iv.equals(iv));
    assert.ok(a.ciphertext.equals(b.ciphertext) && a.tag.equals(b.tag), 'same key, IV and input: same output');
    assert.ok((await token.decrypt({ id: k.id }, a)).equals(message));

    const empty = await token.encrypt({ id: k.id }, { plaintext: Buffer.alloc(0), aad: Buffer.from('only aad') });
    assert.equal(empty.ciphertext.length, 0);
    assert.equal((await token.decrypt({ id: k.id }, { ...empty, aad: Buffer.from('only aad') })).length, 0);
    await assert.rejects(token.decrypt({ id: k.id }, empty), { code: 'hsm.decrypt_failed' });
    await assert.rejects(token.encrypt({ id: k.id }, { plaintext: message, iv: randomBytes(16) }), { code: 'hsm.input_invalid' });
  });
});

describe('destroy and list', () => {
  test('destroy removes both halves of a pair from the token', async (t) => {
    if (!needHsm(t)) return;
    const k = await keyPair('EC-P256');
    const aes = await token.generate('AES-256-GCM', { label: `aes-${randomBytes(4).toString('hex')}` });
    const listed = await token.list();
    assert.equal(listed.filter((o) => o.id.equals(k.id)).length, 2);
    assert.equal(listed.filter((o) => o.id.equals(aes.id)).length, 1);

    assert.equal(await token.destroy({ label: k.label }), 2);
    assert.equal(await token.destroy({ id: aes.id }), 1);
    assert.deepEqual(await token.find({ id: k.id }), []);
    assert.deepEqual(await token.find({ id: aes.id }), []);
    assert.equal((await token.list()).filter((o) => o.id.equals(k.id) || o.id.equals(aes.id)).length, 0);
    await assert.rejects(token.sign({ id: k.id }, { hash: 'SHA-256', input: { message } }), { code: 'hsm.key_not_found' });
    await assert.rejects(token.publicKey({ id: k.id }), { code: 'hsm.key_not_found' });
    await assert.rejects(token.encrypt({ id: aes.id }, { plaintext: message }), { code: 'hsm.key_not_found' });
    assert.equal(await token.destroy({ id: k.id }), 0, 'destroying again finds nothing');
  });
});

describe('sessions and recovery', () => {
  test('concurrent operations share the bounded pool', async (t) => {
    if (!needHsm(t)) return;
    const k = await keyPair('EC-P256');
    const sigs = await Promise.all(Array.from({ length: 40 }, (_, i) => token.sign({ id: k.id }, { hash: 'SHA-256', input: { message: Buffer.from(`m${i}`) } })));
    sigs.forEach((s, i) => assert.ok(nodeVerify('sha256', Buffer.from(`m${i}`), k.pub, s)));
    const health = await token.health();
    assert.equal(health.ok, true);
    if (health.ok) {
      assert.ok(health.sessions.open <= 3, `at most 3 sessions, saw ${health.sessions.open}`);
      assert.equal(health.sessions.waiting, 0);
    }
  });

  test('a logout behind the pool\'s back: the pool logs in again', async (t) => {
    if (!needHsm(t)) return;
    const k = await keyPair('EC-P256');
    const { lib, slot } = meddler();
    const s = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    lib.C_Logout(s); // the login belongs to the application, so every session of the pool is logged out too
    assert.equal(lib.C_GetSessionInfo(s).state, 0 /* CKS_RO_PUBLIC_SESSION */);
    lib.C_CloseSession(s);
    assert.ok(nodeVerify('sha256', message, k.pub, await token.sign({ id: k.id }, { hash: 'SHA-256', input: { message } })));
    // Logged out, the private key would be invisible and destroy would have removed the public half only.
    const s2 = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    lib.C_Logout(s2);
    lib.C_CloseSession(s2);
    assert.equal(await token.destroy({ id: k.id }), 2);
  });

  test('C_CloseAllSessions behind the pool\'s back: fresh sessions, logged in', async (t) => {
    if (!needHsm(t)) return;
    const k = await keyPair('EC-P256');
    // Fill the pool with idle sessions first, so that all of them go stale.
    await Promise.all([1, 2, 3].map(() => token.sign({ id: k.id }, { hash: 'SHA-256', input: { message } })));
    const { lib, slot } = meddler();
    lib.C_CloseAllSessions(slot);
    assert.ok(nodeVerify('sha256', message, k.pub, await token.sign({ id: k.id }, { hash: 'SHA-256', input: { message } })));
    const health = await token.health();
    assert.equal(health.ok, true);
  });

  test('the library finalized behind the wrapper\'s back: it initializes again and carries on', async (t) => {
    if (!needHsm(t)) return;
    const k = await keyPair('EC-P384');
    meddler().lib.C_Finalize();
    assert.ok(nodeVerify('sha384', message, k.pub, await token.sign({ id: k.id }, { hash: 'SHA-384', input: { message } })));
    assert.equal((await token.health()).ok, true);
  });

  test('a token that goes away gives hsm.unavailable, and is used again when it comes back', async (t) => {
    if (!needHsm(t)) return;
    const k = await keyPair('EC-P256');
    const aes = await token.generate('AES-256-GCM', { label: `aes-${randomBytes(4).toString('hex')}` });
    const sealed = await token.encrypt({ id: aes.id }, { plaintext: message });

    tok.takeAway();
    try {
      const unavailable = (e: unknown) => {
        assert.ok(e instanceof HsmUnavailableError, `expected HsmUnavailableError, got ${String(e)}`);
        assert.equal(e.code, 'hsm.unavailable');
        assert.equal(e.status, 503);
        return true;
      };
      // Not "key not found": the token is gone, and the difference matters to the caller.
      await assert.rejects(token.sign({ id: k.id }, { hash: 'SHA-256', input: { message } }), unavailable);
      await assert.rejects(token.decrypt({ id: aes.id }, sealed), unavailable);
      await assert.rejects(token.generate('EC-P256', { label: `gone-${randomBytes(4).toString('hex')}` }), unavailable);
      await assert.rejects(token.destroy({ id: k.id }), unavailable);
      await new Promise((r) => setTimeout(r, 60)); // past reconnectIntervalMs: a real reconnect attempt fails too
      await assert.rejects(token.list(), unavailable);
      const health = await token.health();
      assert.equal(health.ok, false);
      if (!health.ok) assert.equal(health.reason, 'token_absent');
    } finally {
      tok.bringBack();
    }
    await new Promise((r) => setTimeout(r, 60));
    assert.ok(nodeVerify('sha256', message, k.pub, await token.sign({ id: k.id }, { hash: 'SHA-256', input: { message } })));
    assert.ok((await token.decrypt({ id: aes.id }, sealed)).equals(message));
    assert.equal((await token.health()).ok, true);
    assert.equal((await token.find({ id: k.id })).length, 2, 'the keys are still there');
  });

  test('a wrong PIN is hsm.unavailable and is not tried again', async (t) => {
    if (!needHsm(t)) return;
    // Its own token, so the failed logins cannot touch the one the other tests use.
    const other = wrongPinTok;
    const wrong = new Pkcs11Token({ modulePath: hsm!.modulePath, tokenLabel: other.label, pin: `${other.pin}x` });
    try {
      const first = await wrong.list().catch((e: unknown) => e);
      assert.ok(first instanceof HsmUnavailableError);
      assert.equal(first.reason, 'pin_rejected');
      assert.equal(first.ckr, 'CKR_PIN_INCORRECT');
      assert.ok(!JSON.stringify({ ...first, message: first.message }).includes(other.pin), 'the PIN is not in the error');
      // The same refusal comes back without another login attempt.
      assert.equal(await wrong.list().catch((e: unknown) => e), first);
    } finally {
      await wrong.close();
    }
  });

  test('a missing library or token label is hsm.unavailable', async (t) => {
    if (!needHsm(t)) return;
    const noLib = new Pkcs11Token({ modulePath: '/nonexistent/libpkcs11.so', tokenLabel: tok.label, pin: '1234' });
    await assert.rejects(noLib.list(), { name: 'HsmUnavailableError', reason: 'module_unavailable' });
    assert.equal((await noLib.health()).ok, false);
    await noLib.close();
    const noToken = new Pkcs11Token({ modulePath: hsm!.modulePath, tokenLabel: 'no-such-token', pin: '1234' });
    await assert.rejects(noToken.list(), { name: 'HsmUnavailableError', reason: 'token_absent' });
    await noToken.close();
    // The shared token was not disturbed.
    assert.equal((await token.health()).ok, true);
  });

  test('a closed token refuses further calls', async (t) => {
    if (!needHsm(t)) return;
    const other = new Pkcs11Token({ modulePath: hsm!.modulePath, tokenLabel: tok.label, pin: tok.pin });
    assert.equal((await other.health()).ok, true);
    await other.close();
    await assert.rejects(other.list(), { name: 'HsmUnavailableError', reason: 'closed' });
    assert.equal((await token.health()).ok, true, 'closing one wrapper leaves the other working');
  });
});
