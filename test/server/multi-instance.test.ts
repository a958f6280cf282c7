// Production shape: two stateless instances on one PostgreSQL database. Keys made on one are usable on the other,
// state changes propagate within the cache TTL, and each instance keeps its own verifiable audit chain.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readAuditPaths, verifyAuditLog } from '../../src/audit/index.ts';
import { publicKeyFromPem } from '../../src/audit/keys.ts';
import { pgTestSchema } from '../support/pg.ts';
import { startKeyward } from '../support/keyward.ts';
import { req } from '../support/http.ts';
import { readFileSync } from 'node:fs';

test('two instances on one PostgreSQL database', { timeout: 60_000 }, async (t) => {
  const pg = await pgTestSchema(t, 'multi-instance tests');
  if (!pg) return;
  const storage = { type: 'postgres', url: pg.url, schema: pg.schema };
  const a = await startKeyward({ config: { storage, server: { instance_id: 'kw-a' }, keys: { cache_ttl: '0s' } } });
  // B shares the database (and so the seal); it is unsealed with the same shares.
  const b = await startKeyward({ unseal: false, config: { storage, server: { instance_id: 'kw-b' }, keys: { cache_ttl: '0s' } } });
  try {
    // B finds the seal A initialised in the shared database and is unsealed with the same share.
    assert.equal(b.kw.seal.status().initialized, true);
    assert.equal(b.kw.seal.status().sealed, true);
    await b.kw.seal.submitShare(a.share!);

    const onA = await req(a.kw.app, { method: 'POST', url: '/v1/keys', headers: a.auth, payload: { key_id: 'shared', key_type: 'EC-P256' } });
    assert.equal(onA.status, 201);
    const sigOnB = await req(b.kw.app, { method: 'POST', url: '/v1/keys/shared/sign', headers: b.auth, payload: { message: 'aGk=' } });
    assert.equal(sigOnB.status, 200, JSON.stringify(sigOnB.body));
    const verifiedOnA = await req(a.kw.app, { method: 'POST', url: '/v1/keys/shared/verify', headers: a.auth, payload: { message: 'aGk=', signature: sigOnB.body.signature } });
    assert.equal(verifiedOnA.body.valid, true);
    await req(a.kw.app, { method: 'POST', url: '/v1/keys/shared/disable', headers: a.auth });
    assert.equal((await req(b.kw.app, { method: 'POST', url: '/v1/keys/shared/sign', headers: b.auth, payload: { message: 'aGk=' } })).body.code, 'key.disabled');

    // Each instance has its own chain, and each verifies on its own.
    assert.notEqual(a.kw.audit.head().chain_id, b.kw.audit.head().chain_id);
    await a.kw.audit.flush();
    await b.kw.audit.flush();
    for (const inst of [a, b]) {
      const pub = publicKeyFromPem(readFileSync(join(inst.dir, 'audit-signing-key.pem')));
      const { sources, checkpoints } = await readAuditPaths([join(inst.dir, 'audit')]);
      const result = verifyAuditLog(sources, { publicKey: pub, checkpoints });
      assert.equal(result.ok, true, JSON.stringify(result).slice(0, 500));
    }
  } finally {
    await b.close();
    await a.close();
    await pg.cleanup();
  }
});
