// One code per fault: the same mistake gets the same code whether the schema at the edge or the service behind
// it catches it (limit=-1 and limit=0, shares: 1000 and shares: 1 with threshold 2, a label too long and a label
// with a control character...).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { req, type Res } from '../../support/http.ts';
import { assertProblem } from '../../support/problem.ts';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import type { ProblemCode } from '../../../src/core/problem-codes.ts';

describe('one code per fault on the key API and the system routes', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward();
    for (const [id, type] of [['ec', 'EC-P256'], ['rsa', 'RSA-2048'], ['ed', 'Ed25519'], ['aes', 'AES-256-GCM']] as const) {
      assert.equal((await call('POST', '/v1/keys', { key_id: id, key_type: type })).status, 201);
    }
  });
  after(() => t.close());

  function call(method: 'GET' | 'POST', url: string, body?: unknown): Promise<Res> {
    return req(t.kw.app, { method, url, headers: t.auth, ...(body !== undefined ? { payload: body as object } : {}) });
  }
  /** Every request is refused with `status` and `code`. */
  async function sameCode(status: number, code: ProblemCode, requests: Array<[method: 'GET' | 'POST', url: string, body?: unknown]>) {
    for (const [method, url, body] of requests) {
      assertProblem(await call(method, url, body), status, code, `${method} ${url} ${JSON.stringify(body)?.slice(0, 120)}`);
    }
  }

  test('list: limit, cursor, label filter', async () => {
    await sameCode(400, 'request.invalid_limit', [['GET', '/v1/keys?limit=-1'], ['GET', '/v1/keys?limit=abc'], ['GET', '/v1/keys?limit=0'], ['GET', '/v1/keys?limit=1001'], ['GET', '/v1/keys?limit=99999']]);
    await sameCode(400, 'request.invalid_cursor', [['GET', `/v1/keys?cursor=${'x'.repeat(600)}`], ['GET', '/v1/keys?cursor=!!']]);
    await sameCode(400, 'request.invalid_label_filter', [['GET', `/v1/keys?label=${'a=b,'.repeat(200)}a=b`], ['GET', '/v1/keys?label=nope']]);
  });

  test('key ids, labels and descriptions', async () => {
    await sameCode(400, 'key.invalid_id', [
      ['POST', '/v1/keys', { key_id: 123, key_type: 'EC-P256' }],
      ['POST', '/v1/keys', { key_id: '../x', key_type: 'EC-P256' }],
      ['POST', '/v1/keys/import', { key_id: ['x'], key_type: 'AES-256-GCM', key_material: 'AAAA' }],
      ['GET', `/v1/keys/${'k'.repeat(129)}`],
      ['GET', `/v1/keys/${'k'.repeat(600)}`],
      ['POST', '/v1/authz/explain', { action: 'kms:Sign', key_id: 'k'.repeat(300) }],
      ['POST', '/v1/authz/explain', { action: 'kms:Sign', key_id: '../x' }],
    ]);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'v']));
    await sameCode(400, 'key.invalid_label', [
      ['POST', '/v1/keys', { key_id: 'l1', key_type: 'EC-P256', labels: { 'Bad Key': 'v' } }],
      ['POST', '/v1/keys', { key_id: 'l2', key_type: 'EC-P256', labels: { a: 'x'.repeat(300) } }],
      ['POST', '/v1/keys', { key_id: 'l3', key_type: 'EC-P256', labels: { a: 'bell\u0007' } }],
      ['POST', '/v1/keys', { key_id: 'l4', key_type: 'EC-P256', labels: { a: 1 } }],
      ['POST', '/v1/keys', { key_id: 'l5', key_type: 'EC-P256', labels: many }],
    ]);
    await sameCode(400, 'key.invalid_description', [
      ['POST', '/v1/keys', { key_id: 'd1', key_type: 'EC-P256', description: 'x'.repeat(2000) }],
      ['POST', '/v1/keys', { key_id: 'd2', key_type: 'EC-P256', description: 'esc\u001b[31m' }],
    ]);
  });

  test('import material', async () => {
    await sameCode(400, 'key.import_invalid', [
      ['POST', '/v1/keys/import', { key_id: 'i1', key_type: 'AES-256-GCM', key_material: 'A'.repeat(2000) }],
      ['POST', '/v1/keys/import', { key_id: 'i2', key_type: 'AES-256-GCM', key_material: 'AAAA' }],
      ['POST', '/v1/keys/import', { key_id: 'i3', key_type: 'EC-P256', private_key_pem: 'x'.repeat(20_000) }],
      ['POST', '/v1/keys/import', { key_id: 'i4', key_type: 'EC-P256', private_key_pem: 'garbage' }],
    ]);
  });

  test('signing options', async () => {
    const digest = Buffer.alloc(32, 1).toString('base64');
    await sameCode(400, 'crypto.hash_algorithm_unsupported', [
      ['POST', '/v1/keys/ec/sign', { digest, hash_algorithm: 'MD5' }],
      ['POST', '/v1/keys/ed/sign', { message: 'aGk=', hash_algorithm: 'SHA-256' }],
    ]);
    await sameCode(400, 'crypto.rsa_padding_unsupported', [
      ['POST', '/v1/keys/rsa/sign', { message: 'aGk=', rsa_padding: 'oaep' }],
      ['POST', '/v1/keys/ec/sign', { message: 'aGk=', rsa_padding: 'pss' }],
    ]);
    await sameCode(400, 'crypto.ecdsa_format_unsupported', [
      ['POST', '/v1/keys/ec/sign', { message: 'aGk=', signature_format: 'pem' }],
      ['POST', '/v1/keys/rsa/sign', { message: 'aGk=', signature_format: 'raw' }],
    ]);
    await sameCode(400, 'crypto.digest_length', [
      ['POST', '/v1/keys/ec/sign', { digest: Buffer.alloc(200, 1).toString('base64'), hash_algorithm: 'SHA-256' }],
      ['POST', '/v1/keys/ec/sign', { digest: Buffer.alloc(20, 1).toString('base64'), hash_algorithm: 'SHA-256' }],
    ]);
  });

  test('payload sizes', async () => {
    // Beyond the old schema bound (131072 base64 characters) and just beyond max_payload_bytes (64 KiB).
    const huge = Buffer.alloc(100 * 1024, 1).toString('base64');
    const over = Buffer.alloc(64 * 1024 + 1, 1).toString('base64');
    await sameCode(400, 'crypto.payload_too_large', [
      ['POST', '/v1/keys/ec/sign', { message: huge }],
      ['POST', '/v1/keys/ec/sign', { message: over }],
      ['POST', '/v1/keys/aes/encrypt', { plaintext: huge }],
      ['POST', '/v1/keys/aes/encrypt', { plaintext: over }],
    ]);
  });

  test('JWT header and claims', async () => {
    await sameCode(400, 'crypto.jwt_header_invalid', [
      ['POST', '/v1/keys/ec/jwt', { payload: {}, typ: 'x'.repeat(65) }],
      ['POST', '/v1/keys/ec/jwt', { payload: {}, typ: 'a b' }],
    ]);
    await sameCode(400, 'crypto.jwt_claims_invalid', [
      ['POST', '/v1/keys/ec/jwt', { payload: ['not', 'claims'] }],
      ['POST', '/v1/keys/ec/jwt', { payload: { exp: 'soon' } }],
    ]);
  });

  test('random and data key sizes', async () => {
    await sameCode(400, 'crypto.random_length', [['POST', '/v1/random', { bytes: 0 }], ['POST', '/v1/random', { bytes: 2000 }]]);
    await sameCode(400, 'crypto.data_key_length', [['POST', '/v1/keys/aes/datakey', { bytes: 48 }]]);
  });

  test('key versions: malformed in the query or the body alike; absent is not found', async () => {
    const sig = Buffer.alloc(64).toString('base64');
    await sameCode(400, 'request.invalid', [
      ['GET', '/v1/keys/ec/public-key?version=0'],
      ['GET', '/v1/keys/ec/public-key?version=1234567890'],
      ['POST', '/v1/keys/ec/verify', { message: 'aGk=', signature: sig, version: 0 }],
      ['POST', '/v1/keys/ec/verify', { message: 'aGk=', signature: sig, version: 1234567890 }],
    ]);
    await sameCode(404, 'key.version_not_found', [
      ['GET', '/v1/keys/ec/public-key?version=99'],
      ['POST', '/v1/keys/ec/verify', { message: 'aGk=', signature: sig, version: 99 }],
    ]);
  });
});

test('system routes: init counts and unseal shares', async (t) => {
  const k = await startKeyward({ unseal: false });
  t.after(() => k.close());
  const call = (url: string, body: unknown) => k.post(url, body as object);
  for (const body of [{ shares: 1000, threshold: 2 }, { shares: 0, threshold: 1 }, { shares: 1, threshold: 2 }, { shares: 3, threshold: 1 }, { shares: 3, threshold: 99 }]) {
    const r = await call('/v1/sys/init', body);
    assertProblem(r, 400, 'seal.invalid_parameters', JSON.stringify(body));
  }
  assert.equal((await call('/v1/sys/init', { shares: 1, threshold: 1 })).status, 201);
  for (const body of [{ share: 'x'.repeat(200) }, { share: 'abc' }, { shares: ['A'.repeat(129)] }, { payloads64: ['abc'] }, { share: 7 }]) {
    const r = await call('/v1/sys/unseal', body);
    assertProblem(r, 400, 'seal.share_malformed', JSON.stringify(body));
  }
});
