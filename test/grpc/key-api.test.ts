// The key API over gRPC with a real grpc-js client over TLS and mTLS: every RPC, the credentials REST accepts (Bearer
// API key and bootstrap token, x-api-key, SPIFFE client certificates), refusals as gRPC statuses with the problem
// code in trailing metadata (the same codes REST answers), and audit events in a chain that verifies.
import { status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify as rawVerify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { readAuditPaths, verifyAuditLog } from '../../src/audit/index.ts';
import { publicKeyFromPem } from '../../src/audit/keys.ts';
import { fingerprint, generateBootstrapToken } from '../../src/authn/index.ts';
import { startIdp, type Idp } from '../authn/helpers.ts';
import { TestPki } from '../support/certs.ts';
import { req } from '../support/http.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { keyClient, type KeyClient, refused } from './client.ts';

const pki = new TestPki();
const READER = randomBytes(24).toString('base64url');
const boot = generateBootstrapToken();

/** REST's JSON without its nulls: what proto3 leaves unset. */
const withoutNulls = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(withoutNulls) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, withoutNulls(x)])) : v;
/** A decoded message as plain JSON values. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

interface Event { event_type: string; action: string; outcome: string; error_code: string | null; request_id: string | null; principal: { id: string; auth_method: string } | null; resource: { id?: string } | null }

describe('gRPC key API over TLS and mTLS', () => {
  let t: TestKeyward;
  let idp: Idp;
  let admin: KeyClient;
  const clients: KeyClient[] = [];
  const client = (tls: { cert?: string; key?: string } = {}, md: Record<string, string> = {}) => {
    const c = keyClient(t.kw.grpc!.port, { ca: pki.path('ca.pem'), ...tls }, md);
    clients.push(c);
    return c;
  };
  const cert = (name: string) => ({ cert: pki.path(`${name}.pem`), key: pki.path(`${name}.key`) });
  const events = () => t.auditLines.map((l) => JSON.parse(l) as Event);
  /**
   * A request's events once the trail has written them: the sinks may still be writing when the answer arrives, so
   * wait (flush, then poll, bounded) for at least `atLeast` of them; the caller asserts the exact count.
   */
  const eventsFor = async (requestId: string, atLeast = 1) => {
    const of = () => events().filter((e) => e.request_id === requestId);
    await t.kw.audit.flush();
    for (let i = 0; i < 500 && of().length < atLeast; i++) await sleep(10);
    return of();
  };

  before(async () => {
    pki.ca('ca');
    pki.ca('rogue');
    pki.leaf('server', 'ca', 'localhost', 'IP:127.0.0.1');
    pki.leaf('payments', 'ca', 'payments', 'URI:spiffe://prod.example/ns/payments/sa/api');
    pki.leaf('proxy', 'ca', 'proxy', 'URI:spiffe://prod.example/ns/edge/sa/proxy');
    pki.leaf('intruder', 'rogue', 'payments', 'URI:spiffe://prod.example/ns/payments/sa/api');
    idp = await startIdp();
    await idp.addKey('ec1', 'ES256');
    t = await startKeyward({
      env: { KW_READER_HASH: fingerprint(READER), KW_BOOT_HASH: boot.tokenHash, KW_BOOT_AT: new Date().toISOString() },
      config: {
        server: { tls: { cert_file: pki.path('server.pem'), key_file: pki.path('server.key') }, grpc: { port: 0 } },
        authn: {
          type: 'chain',
          authenticators: [
            { type: 'bootstrap_token', token_hash_env: 'KW_BOOT_HASH', issued_at_env: 'KW_BOOT_AT', max_age: 600 },
            { type: 'jwt', issuer: idp.issuer, audience: 'keyward', jwks_url: idp.jwksUrl, algorithms: ['ES256'] },
            { type: 'api_key', keys: [{ id: 'test-admin', hash_env: 'KEYWARD_TEST_ADMIN_KEY_HASH', scopes: ['keyward.*'] }, { id: 'reader', hash_env: 'KW_READER_HASH', scopes: ['keyward.keys.list'] }] },
            { type: 'forwarded_identity', trusted_proxies: ['127.0.0.1/32'], require_mtls: true, proxy_identities: ['spiffe://prod.example/ns/edge/sa/proxy'], identities: { alice: ['keyward.keys.list'] } },
            { type: 'mtls', ca_file: pki.path('ca.pem'), trust_domains: ['prod.example'], identities: { 'spiffe://prod.example/ns/payments/*': ['keyward.key.pay-*.sign', 'keyward.keys.list'] } },
          ],
        },
      },
    });
    admin = client({}, t.auth);
  });
  after(async () => {
    for (const c of clients) c.close();
    await t?.close();
    await idp?.close();
  });

  test('every RPC of the key API answers as its REST route does', async () => {
    const ec = await admin.call('CreateKey', { key_id: 'ec', key_type: 'EC-P256', labels: { team: 'pay' }, description: 'signing' });
    assert.equal(ec.key_id, 'ec');
    assert.equal(ec.state, 'enabled');
    assert.deepEqual(ec.labels, { team: 'pay' });
    assert.equal(ec.current_version, 1);
    assert.match(ec.public_key, /BEGIN PUBLIC KEY/);
    // Same object as REST's JSON, field for field.
    const rest = await req(t.kw.app, { method: 'GET', url: '/v1/keys/ec', headers: t.auth });
    assert.deepEqual(plain(await admin.call('GetKey', { key_id: 'ec' })), withoutNulls(rest.body));

    const generated = await admin.call('CreateKey', { key_type: 'Ed25519' });
    assert.match(generated.key_id, /^key-/);
    const listed = await admin.call('ListKeys', { label: 'team=pay', limit: 10 });
    assert.deepEqual(listed.keys.map((k: { key_id: string }) => k.key_id), ['ec']);

    const message = Buffer.from('hello over gRPC');
    const signed = await admin.call('Sign', { key_id: 'ec', message });
    assert.equal(signed.key_version, 1);
    assert.equal(signed.algorithm, 'ECDSA_P256_SHA256');
    assert.ok(Buffer.isBuffer(signed.signature));
    const pub = await admin.call('GetPublicKey', { key_id: 'ec' });
    assert.equal(pub.jwk.kty, 'EC');
    assert.ok(rawVerify('sha256', message, createPublicKey(pub.public_key), signed.signature), 'the signature verifies with the public key');
    assert.equal((await admin.call('Verify', { key_id: 'ec', message, signature: signed.signature })).valid, true);
    assert.equal((await admin.call('Verify', { key_id: 'ec', message: Buffer.from('other'), signature: signed.signature })).valid, false);
    // A signature made over gRPC verifies over REST.
    const viaRest = await req(t.kw.app, { method: 'POST', url: '/v1/keys/ec/verify', headers: t.auth, payload: { message: message.toString('base64'), signature: signed.signature.toString('base64') } });
    assert.equal(viaRest.body.valid, true);

    const jwt = await admin.call('SignJwt', { key_id: 'ec', payload_json: JSON.stringify({ sub: 'svc', aud: 'x' }) });
    const jwks = await admin.call('GetJwks', { key_id: 'ec' });
    const verified = await jwtVerify(jwt.jwt, createLocalJWKSet(jwks));
    assert.equal(verified.payload.sub, 'svc');
    assert.equal(verified.protectedHeader.kid, jwt.kid);

    await admin.call('CreateKey', { key_id: 'aes', key_type: 'AES-256-GCM' });
    const plaintext = randomBytes(40);
    const aad = Buffer.from('ctx');
    const enc = await admin.call('Encrypt', { key_id: 'aes', plaintext, associated_data: aad });
    assert.deepEqual((await admin.call('Decrypt', { key_id: 'aes', ciphertext: enc.ciphertext, associated_data: aad })).plaintext, plaintext);
    const dk = await admin.call('GenerateDataKey', { key_id: 'aes', bytes: 16 });
    assert.equal(dk.plaintext.length, 16);
    assert.deepEqual((await admin.call('Decrypt', { key_id: 'aes', ciphertext: dk.ciphertext })).plaintext, dk.plaintext);
    // An empty plaintext is a plaintext (REST: ""), not a missing field.
    const empty = await admin.call('Encrypt', { key_id: 'aes' });
    assert.equal(((await admin.call('Decrypt', { key_id: 'aes', ciphertext: empty.ciphertext })).plaintext ?? Buffer.alloc(0)).length, 0);

    await admin.call('CreateKey', { key_id: 'hmac', key_type: 'HMAC-SHA256' });
    const mac = await admin.call('GenerateMac', { key_id: 'hmac', message });
    assert.equal(mac.mac.length, 32);
    assert.equal((await admin.call('VerifyMac', { key_id: 'hmac', message, mac: mac.mac })).valid, true);
    assert.equal((await admin.call('GenerateRandom', { bytes: 48 })).random.length, 48);

    const rotated = await admin.call('RotateKey', { key_id: 'ec' });
    assert.equal(rotated.current_version, 2);
    assert.equal(rotated.versions.length, 2);
    assert.equal((await admin.call('Sign', { key_id: 'ec', message })).key_version, 2);
    assert.equal((await admin.call('DisableKey', { key_id: 'ec' })).state, 'disabled');
    await refused(admin.call('Sign', { key_id: 'ec', message }), status.FAILED_PRECONDITION, 'key.disabled');
    assert.equal((await admin.call('EnableKey', { key_id: 'ec' })).state, 'enabled');
    const destroyed = await admin.call('DestroyKey', { key_id: 'hmac' });
    assert.equal(destroyed.state, 'destroyed');
    await refused(admin.call('GenerateMac', { key_id: 'hmac', message }), status.FAILED_PRECONDITION, 'key.destroyed');
  });

  test('credentials: Bearer JWT, API key and bootstrap token, x-api-key; the principal is in the audit event', async () => {
    await admin.call('CreateKey', { key_id: 'cred', key_type: 'EC-P256', overwrite: true });
    const now = Math.floor(Date.now() / 1000);
    const jwt = await idp.sign({ iss: idp.issuer, aud: 'keyward', sub: 'svc-signer', iat: now, exp: now + 300, permissions: ['keyward.key.cred.sign'] }, { kid: 'ec1' });
    const ways: Array<[string, Record<string, string>, string, string]> = [
      ['bearer-jwt', { authorization: `Bearer ${jwt}` }, 'svc-signer', 'jwt'],
      ['bearer-api-key', t.auth, 'test-admin', 'api_key'],
      ['x-api-key', { 'x-api-key': t.token }, 'test-admin', 'api_key'],
      ['bootstrap', { authorization: `Bearer ${boot.token}` }, 'bootstrap', 'bootstrap_token'],
    ];
    for (const [name, md, id, method] of ways) {
      const rid = `grpc-cred-${name}`;
      await client().call('Sign', { key_id: 'cred', message: Buffer.from('x') }, { ...md, 'x-request-id': rid });
      const e = (await eventsFor(rid)).find((x) => x.event_type === 'key.sign');
      assert.equal(e?.outcome, 'success');
      assert.equal(e?.principal?.auth_method, method, name);
      if (method !== 'bootstrap_token') assert.equal(e?.principal?.id, id);
    }
    // The token's permissions bound it, as over REST.
    await refused(client({}, { authorization: `Bearer ${jwt}` }).call('RotateKey', { key_id: 'cred' }), status.PERMISSION_DENIED, 'auth.scope_denied');
  });

  test('mTLS: a SPIFFE workload signs with the keys its identity maps to, and nothing else', async () => {
    await admin.call('CreateKey', { key_id: 'pay-1', key_type: 'EC-P256' });
    const workload = client(cert('payments'), { 'x-request-id': 'grpc-mtls-sign' });
    const r = await workload.call('Sign', { key_id: 'pay-1', message: Buffer.from('order 42') });
    assert.equal(r.key_id, 'pay-1');
    const [e] = await eventsFor('grpc-mtls-sign');
    assert.deepEqual(e?.principal, { id: 'spiffe://prod.example/ns/payments/sa/api', type: 'service', auth_method: 'mtls' });
    await refused(workload.call('RotateKey', { key_id: 'pay-1' }), status.PERMISSION_DENIED, 'auth.scope_denied');
    await refused(workload.call('Sign', { key_id: 'ec', message: Buffer.from('x') }), status.PERMISSION_DENIED, 'auth.scope_denied');
    // A certificate from another CA is no credential: grpc-js hands the server verified certificates only.
    await refused(client(cert('intruder')).call('ListKeys', {}), status.UNAUTHENTICATED, 'auth.missing_credential');
  });

  test('forwarded identity: a trusted proxy with its verified certificate asserts the caller in metadata', async () => {
    const r = await client(cert('proxy'), { 'x-forwarded-user': 'alice', 'x-request-id': 'grpc-fwd' }).call('ListKeys', {});
    assert.ok(Array.isArray(r.keys));
    assert.deepEqual((await eventsFor('grpc-fwd')).map((e) => e.principal), [{ id: 'alice', type: 'user', auth_method: 'forwarded_identity' }]);
    await refused(client(cert('proxy'), { 'x-forwarded-user': 'alice' }).call('GetKey', { key_id: 'ec' }), status.PERMISSION_DENIED, 'auth.scope_denied');
    // The same headers without the proxy's certificate are refused, not ignored.
    await refused(client({}, { 'x-forwarded-user': 'alice' }).call('ListKeys', {}), status.UNAUTHENTICATED, 'auth.invalid_credential');
  });

  test('refusals: unauthenticated, forbidden, not found, system keys, exists', async () => {
    const none = await refused(client().call('ListKeys', {}, { 'x-request-id': 'grpc-none' }), status.UNAUTHENTICATED, 'auth.missing_credential');
    assert.deepEqual(none.metadata.get('keyward-problem-status'), ['401']);
    assert.deepEqual(none.metadata.get('x-request-id'), ['grpc-none']);
    assert.match(String(none.metadata.get('www-authenticate')[0]), /^Bearer realm="keyward"/);
    const [failure] = await eventsFor('grpc-none');
    assert.equal(failure?.event_type, 'auth.failure');
    assert.equal(failure?.action, '/keyward.v1.KeyService/ListKeys');

    await refused(client({}, { authorization: 'Bearer wrong-key' }).call('ListKeys', {}), status.UNAUTHENTICATED, 'auth.invalid_credential');
    await refused(client({}, { authorization: 'Basic dTpw' }).call('ListKeys', {}), status.UNAUTHENTICATED, 'auth.malformed_credential');

    const reader = client({}, { authorization: `Bearer ${READER}` });
    assert.ok(Array.isArray((await reader.call('ListKeys', {})).keys));
    const denied = await refused(reader.call('Sign', { key_id: 'ec', message: Buffer.from('x') }, { 'x-request-id': 'grpc-denied' }), status.PERMISSION_DENIED, 'auth.scope_denied');
    assert.match(denied.details, /missing permission keyward\.key\.ec\.sign/);
    assert.equal((await eventsFor('grpc-denied'))[0]?.event_type, 'authz.denied');

    await refused(admin.call('GetKey', { key_id: 'nope' }), status.NOT_FOUND, 'key.not_found');
    await refused(admin.call('Sign', { key_id: 'nope', message: Buffer.from('x') }), status.NOT_FOUND, 'key.not_found');
    await refused(admin.call('CreateKey', { key_id: 'keyward-mine', key_type: 'EC-P256' }), status.PERMISSION_DENIED, 'key.system_key');
    await admin.call('CreateKey', { key_id: 'twice', key_type: 'EC-P256' });
    await refused(admin.call('CreateKey', { key_id: 'twice', key_type: 'EC-P256' }), status.ALREADY_EXISTS, 'key.exists');
  });

  test('invalid messages get the codes REST gives the same fields, and one request.refused event', async () => {
    await admin.call('CreateKey', { key_id: 'bad', key_type: 'AES-256-GCM' });
    await admin.call('CreateKey', { key_id: 'bad-ec', key_type: 'EC-P256' });
    const cases: Array<[string, string, Record<string, unknown>, 'GET' | 'POST', string, unknown]> = [
      // what, RPC, message, REST method, REST url, REST body
      ['invalid key id', 'GetKey', { key_id: '.hidden' }, 'GET', '/v1/keys/.hidden', undefined],
      ['unknown hash', 'Sign', { key_id: 'bad-ec', message: Buffer.from('x'), hash_algorithm: 'MD5' }, 'POST', '/v1/keys/bad-ec/sign', { message: 'eA==', hash_algorithm: 'MD5' }],
      ['data key length', 'GenerateDataKey', { key_id: 'bad', bytes: 20 }, 'POST', '/v1/keys/bad/datakey', { bytes: 20 }],
      ['random length', 'GenerateRandom', { bytes: 0 }, 'POST', '/v1/random', { bytes: 0 }],
      ['list limit', 'ListKeys', { limit: 0 }, 'GET', '/v1/keys?limit=0', undefined],
      ['label filter', 'ListKeys', { label: 'nope' }, 'GET', '/v1/keys?label=nope', undefined],
      ['unknown key type', 'CreateKey', { key_id: 'z', key_type: 'DES' }, 'POST', '/v1/keys', { key_id: 'z', key_type: 'DES' }],
      ['usage mismatch', 'Sign', { key_id: 'bad', message: Buffer.from('x') }, 'POST', '/v1/keys/bad/sign', { message: 'eA==' }],
      ['undecryptable', 'Decrypt', { key_id: 'bad', ciphertext: randomBytes(60) }, 'POST', '/v1/keys/bad/decrypt', { ciphertext: randomBytes(60).toString('base64') }],
      ['claims not an object', 'SignJwt', { key_id: 'bad-ec', payload_json: '[1]' }, 'POST', '/v1/keys/bad-ec/jwt', { payload: [1] }],
    ];
    for (const [what, rpc, message, method, url, body] of cases) {
      const r = await req(t.kw.app, { method, url, headers: t.auth, ...(body !== undefined ? { payload: body as object } : {}) });
      assert.ok(r.status >= 400, `${what}: REST answered ${r.status}`);
      const rid = `grpc-bad-${what.replaceAll(' ', '-')}`;
      const err = await refused(admin.call(rpc, message, { 'x-request-id': rid }), r.status === 400 ? status.INVALID_ARGUMENT : r.status === 404 ? status.NOT_FOUND : status.FAILED_PRECONDITION, r.body.code);
      assert.deepEqual(err.metadata.get('keyward-problem-status'), [String(r.status)], what);
      const evs = await eventsFor(rid);
      assert.equal(evs.length, 1, `${what}: ${JSON.stringify(evs)}`);
      assert.equal(evs[0]!.error_code, r.body.code);
      assert.equal(evs[0]!.principal?.id, 'test-admin');
    }
  });

  test('sealed: every key RPC is UNAVAILABLE with system.sealed', async () => {
    t.kw.seal.seal();
    try {
      await refused(admin.call('Sign', { key_id: 'bad-ec', message: Buffer.from('x') }), status.UNAVAILABLE, 'system.sealed');
      await refused(admin.call('CreateKey', { key_type: 'EC-P256' }), status.UNAVAILABLE, 'system.sealed');
    } finally {
      await t.kw.seal.submitShare(t.share!);
    }
    assert.equal((await admin.call('Sign', { key_id: 'bad-ec', message: Buffer.from('x') })).key_id, 'bad-ec');
  });

  test('the audit trail of gRPC calls verifies, and carries no payload', async () => {
    const secret = Buffer.from('GRPCSECRETMARK');
    await admin.call('CreateKey', { key_id: 'audit-aes', key_type: 'AES-256-GCM' });
    await admin.call('Encrypt', { key_id: 'audit-aes', plaintext: secret }, { 'x-request-id': 'grpc-audit-enc' });
    assert.equal((await eventsFor('grpc-audit-enc'))[0]?.event_type, 'key.encrypt');
    await t.kw.audit.flush();
    const { sources, checkpoints } = await readAuditPaths([join(t.dir, 'audit')]);
    const pub = publicKeyFromPem(await readFile(join(t.dir, 'audit-signing-key.pem')));
    const r = verifyAuditLog(sources, { publicKey: pub, checkpoints });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    const text = sources.flatMap((s) => s.lines.map((l) => l.text)).join('\n');
    assert.ok(text.includes('grpc-audit-enc'));
    assert.ok(!text.includes('GRPCSECRETMARK') && !text.includes(secret.toString('base64')));
    assert.ok(!text.includes(t.token) && !text.includes(READER) && !text.includes(boot.token));
  });

  test('gRPC calls are counted in /metrics by method and status', async () => {
    const m = await req(t.kw.app, { method: 'GET', url: '/metrics', headers: t.auth });
    const count = (labels: string) => Number(new RegExp(`^keyward_grpc_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(String(m.raw.body))?.[1] ?? 0);
    assert.ok(count('method="Sign",code="OK"') >= 5, String(m.raw.body).slice(0, 200));
    assert.ok(count('method="GetKey",code="NOT_FOUND"') >= 1);
    assert.ok(count('method="ListKeys",code="UNAUTHENTICATED"') >= 1);
  });
});
