// The identity provider's keys in the key service: a first boot while sealed (no signing keys yet) serves 503
// until unsealed, then starts without a restart; sealing a running server makes token issuance 503, never a 500
// or a guess; every realm signs with keys of its own.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fingerprint } from '../../src/authn/index.ts';
import { applyRealmFile, parseRealmFile } from '../../src/idp/realm-file.ts';
import { migrateIdp } from '../../src/idp/store/migrations.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { REALM_YAML, SECRETS } from './support/env.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';
import { idpSettings } from '../../src/idp/config.ts';

const ARGON2 = { memory_kib: 8192, iterations: 1, parallelism: 1 };
// An operator credential that names the explicit-only permission; the suite's admin key has only keyward.*.
const ROTATOR = 'rotator-api-key-0123456789abcdef0123456789';

describe('identity provider keys in the key service', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward({
      unseal: false,
      env: { ROTATOR_HASH: fingerprint(ROTATOR) },
      config: {
        authn: {
          type: 'api_key',
          keys: [
            { id: 'test-admin', hash_env: 'KEYWARD_TEST_ADMIN_KEY_HASH', scopes: ['keyward.*'] },
            { id: 'rotator', hash_env: 'ROTATOR_HASH', scopes: ['keyward.system.rotate_system_keys'] },
          ],
        },
        idp: {
          enabled: true,
          base_url: 'http://127.0.0.1:8080',
          argon2: ARGON2,
          realms: [
            { name: 'main', access_token_resource: 'https://keyward.test/api', custom_scopes: [{ name: 'keys.sign' }] },
            { name: 'other', access_token_resource: 'https://keyward.test/api' },
          ],
        },
      },
    });
  });
  after(async () => t?.close());

  const inject = (method: 'GET' | 'POST', url: string, opts: { headers?: Record<string, string>; payload?: string | object } = {}) =>
    t.kw.app.inject({ method, url, ...opts });
  const discovery = () => inject('GET', '/realms/main/.well-known/openid-configuration');
  const clientCredentials = () =>
    inject('POST', '/realms/main/protocol/openid-connect/token', {
      headers: { authorization: 'Basic ' + Buffer.from(`svc:${SECRETS.SVC_SECRET}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=client_credentials&scope=keys.sign',
    });

  test('first boot sealed: 503 temporarily_unavailable on every IdP route, and no signing key was made', async () => {
    for (const res of [await discovery(), await clientCredentials(), await inject('GET', '/realms/main/profile')]) {
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().error, 'temporarily_unavailable');
      assert.ok(res.headers['retry-after']);
    }
    assert.equal(await t.kw.keys.peek('keyward-idp-main-es256'), undefined);
  });

  test('unsealing over the API starts the provider without a restart', async () => {
    const init = await inject('POST', '/v1/sys/init', { headers: t.auth, payload: { shares: 1, threshold: 1 } });
    assert.equal(init.statusCode, 201, init.body);
    const share = (init.json() as { shares: string[] }).shares[0]!;
    const unseal = await inject('POST', '/v1/sys/unseal', { headers: t.auth, payload: { share } });
    assert.equal(unseal.statusCode, 200, unseal.body);
    t.share = share;

    let res = await discovery();
    for (let i = 0; i < 50 && res.statusCode !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      res = await discovery();
    }
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().issuer, 'http://127.0.0.1:8080/realms/main');
    const es = await t.kw.keys.describe('keyward-idp-main-es256');
    const certs = (await inject('GET', '/realms/main/protocol/openid-connect/certs')).json() as { keys: Array<{ kid: string }> };
    assert.ok(certs.keys.some((k) => k.kid.startsWith(es.versions[0]!.fingerprint)), 'the new signing key is published');

    await migrateIdp(t.kw.store.kysely, t.kw.store.dialect);
    await applyRealmFile(idpRepositories(t.kw.store.kysely, t.kw.store.dialect), idpSettings(t.kw.config.idp)!.realms[0]!, parseRealmFile(REALM_YAML), { dryRun: false, env: { ...SECRETS }, argon2: idpSettings(t.kw.config.idp)!.argon2 });
    const token = await clientCredentials();
    assert.equal(token.statusCode, 200, token.body);
  });

  test('sealing a running server: token requests answer 503, discovery still works; unseal restores issuance', async () => {
    assert.equal((await inject('POST', '/v1/sys/seal', { headers: t.auth })).statusCode, 200);
    const sealed = await clientCredentials();
    assert.equal(sealed.statusCode, 503, sealed.body);
    assert.equal(sealed.json().error, 'temporarily_unavailable');
    assert.ok(!sealed.body.includes('server_error'));
    assert.equal((await discovery()).statusCode, 200);

    assert.equal((await inject('POST', '/v1/sys/unseal', { headers: t.auth, payload: { share: t.share } })).statusCode, 200);
    assert.equal((await clientCredentials()).statusCode, 200);
  });

  test('each realm has its own signing keys: certs are disjoint, and one realm\'s rotation leaves the other alone', async () => {
    const certs = async (realm: string) =>
      ((await inject('GET', `/realms/${realm}/protocol/openid-connect/certs`)).json() as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
    const main = await certs('main');
    const other = await certs('other');
    assert.equal(main.length, 2);
    assert.equal(other.length, 2);
    assert.deepEqual(main.filter((k) => other.includes(k)), []);
    // keyward.* does not grant the rotation of Keyward's own keys: only the exact permission does.
    const refused = await inject('POST', '/v1/keys/keyward-idp-main-es256/rotate', { headers: t.auth });
    assert.equal(refused.statusCode, 403, refused.body);
    assert.equal(refused.json().required_permission, 'keyward.system.rotate_system_keys');
    const rotated = await inject('POST', '/v1/keys/keyward-idp-main-es256/rotate', { headers: { 'x-api-key': ROTATOR } });
    assert.equal(rotated.statusCode, 200, rotated.body);
    // The providers are rebuilt right after the rotation commits (asynchronously).
    let now = await certs('main');
    for (let i = 0; i < 40 && now.length !== 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
      now = await certs('main');
    }
    assert.equal(now.length, 3);
    assert.deepEqual(await certs('other'), other);
  });
});
