// The identity provider with its token signing keys in a PKCS#11 token: with keys.default_provider pkcs11 its
// ES256/RS256 keys and its secrets key are made in SoftHSM2, and the tokens it issues verify against its certs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { applyRealmFile, parseRealmFile } from '../../../src/idp/realm-file.ts';
import { migrateIdp } from '../../../src/idp/store/migrations.ts';
import { REALM_YAML, SECRETS } from '../../idp/support/env.ts';
import { startKeyward, type TestKeyward } from '../../support/keyward.ts';
import { pkcs11Provider } from '../../support/providers.ts';
import { type SoftHsm, softHsm } from '../../support/softhsm.ts';
import { idpRepositories } from '../../../src/idp/store/repositories.ts';
import { idpSettings } from '../../../src/idp/config.ts';

describe('identity provider keys in a PKCS#11 token', () => {
  let hsm: SoftHsm | undefined;
  let t: TestKeyward;
  before(async (ctx) => {
    hsm = await softHsm(ctx, 'PKCS#11 identity provider tests');
    if (!hsm) return;
    const tok = await hsm.initToken('keyward-idp');
    const p = pkcs11Provider(hsm, tok);
    t = await startKeyward({
      env: { ...p.env },
      config: {
        keys: { default_provider: 'pkcs11', providers: { pkcs11: p.config } },
        idp: { enabled: true, base_url: 'http://127.0.0.1:8080', argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 }, realms: [{ name: 'main', access_token_resource: 'https://keyward.test/api', custom_scopes: [{ name: 'keys.sign' }] }] },
      },
    });
  });
  after(async () => {
    await t?.close();
    hsm?.cleanup();
  });

  test('the signing keys live in the token; client-credentials tokens verify against the certs', async (c) => {
    if (!hsm) return c.skip('SoftHSM2 not installed');
    const inject = (method: 'GET' | 'POST', url: string, opts: { headers?: Record<string, string>; payload?: string } = {}) => t.kw.app.inject({ method, url, ...opts });
    let discovery = await inject('GET', '/realms/main/.well-known/openid-configuration');
    for (let i = 0; i < 100 && discovery.statusCode !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      discovery = await inject('GET', '/realms/main/.well-known/openid-configuration');
    }
    assert.equal(discovery.statusCode, 200, discovery.body);
    for (const id of ['keyward-idp-main-es256', 'keyward-idp-main-rs256', 'keyward-idp-secrets']) {
      assert.equal((await t.kw.keys.describe(id)).record.provider, 'pkcs11', id);
    }
    await migrateIdp(t.kw.store.kysely, t.kw.store.dialect);
    await applyRealmFile(idpRepositories(t.kw.store.kysely, t.kw.store.dialect), idpSettings(t.kw.config.idp)!.realms[0]!, parseRealmFile(REALM_YAML), { dryRun: false, env: { ...SECRETS }, argon2: idpSettings(t.kw.config.idp)!.argon2 });
    const token = await inject('POST', '/realms/main/protocol/openid-connect/token', {
      headers: { authorization: 'Basic ' + Buffer.from(`svc:${SECRETS.SVC_SECRET}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=client_credentials&scope=keys.sign',
    });
    assert.equal(token.statusCode, 200, token.body);
    const certs = (await inject('GET', '/realms/main/protocol/openid-connect/certs')).json();
    const { protectedHeader } = await jwtVerify(token.json().access_token, createLocalJWKSet(certs));
    assert.equal(protectedHeader.alg, 'ES256');
  });
});
