// Auto-unseal: the root key wrapped by an AES key inside an HSM (SoftHSM2 through PKCS#11, PyKMIP through KMIP), so
// instances start unsealed without a share ceremony; init returns recovery shares. Unsealing once with the shares
// re-wraps the root key for the configured seal: Shamir to HSM, HSM to Shamir, and a lost HSM key replaced by a new
// one. Every step restarts a real Keyward on the same database and checks that the keys made at the start still sign.
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pkcs11Token } from '../../../src/keys/providers/pkcs11/token.ts';
import { assertProblem, req } from '../../support/http.ts';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { kmipProvider, pkcs11Provider } from '../../support/providers.ts';
import { type PykmipServer, pykmipForSuite } from '../../support/pykmip.ts';
import { type SoftHsm, type SoftHsmToken, softHsm } from '../../support/softhsm.ts';
import { pgTestSchema } from '../../support/pg.ts';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

describe('HSM seal (PKCS#11, SoftHSM2)', () => {
  let hsm: SoftHsm | undefined;
  let tok: SoftHsmToken;
  let dir: string;
  let t: TestKeyward | undefined;
  let operator: Pkcs11Token;
  let shares: string[] = [];
  let publicKey: string;

  before(async (ctx) => {
    hsm = await softHsm(ctx, 'HSM seal tests');
    if (!hsm) return;
    tok = await hsm.initToken('keyward-seal-token');
    dir = mkdtempSync(join(tmpdir(), 'keyward-hsm-seal-'));
    operator = new Pkcs11Token({ modulePath: hsm.modulePath, tokenLabel: tok.label, pin: tok.pin });
  });
  after(async () => {
    await t?.close();
    await operator?.close();
    hsm?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const skip = (c: { skip(m: string): void }) => {
    if (!hsm) c.skip('SoftHSM2 not installed');
    return !hsm;
  };

  /** (Re)starts Keyward on the same database with the given seal. */
  async function restart(seal: Record<string, unknown>) {
    await t?.close();
    t = undefined;
    const p = pkcs11Provider(hsm!, tok);
    t = await startKeyward({ dir, unseal: false, config: { seal: { retry_interval: '300ms', ...seal }, keys: { providers: { pkcs11: p.config } } }, env: { ...p.env } });
    return t;
  }
  const status = async () => (await req(t!.kw.app, { method: 'GET', url: '/v1/sys/status', headers: t!.auth })).body;
  const signs = async () => {
    const r = await t!.post('/v1/keys/app/sign', { message: b64('still mine') });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(nodeVerify('sha256', Buffer.from('still mine'), createPublicKey(publicKey), Buffer.from(r.body.signature, 'base64')));
  };
  const events = (type: string) => t!.auditLines.map((l) => JSON.parse(l)).filter((e) => e.event_type === type);
  const sealKeys = async (label = 'keyward-seal') => (await operator.find({ label })).filter((o) => o.class === 'secret_key');

  test('init with an HSM seal: unsealed at once, recovery shares returned, the seal key is in the token', async (c) => {
    if (skip(c)) return;
    await restart({ type: 'pkcs11' });
    const before = await status();
    assert.deepEqual([before.state, before.seal_type, before.configured_seal_type], ['UNINITIALIZED', 'pkcs11', 'pkcs11']);
    const init = await t!.post('/v1/sys/init', { shares: 3, threshold: 2 });
    assert.equal(init.status, 201, JSON.stringify(init.body));
    assert.equal(init.body.shares.length, 3);
    assert.deepEqual([init.body.sealed, init.body.seal_type, init.body.threshold, init.body.total], [false, 'pkcs11', 2, 3]);
    shares = init.body.shares;
    const [key] = await sealKeys();
    assert.ok(key, 'an AES seal key was generated in the token');
    assert.deepEqual([key.sensitive, key.extractable], [true, false]);
    const created = await t!.post('/v1/keys', { key_id: 'app', key_type: 'EC-P256' });
    publicKey = created.body.public_key;
    await signs();
  });

  test('a restart unseals through the HSM, without shares; seal then an empty unseal asks the HSM again', async (c) => {
    if (skip(c)) return;
    await restart({ type: 'pkcs11' });
    assert.equal((await status()).sealed, false);
    await signs();
    await t!.post('/v1/sys/seal');
    assertProblem(await t!.post('/v1/keys/app/sign', { message: b64('x') }), 503, 'system.sealed');
    await sleep(700);
    assert.equal((await status()).sealed, true, 'a seal stays sealed: no automatic unseal behind the operator\'s back');
    // No body at all: the HSM opens the root key (the route's body requires nothing).
    const unsealed = await t!.post('/v1/sys/unseal');
    assert.equal(unsealed.body.sealed, false, JSON.stringify(unsealed.body));
    await signs();
  });

  test('token unreachable at start: starts sealed, unseals by itself once the token is back', async (c) => {
    if (skip(c)) return;
    await t?.close();
    t = undefined;
    tok.takeAway();
    try {
      await restart({ type: 'pkcs11' });
      assert.equal((await status()).sealed, true);
      assertProblem(await t!.post('/v1/keys/app/sign', { message: b64('x') }), 503, 'system.sealed');
      assertProblem(await t!.post('/v1/sys/unseal', {}), 503, 'hsm.unavailable');
    } finally {
      tok.bringBack();
    }
    for (let i = 0; i < 50 && (await status()).sealed; i++) await sleep(200);
    assert.equal((await status()).sealed, false);
    await signs();
  });

  test('the HSM key is lost: recovery shares re-wrap the root key under a new HSM key', async (c) => {
    if (skip(c)) return;
    const [old] = await sealKeys();
    await t?.close();
    t = undefined;
    await operator.destroy({ id: old!.id });
    await restart({ type: 'pkcs11' });
    assert.equal((await status()).sealed, true);
    assertProblem(await t!.post('/v1/sys/unseal', {}), 409, 'seal.recovery_required');
    assert.equal((await t!.post('/v1/sys/unseal', { share: shares[0] })).body.sealed, true);
    const done = await t!.post('/v1/sys/unseal', { share: shares[2] });
    assert.equal(done.body.sealed, false, JSON.stringify(done.body));
    const [fresh] = await sealKeys();
    assert.ok(fresh && !fresh.id.equals(old!.id), 'a new seal key');
    const migrated = events('system.seal_migrated');
    assert.equal(migrated.length, 1);
    assert.deepEqual([migrated[0].metadata.from, migrated[0].metadata.to], ['pkcs11', 'pkcs11']);
    assert.equal(JSON.stringify(migrated).includes(shares[0]!), false, 'no share in the trail');
    await signs();
    await restart({ type: 'pkcs11' });
    assert.equal((await status()).sealed, false, 'auto-unsealed again with the new key');
  });

  test('migration HSM → Shamir: the recovery shares become unseal shares', async (c) => {
    if (skip(c)) return;
    await restart({ type: 'shamir' });
    const s = await status();
    assert.deepEqual([s.sealed, s.seal_type, s.configured_seal_type], [true, 'pkcs11', 'shamir']);
    const done = await t!.post('/v1/sys/unseal', { shares: [shares[1], shares[2]] });
    assert.deepEqual([done.body.sealed, done.body.seal_type], [false, 'shamir']);
    assert.deepEqual(events('system.seal_migrated').map((e) => [e.metadata.from, e.metadata.to]), [['pkcs11', 'shamir']]);
    await signs();
    await restart({ type: 'shamir' });
    assert.equal((await status()).sealed, true, 'a Shamir seal needs its shares at every start');
    assert.equal((await t!.post('/v1/sys/unseal', { shares: [shares[0], shares[1]] })).body.sealed, false);
    await signs();
  });

  test('migration Shamir → HSM: configure the HSM seal, unseal once with the shares; later starts need none', async (c) => {
    if (skip(c)) return;
    await restart({ type: 'pkcs11', key_label: 'keyward-seal-2' });
    const s = await status();
    assert.deepEqual([s.sealed, s.seal_type, s.configured_seal_type], [true, 'shamir', 'pkcs11']);
    assertProblem(await t!.post('/v1/sys/unseal', {}), 409, 'seal.migration_required');
    const done = await t!.post('/v1/sys/unseal', { shares: [shares[0], shares[2]] });
    assert.deepEqual([done.body.sealed, done.body.seal_type], [false, 'pkcs11']);
    assert.equal((await sealKeys('keyward-seal-2')).length, 1);
    await restart({ type: 'pkcs11', key_label: 'keyward-seal-2' });
    assert.equal((await status()).sealed, false);
    await signs();
    // The shares stay recovery shares.
    await t!.post('/v1/sys/seal');
    assert.equal((await t!.post('/v1/sys/unseal', { shares: [shares[1], shares[2]] })).body.sealed, false);
  });
});

describe('HSM seal (KMIP, PyKMIP)', () => {
  let server: PykmipServer | undefined;
  let dir: string;
  let t: TestKeyward | undefined;

  before(async () => {
    server = await pykmipForSuite('KMIP seal tests');
    dir = mkdtempSync(join(tmpdir(), 'keyward-kmip-seal-'));
  });
  after(async () => {
    await t?.close();
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function restart() {
    await t?.close();
    t = undefined;
    t = await startKeyward({ dir, unseal: false, config: { seal: { type: 'kmip', retry_interval: '300ms' }, keys: { providers: { kmip: kmipProvider(server!, dir, { request_timeout: '2s' }) } } } });
    return t;
  }
  const status = async () => (await req(t!.kw.app, { method: 'GET', url: '/v1/sys/status', headers: t!.auth })).body;

  test('init, restart unsealed through the KMIP server; server down at start: sealed until it is back', async (c) => {
    if (!server) return c.skip('pykmip-server not installed');
    await restart();
    const init = await req(t!.kw.app, { method: 'POST', url: '/v1/sys/init', headers: t!.auth, payload: { shares: 2, threshold: 2 } });
    assert.equal(init.status, 201, JSON.stringify(init.body));
    assert.deepEqual([init.body.sealed, init.body.seal_type], [false, 'kmip']);
    const k = await req(t!.kw.app, { method: 'POST', url: '/v1/keys', headers: t!.auth, payload: { key_id: 'k', key_type: 'AES-256-GCM' } });
    assert.equal(k.status, 201);
    await restart();
    assert.equal((await status()).sealed, false);
    await t?.close();
    t = undefined;
    await server.stop();
    try {
      await restart();
      assert.equal((await status()).sealed, true);
    } finally {
      await server.start();
    }
    for (let i = 0; i < 50 && (await status()).sealed; i++) await sleep(200);
    assert.equal((await status()).sealed, false);
    const enc = await req(t!.kw.app, { method: 'POST', url: '/v1/keys/k/encrypt', headers: t!.auth, payload: { plaintext: b64('x') } });
    assert.equal(enc.status, 200);
  });
});

test('HSM seal, two instances on one PostgreSQL store: the one started before sys/init unseals by itself once the other initialises', { timeout: 120_000 }, async (t) => {
  const hsm = await softHsm(t, 'HSM seal tests');
  if (!hsm) return;
  const pg = await pgTestSchema(t, 'HSM seal on a shared store');
  if (!pg) return hsm.cleanup();
  const tok = await hsm.initToken('keyward-shared-seal');
  const started: TestKeyward[] = [];
  const start = async (name: string) => {
    const p = pkcs11Provider(hsm, tok);
    const inst = await startKeyward({
      unseal: false,
      config: { storage: { type: 'postgres', url: pg.url, schema: pg.schema }, server: { instance_id: name }, seal: { type: 'pkcs11', retry_interval: '200ms' }, keys: { providers: { pkcs11: p.config } } },
      env: { ...p.env },
    });
    started.push(inst);
    return inst;
  };
  const status = async (inst: TestKeyward) => (await req(inst.kw.app, { method: 'GET', url: '/v1/sys/status', headers: inst.auth })).body;
  try {
    const early = await start('kw-early');
    assert.equal((await status(early)).state, 'UNINITIALIZED');
    const other = await start('kw-other');
    assert.equal((await other.post('/v1/sys/init', { shares: 3, threshold: 2 })).status, 201);
    for (let i = 0; i < 100 && (await status(early)).sealed; i++) await sleep(100);
    assert.equal((await status(early)).sealed, false, 'the early instance unsealed through the HSM without shares');
    // It serves with the root key the other instance created: a key made there signs here.
    assert.equal((await other.post('/v1/keys', { key_id: 'shared', key_type: 'EC-P256' })).status, 201);
    assert.equal((await early.post('/v1/keys/shared/sign', { message: b64('x') })).status, 200);
  } finally {
    for (const inst of started) await inst.close();
    await pg.cleanup();
    hsm.cleanup();
  }
});
