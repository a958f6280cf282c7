// `idp: { enabled: false }` on its own switches the identity provider off, dev mode's default one included.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startKeyward } from '../support/keyward.ts';

const DISCOVERY = '/realms/keyward/.well-known/openid-configuration';

test('dev mode serves its realm by default, and no /realms routes with idp: { enabled: false }', { timeout: 60_000 }, async () => {
  const on = await startKeyward({ config: { mode: 'dev' } });
  try {
    assert.equal((await on.get(DISCOVERY)).status, 200);
    assert.ok(on.kw.devClient);
    assert.ok(on.kw.app.printRoutes({ commonPrefix: false }).includes('realms'));
  } finally {
    await on.close();
  }
  const off = await startKeyward({ config: { mode: 'dev', idp: { enabled: false } } });
  try {
    assert.equal(off.kw.config.idp?.enabled, false);
    assert.equal((await off.get(DISCOVERY)).status, 404);
    assert.equal(off.kw.devClient, undefined);
    assert.ok(!off.kw.app.printRoutes({ commonPrefix: false }).includes('realms'), 'a /realms route is mounted');
    // The key API is there as ever.
    assert.equal((await off.get('/v1/keys')).status, 200);
  } finally {
    await off.close();
  }
});
