// Rotating a realm's signing key without breaking relying parties that cache the JWKS: the new version is published
// in certs a configured time before it signs, the old one signs meanwhile and stays published until what it signed
// has expired. openid-client (ID token signatures checked, JWKS cache warm) is the relying party; time is moved
// with the server's clock, and the lead time is longer than the test, so nothing waits for it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeProtectedHeader, decodeJwt, createLocalJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { fingerprint } from '../../src/authn/index.ts';
import { versionSchedule } from '../../src/idp/key-service-signer.ts';
import { applyRealmFile, parseRealmFile } from '../../src/idp/realm-file.ts';
import { migrateIdp } from '../../src/idp/store/migrations.ts';
import type { KeyVersionRecord } from '../../src/store/types.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { Agent, formAction, hidden } from '../../harness/browser.ts';
import { freePort, REALM_YAML, SECRETS } from './support/env.ts';
import { idpRepositories } from '../../src/idp/store/repositories.ts';
import { idpSettings } from '../../src/idp/config.ts';

const ROTATOR = 'rotator-api-key-0123456789abcdef0123456789';
const HOUR = 3600;

/** Real time plus an offset the test moves. */
class ShiftedClock {
  offsetMs = 0;
  now() {
    return new Date(Date.now() + this.offsetMs);
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function startServer(publishAheadSeconds: number, clock: ShiftedClock) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const t = await startKeyward({
    clock,
    env: { ROTATOR_HASH: fingerprint(ROTATOR) },
    config: {
      server: { port },
      authn: {
        type: 'api_key',
        keys: [
          { id: 'test-admin', hash_env: 'KEYWARD_TEST_ADMIN_KEY_HASH', scopes: ['keyward.*'] },
          { id: 'rotator', hash_env: 'ROTATOR_HASH', scopes: ['keyward.system.rotate_system_keys'] },
        ],
      },
      idp: {
        enabled: true,
        base_url: base,
        argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 },
        signing_key_publish_ahead_seconds: publishAheadSeconds,
        signing_key_refresh_seconds: 1,
        realms: [{ name: 'main', access_token_resource: 'https://keyward.test/api', custom_scopes: [{ name: 'keys.sign' }] }],
      },
    },
  });
  await t.kw.app.listen({ host: '127.0.0.1', port });
  await migrateIdp(t.kw.store.kysely, t.kw.store.dialect);
  await applyRealmFile(idpRepositories(t.kw.store.kysely, t.kw.store.dialect), idpSettings(t.kw.config.idp)!.realms[0]!, parseRealmFile(REALM_YAML.replaceAll('http://127.0.0.1:1/', `${base}/rp/`)), { dryRun: false, env: { ...SECRETS }, argon2: idpSettings(t.kw.config.idp)!.argon2 });
  const issuer = `${base}/realms/main`;
  // The relying party checks ID token signatures against its cached JWKS, as a careful application does.
  const relyingParty = async () => {
    const c = await oidc.discovery(new URL(issuer), 'web', undefined, oidc.ClientSecretBasic(SECRETS.WEB_SECRET), { execute: [oidc.allowInsecureRequests] });
    oidc.enableNonRepudiationChecks(c);
    return c;
  };
  const rp = await relyingParty();
  const certs = async () => ((await (await fetch(`${issuer}/protocol/openid-connect/certs`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
  const esKid = async (version: number) => {
    const v = (await t.kw.keys.describe('keyward-idp-main-es256')).versions.find((x) => x.version === version)!;
    return `${v.fingerprint}:v${v.version}`;
  };
  /** Signs alice in through the login form; the code exchange verifies the ID token with the RP's cached keys. */
  const login = async (client = rp) => {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(client, { redirect_uri: `${base}/rp/cb`, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const agent = new Agent();
    const { res } = await agent.follow(url.href, base);
    const page = await res.text();
    const post = await agent.post(new URL(formAction(page), base).href, { csrf: hidden(page, 'csrf'), username: 'alice', password: SECRETS.ALICE_PW });
    const { url: back } = await agent.follow(new URL(post.headers.get('location')!, base).href, base);
    return oidc.authorizationCodeGrant(client, new URL(back), { pkceCodeVerifier: verifier });
  };
  const rotate = async () => {
    const r = await fetch(`${base}/v1/keys/keyward-idp-main-es256/rotate`, { method: 'POST', headers: { 'x-api-key': ROTATOR } });
    assert.equal(r.status, 200, await r.clone().text());
  };
  return { t, base, issuer, rp, relyingParty, certs, esKid, login, rotate };
}

describe('signing key rotation that relying parties survive', () => {
  const clock = new ShiftedClock();
  let s: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    s = await startServer(HOUR, clock);
  });
  after(async () => s?.t.close());

  let v1: string;
  let v2: string;
  let signedByV1: oidc.TokenEndpointResponse;

  test('after a rotation the new key is published at once, but the old one keeps signing: a warm JWKS cache still verifies', async () => {
    const first = await s.login();
    v1 = await s.esKid(1);
    assert.equal(decodeProtectedHeader(first.id_token!).kid, v1);
    const warm = oidc.getJwksCache(s.rp)!;
    assert.ok(warm.uat && warm.jwks.keys.some((k) => k.kid === v1), 'the relying party has cached the JWKS');

    await s.rotate();
    v2 = await s.esKid(2);
    await until('the next key in certs', async () => ((await s.certs()).includes(v2) ? true : undefined));
    // Within the minute in which openid-client would not re-fetch for an unknown kid: the login verifies, because
    // the ID token is still signed by the key the cache holds.
    assert.ok(Date.now() / 1000 - oidc.getJwksCache(s.rp)!.uat < 60);
    signedByV1 = await s.login();
    assert.equal(decodeProtectedHeader(signedByV1.id_token!).kid, v1);
    assert.equal(decodeProtectedHeader(signedByV1.access_token).kid, v1);
  });

  test('break-glass tokens, signed by the key service directly, also wait for the new key\'s turn', async () => {
    const r = await fetch(`${s.base}/v1/idp/break-glass`, {
      method: 'POST',
      headers: { ...s.t.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ incident_id: 'INC-7', authorized_by: 'alice', reason: 'rotation drill' }),
    });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(decodeProtectedHeader(((await r.json()) as { access_token: string }).access_token).kid, v1);
  });

  test('when the lead time has passed the new key signs; relying parties that refreshed their JWKS meanwhile verify it', async () => {
    // Within the lead time the relying party re-fetched the JWKS (openid-client keeps one 5 minutes at most): a
    // relying party whose cache, warm and fresh, holds what certs published during the lead time.
    const rp = await s.relyingParty();
    oidc.setJwksCache(rp, { jwks: (await (await fetch(`${s.issuer}/protocol/openid-connect/certs`)).json()) as any, uat: Math.floor(Date.now() / 1000) });
    clock.offsetMs += (HOUR + 1) * 1000;
    const next = await until('the new key to sign', async () => {
      const t = await s.login(rp);
      return decodeProtectedHeader(t.id_token!).kid === v2 ? t : undefined;
    });
    assert.equal(decodeProtectedHeader(next.access_token).kid, v2);
    // The old key stays published for what it signed.
    const kids = await s.certs();
    assert.ok(kids.includes(v1) && kids.includes(v2));
    const jwks = createLocalJWKSet((await (await fetch(`${s.issuer}/protocol/openid-connect/certs`)).json()) as any);
    await jwtVerify(signedByV1.access_token, jwks, { currentDate: new Date((decodeJwt(signedByV1.access_token).iat! + 1) * 1000) });
  });

  test('once what the old key signed has expired, it leaves certs', async () => {
    // The longest lifetime here is the session's (8 h): logout still verifies ID tokens given as hints until then.
    clock.offsetMs += 9 * HOUR * 1000;
    await until('the old key to leave certs', async () => ((await s.certs()).includes(v1) ? undefined : true));
    assert.ok((await s.certs()).includes(v2));
  });
});

describe('without a lead time (the failure the lead time prevents)', () => {
  test('a relying party with a warm JWKS cache fails every login right after a rotation', async () => {
    const s = await startServer(0, new ShiftedClock());
    try {
      await s.login();
      await s.rotate();
      const v2 = await s.esKid(2);
      await until('the new key in certs', async () => ((await s.certs()).includes(v2) ? true : undefined));
      await assert.rejects(s.login(), (e: any) => e.code === 'OAUTH_KEY_SELECTION_FAILED');
    } finally {
      await s.t.close();
    }
  });
});

describe('version schedule', () => {
  const v = (version: number, createdAtS: number, destroyed = false): KeyVersionRecord => ({
    keyId: 'k',
    version,
    publicKeySpki: Buffer.alloc(1),
    fingerprint: `f${version}`,
    sealedMaterial: destroyed ? null : Buffer.alloc(1),
    providerRef: null,
    createdAt: new Date(createdAtS * 1000),
    destroyedAt: destroyed ? new Date(createdAtS * 1000) : null,
  });
  const at = (versions: KeyVersionRecord[], nowS: number) => {
    const s = versionSchedule(versions, nowS * 1000, 600_000, 3_600_000)!;
    return { signing: s.signing.version, published: s.published.map((x) => x.version) };
  };
  test('a first version signs at once; a rotated one after the lead time; old ones until retained long enough', () => {
    assert.deepEqual(at([v(1, 0)], 0), { signing: 1, published: [1] });
    assert.deepEqual(at([v(1, 0), v(2, 100)], 100), { signing: 1, published: [2, 1] });
    assert.deepEqual(at([v(1, 0), v(2, 100)], 699), { signing: 1, published: [2, 1] });
    assert.deepEqual(at([v(1, 0), v(2, 100)], 700), { signing: 2, published: [2, 1] });
    assert.deepEqual(at([v(1, 0), v(2, 100)], 700 + 3599), { signing: 2, published: [2, 1] });
    assert.deepEqual(at([v(1, 0), v(2, 100)], 700 + 3600), { signing: 2, published: [2] });
    // Two rotations in a row: each version takes its turn in order.
    assert.deepEqual(at([v(1, 0), v(2, 100), v(3, 200)], 750), { signing: 2, published: [3, 2, 1] });
    assert.deepEqual(at([v(1, 0), v(2, 100), v(3, 200)], 800), { signing: 3, published: [3, 2, 1] });
    // A destroyed version is never published.
    assert.deepEqual(at([v(1, 0, true), v(2, 100)], 100), { signing: 2, published: [2] });
  });
});

describe('choosing the version to sign with', () => {
  let t: TestKeyward;
  before(async () => {
    t = await startKeyward();
  });
  after(async () => t?.close());
  test('only Keyward\'s components may, and the audit trail records the version used', async () => {
    const ctx = { principal: null, requestId: 'r-1' };
    await t.kw.keys.create(ctx, { id: 'demo', type: 'EC-P256' });
    await t.kw.keys.rotate(ctx, 'demo');
    await assert.rejects(t.kw.keys.sign(ctx, 'demo', { message: Buffer.from('x'), version: 1 }), (e: any) => e.code === 'key.version_not_selectable');
    const r = await t.kw.keys.sign({ ...ctx, component: 'identity-provider' }, 'demo', { message: Buffer.from('x'), version: 1 });
    assert.equal(r.version, 1);
    assert.equal((await t.kw.keys.verify(ctx, 'demo', { message: Buffer.from('x'), signature: r.signature, version: 1 })).valid, true);
    assert.equal((await t.kw.keys.sign(ctx, 'demo', { message: Buffer.from('x') })).version, 2, 'everyone else signs with the newest');
    await t.kw.audit.flush();
    const signed = t.auditLines.map((l) => JSON.parse(l)).filter((e) => e.event_type === 'key.sign' && e.resource?.id === 'demo' && e.outcome === 'success');
    assert.deepEqual(signed.map((e) => e.resource.version), [1, 2]);
  });
});
