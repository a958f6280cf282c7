// TOTP seeds at rest are sealed by the key service: the store holds ciphertext bound to realm and user.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KeyServiceTokenSigner, keyServiceSecretBox } from '../../src/idp/key-service-signer.ts';
import { Directory } from '../../src/idp/store/directory.ts';
import { systemClock } from '../../src/core/clock.ts';
import { migrateIdp } from '../../src/idp/store/migrations.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';

describe('sealed TOTP seeds', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward();
    await new KeyServiceTokenSigner(t.kw.keys, systemClock, { publishAheadMs: 0, retainMs: () => 0 }).ensureKeys(['main']);
    await migrateIdp(t.kw.store.kysely, t.kw.store.dialect);
  });
  after(() => t?.close());

  test('the stored value is ciphertext; it opens only for the same realm and user; sealed means unavailable', async () => {
    const box = keyServiceSecretBox(t.kw.keys);
    const dir = new Directory(t.kw.store.kysely, 'r1', box);
    const seed = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    await dir.putTotp('alice', { secret: seed, confirmed: true, lastStep: null });
    const row = await t.kw.store.kysely.selectFrom('idp_mfa').select('secret').where('user_id', '=', 'alice').executeTakeFirstOrThrow();
    assert.match(String(row.secret), /^kw1:/);
    assert.ok(!String(row.secret).includes(seed));
    assert.equal((await dir.getTotp('alice'))!.secret, seed);
    // Copy alice's sealed seed to bob: it does not open under bob's context.
    await t.kw.store.kysely.insertInto('idp_mfa').values({ realm: 'r1', user_id: 'bob', kind: 'totp', secret: row.secret, confirmed: 1, last_step: null, created_at: Date.now() }).execute();
    await assert.rejects(dir.getTotp('bob'), (e: { code?: string }) => e.code === 'crypto.decrypt_failed');
    t.kw.seal.seal();
    await assert.rejects(dir.getTotp('alice'), (e: { code?: string }) => e.code === 'system.sealed');
  });
});
