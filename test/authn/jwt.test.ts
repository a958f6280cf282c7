import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import { authnConfigSchema } from '../../src/authn/config.ts';
import { createAuthenticator } from '../../src/authn/index.ts';
import type { Authenticator, AuthnRequest } from '../../src/authn/types.ts';
import { evaluate } from '../../src/authz/permissions.ts';
import { b64url, movableClock, rejectsWith, startIdp, testLogger, type Idp } from './helpers.ts';

let idp: Idp;
const clock = movableClock(new Date());
const now = () => Math.floor(clock.now().getTime() / 1000);
const open: Authenticator[] = [];

before(async () => {
  idp = await startIdp();
  await idp.addKey('k1', 'RS256');
  await idp.addKey('ec1', 'ES256');
  await idp.addKey('ed1', 'EdDSA');
});
after(async () => {
  for (const a of open) await a.close?.();
  await idp.close();
});

async function make(extra: Record<string, unknown> = {}, useDiscovery = false) {
  const cfg = authnConfigSchema.parse({
    type: 'jwt',
    issuer: idp.issuer,
    audience: ['keyward', 'other'],
    ...(useDiscovery ? { discovery_url: idp.discoveryUrl } : { jwks_url: idp.jwksUrl }),
    jwks_min_refresh_interval: '10s',
    ...extra,
  });
  const { logger, lines } = testLogger();
  const a = await createAuthenticator(cfg, { env: {}, logger, clock, mode: 'production' });
  open.push(a);
  return { a, lines };
}

const req = (token: string): AuthnRequest => ({ headers: { authorization: `Bearer ${token}` }, sourceIp: '127.0.0.1' });
const claims = (c: Record<string, unknown> = {}) => ({ iss: idp.issuer, aud: 'keyward', sub: 'alice', iat: now(), exp: now() + 300, ...c });

test('valid RS256, ES256 and EdDSA tokens via discovery; principal from sub, permissions and scopes', async () => {
  const { a } = await make({}, true);
  const t = await idp.sign(claims({ permissions: ['keyward.key.k1.sign'], scope: 'keyward.keys.list openid', groups: ['ops'], amr: ['pwd', 'otp'], azp: 'web' }));
  const p = await a.authenticate(req(t));
  assert.equal(p?.id, 'alice');
  assert.equal(p?.type, 'user');
  assert.equal(p?.authMethod, 'jwt');
  assert.deepEqual([...p!.permissions].sort(), ['keyward.key.k1.sign', 'keyward.keys.list', 'openid']);
  assert.deepEqual(p?.attributes['groups'], ['ops']);
  assert.equal(p?.attributes['mfa'], true);
  assert.equal(p?.attributes['client_id'], 'web');
  for (const kid of ['ec1', 'ed1']) assert.equal((await a.authenticate(req(await idp.sign(claims(), { kid }))))?.id, 'alice');
  // typ JWT accepted too; repeated tokens come from the cache
  const t2 = await idp.sign(claims(), { typ: 'JWT' });
  assert.equal(await a.authenticate(req(t2)), await a.authenticate(req(t2)));
});

test('principal id falls back to client_id then azp; those are services', async () => {
  const { a } = await make();
  const p1 = await a.authenticate(req(await idp.sign(claims({ sub: undefined, client_id: 'svc-a' }))));
  assert.deepEqual([p1?.id, p1?.type], ['svc-a', 'service']);
  const p2 = await a.authenticate(req(await idp.sign(claims({ sub: undefined, azp: 'svc-b' }))));
  assert.deepEqual([p2?.id, p2?.type], ['svc-b', 'service']);
  await rejectsWith(a.authenticate(req(await idp.sign(claims({ sub: undefined })))), 'auth.invalid_credential');
});

test('startup: discovery failure names the URL; both or neither URL is refused', async () => {
  const bad = 'http://127.0.0.1:1/.well-known/openid-configuration';
  const cfg = authnConfigSchema.parse({ type: 'jwt', issuer: 'x', audience: 'keyward', discovery_url: bad });
  await assert.rejects(createAuthenticator(cfg, { env: {}, logger: testLogger().logger, clock, mode: 'dev' }), (e: Error) => e.message.includes(bad));
  assert.equal(authnConfigSchema.safeParse({ type: 'jwt', issuer: 'x', audience: 'a' }).success, false);
  assert.equal(authnConfigSchema.safeParse({ type: 'jwt', issuer: 'x', audience: 'a', jwks_url: idp.jwksUrl, discovery_url: idp.discoveryUrl }).success, false);
  assert.equal(authnConfigSchema.safeParse({ type: 'jwt', issuer: 'x', audience: 'a', jwks_url: idp.jwksUrl, algorithms: ['HS256'] }).success, false);
  assert.equal(authnConfigSchema.safeParse({ type: 'jwt', issuer: 'x', audience: 'a', jwks_url: idp.jwksUrl, algorithms: ['none'] }).success, false);
  assert.equal(authnConfigSchema.safeParse({ type: 'jwt', issuer: 'x', audience: 'a', jwks_url: idp.jwksUrl, leeway: '6m' }).success, false);
  assert.equal(authnConfigSchema.safeParse({ type: 'jwt', issuer: 'x', audience: 'a', jwks_url: idp.jwksUrl, bogus: 1 }).success, false);
});

test('key rotation at the IdP: a new kid triggers one refresh; unknown kids are rate-limited', async () => {
  const { a } = await make();
  await idp.addKey('k2', 'PS256');
  const hits = idp.jwksHits;
  const p = await a.authenticate(req(await idp.sign(claims(), { kid: 'k2' })));
  assert.equal(p?.id, 'alice');
  assert.equal(idp.jwksHits, hits + 1);
  // two unknown kids in a row: the first refresh is within the min interval, so no further fetch
  const forged = `${b64url({ alg: 'RS256', kid: 'nope', typ: 'JWT' })}.${b64url(claims())}.AAAA`;
  const e = await rejectsWith(a.authenticate(req(forged)), 'auth.kid_unknown', 401);
  assert.match((e['headers'] as Record<string, string>)['www-authenticate']!, /^Bearer realm="keyward", error="invalid_token"/);
  await rejectsWith(a.authenticate(req(forged.replace('nope', 'nope2'))), 'auth.kid_unknown');
  assert.equal(idp.jwksHits, hits + 1);
  // after the interval one more fetch is allowed
  clock.advance(11_000);
  await rejectsWith(a.authenticate(req(forged)), 'auth.kid_unknown');
  assert.equal(idp.jwksHits, hits + 2);
  // a key removed at the IdP stops verifying once the cached JWKS goes stale (jwks_cache_ttl)
  idp.removeKey('k2');
  assert.ok(await a.authenticate(req(await idp.sign(claims({ jti: 'y' }), { kid: 'k2' }))));
  clock.advance(601_000);
  await rejectsWith(a.authenticate(req(await idp.sign(claims({ jti: 'x' }), { kid: 'k2' }))), 'auth.kid_unknown');
});

test('JWKS down: 503 auth.jwks_unavailable; once up, tokens verify', async () => {
  idp.state = 'error';
  try {
    const { a, lines } = await make();
    const t = await idp.sign(claims());
    await rejectsWith(a.authenticate(req(t)), 'auth.jwks_unavailable', 503);
    assert.ok(lines.some((l) => l.includes('JWKS fetch failed')));
    idp.state = 'up';
    clock.advance(11_000);
    assert.equal((await a.authenticate(req(t)))?.id, 'alice');
  } finally {
    idp.state = 'up';
  }
});

test('JWKS down after a good fetch: the last keys serve for jwks_max_stale past the TTL, then every token is 503', async () => {
  const { a } = await make({ jwks_cache_ttl: '60s', jwks_max_stale: '60s' });
  const cached = await idp.sign(claims({ jti: 'cached', exp: now() + 3600 }));
  assert.equal((await a.authenticate(req(cached)))?.id, 'alice');
  idp.state = 'error';
  try {
    clock.advance(90_000); // past the TTL, within max stale: refresh fails, the keys we have still verify
    assert.equal((await a.authenticate(req(await idp.sign(claims({ jti: 'fresh-1', exp: now() + 3600 })))))?.id, 'alice');
    // An unknown kid cannot be told from a new key while the IdP is down: unavailable, not unknown.
    clock.advance(11_000);
    const forged = `${b64url({ alg: 'RS256', kid: 'brand-new', typ: 'JWT' })}.${b64url(claims())}.AAAA`;
    await rejectsWith(a.authenticate(req(forged)), 'auth.jwks_unavailable', 503);
    clock.advance(60_000); // now past TTL + max stale
    await rejectsWith(a.authenticate(req(await idp.sign(claims({ jti: 'fresh-2', exp: now() + 3600 })))), 'auth.jwks_unavailable', 503);
    await rejectsWith(a.authenticate(req(cached)), 'auth.jwks_unavailable', 503);
    idp.state = 'up';
    clock.advance(11_000);
    assert.equal((await a.authenticate(req(cached)))?.id, 'alice', 'verifies again once the IdP answers');
  } finally {
    idp.state = 'up';
  }
});

test('algorithm confusion, alg none, HS*, and algorithms outside the allow-list are refused', async () => {
  const { a } = await make({ algorithms: ['RS256', 'ES256', 'EdDSA'] });
  const pem = createPublicKey({ key: idp.publicJwk('k1') as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  const h = b64url({ alg: 'HS256', kid: 'k1', typ: 'JWT' });
  const body = b64url(claims());
  const sig = createHmac('sha256', pem).update(`${h}.${body}`).digest('base64url');
  await rejectsWith(a.authenticate(req(`${h}.${body}.${sig}`)), 'auth.algorithm_not_allowed', 401);
  await rejectsWith(a.authenticate(req(`${b64url({ alg: 'none', typ: 'JWT' })}.${body}.`)), 'auth.algorithm_not_allowed');
  await rejectsWith(a.authenticate(req(`${b64url({ alg: 'NONE', kid: 'k1', typ: 'JWT' })}.${body}.`)), 'auth.algorithm_not_allowed');
  await rejectsWith(a.authenticate(req(`${b64url({ alg: 'HS512', kid: 'k1', typ: 'JWT' })}.${body}.abc`)), 'auth.algorithm_not_allowed');
  await idp.addKey('ps', 'PS256');
  await rejectsWith(a.authenticate(req(await idp.sign(claims(), { kid: 'ps' }))), 'auth.algorithm_not_allowed');
  // an RS256 header over an ES256 key
  await rejectsWith(a.authenticate(req(`${b64url({ alg: 'RS256', kid: 'ec1', typ: 'JWT' })}.${body}.abc`)), 'auth.algorithm_not_allowed');
});

test('expired, not yet valid, leeway, wrong iss/aud, bad signature, token types, required claims', async () => {
  const { a } = await make({ leeway: '30s', required_claims: ['jti'] });
  const ok = (c: Record<string, unknown>, o?: Parameters<Idp['sign']>[1]) => idp.sign(claims({ jti: 'j', ...c }), o);
  await rejectsWith(a.authenticate(req(await ok({ exp: now() - 31 }))), 'auth.token_expired', 401);
  assert.equal((await a.authenticate(req(await ok({ exp: now() - 10 }))))?.id, 'alice');
  await rejectsWith(a.authenticate(req(await ok({ nbf: now() + 60 }))), 'auth.token_not_yet_valid', 401);
  await rejectsWith(a.authenticate(req(await ok({ iss: idp.issuer + '/' }))), 'auth.issuer_mismatch', 401);
  await rejectsWith(a.authenticate(req(await ok({ aud: 'someone-else' }))), 'auth.audience_mismatch', 401);
  assert.equal((await a.authenticate(req(await ok({ aud: ['x', 'other'] }))))?.id, 'alice');
  await rejectsWith(a.authenticate(req(await ok({ exp: undefined }))), 'auth.invalid_credential');
  await rejectsWith(a.authenticate(req(await idp.sign(claims()))), 'auth.invalid_credential'); // no jti
  await rejectsWith(a.authenticate(req(await ok({}, { typ: 'id+jwt' }))), 'auth.invalid_credential');
  await rejectsWith(a.authenticate(req(await ok({}, { typ: null }))), 'auth.invalid_credential');
  const t = await ok({});
  const [h, , s] = t.split('.');
  await rejectsWith(a.authenticate(req(`${h}.${b64url(claims({ jti: 'j', sub: 'mallory' }))}.${s}`)), 'auth.token_signature_invalid', 401);
  // a cached token still expires
  const short = await ok({ exp: now() + 5 });
  assert.ok(await a.authenticate(req(short)));
  clock.advance(40_000);
  await rejectsWith(a.authenticate(req(short)), 'auth.token_expired');
});

test('oversized and garbage tokens are malformed', async () => {
  const { a } = await make();
  await rejectsWith(a.authenticate(req('a'.repeat(20_000) + '.b.c')), 'auth.malformed_credential', 401);
  await rejectsWith(a.authenticate(req('not.a.jwt')), 'auth.malformed_credential');
  await rejectsWith(a.authenticate(req('%%%.###.!!!')), 'auth.malformed_credential');
  await rejectsWith(a.authenticate(req('garbage')), 'auth.malformed_credential');
  await rejectsWith(a.authenticate({ headers: { authorization: 'Bearer ' }, sourceIp: '1.2.3.4' }), 'auth.malformed_credential');
  await rejectsWith(a.authenticate({ headers: { authorization: 'Basic dXNlcjpwdw==' }, sourceIp: '1.2.3.4' }), 'auth.malformed_credential');
  assert.equal(await a.authenticate({ headers: {}, sourceIp: '1.2.3.4' }), undefined);
});

test('allowed_clients: azp then client_id; others get 403 auth.client_not_allowed', async () => {
  const { a } = await make({ allowed_clients: ['cli-1'] });
  assert.ok(await a.authenticate(req(await idp.sign(claims({ azp: 'cli-1' })))));
  assert.ok(await a.authenticate(req(await idp.sign(claims({ client_id: 'cli-1' })))));
  await rejectsWith(a.authenticate(req(await idp.sign(claims({ azp: 'cli-2', client_id: 'cli-1' })))), 'auth.client_not_allowed', 403);
  await rejectsWith(a.authenticate(req(await idp.sign(claims()))), 'auth.client_not_allowed', 403);
});

test('every scope-claim form, a custom claim name and scope_map', async () => {
  const scope_map = { 'role:signer': 'keyward.key.*.sign', 'role:admin': ['keyward.system.*', 'keyward.keys.list'] };
  const { a } = await make({ scope_claim: 'scp', scope_map });
  const perms = async (scp: unknown) => [...(await a.authenticate(req(await idp.sign(claims({ scp })))))!.permissions].sort();
  assert.deepEqual(await perms('role:signer keyward.audit.read'), ['keyward.audit.read', 'keyward.key.*.sign']);
  assert.deepEqual(await perms(['role:admin']), ['keyward.keys.list', 'keyward.system.*']);
  assert.deepEqual(await perms({ 'role:signer': { id: 1 }, 'role:admin': {} }), ['keyward.key.*.sign', 'keyward.keys.list', 'keyward.system.*']);
  assert.deepEqual(await perms(42), []);
});

test('TKeeper-style tokens work unchanged with prefix tkeeper', async () => {
  const { a } = await make();
  const t = await idp.sign(claims({ permissions: ['tkeeper.key.my-key-id.sign', 'tkeeper.system.*', 'tkeeper.dkg.generate', 'tkeeper.storage.delete'] }), { typ: 'JWT' });
  const p = (await a.authenticate(req(t)))!;
  assert.equal(evaluate(p.permissions, 'tkeeper.key.my-key-id.sign').allowed, true);
  assert.equal(evaluate(p.permissions, 'tkeeper.key.another.sign').allowed, false);
  assert.equal(evaluate(p.permissions, 'tkeeper.system.unseal').allowed, true);
  assert.equal(evaluate(p.permissions, 'tkeeper.key.new-key.create').allowed, true);
  assert.equal(evaluate(p.permissions, 'tkeeper.key.new-key.overwrite').allowed, false);
  assert.equal(evaluate(p.permissions, 'tkeeper.key.old.destroy').allowed, true);
});

test('jwks_fetch_at_start: false fetches nothing at start; the first token fetches the keys', async () => {
  const before = idp.jwksHits;
  const { a } = await make({ jwks_fetch_at_start: false });
  assert.equal(idp.jwksHits, before, 'no fetch at start');
  assert.equal((await a.authenticate(req(await idp.sign(claims()))))?.id, 'alice');
  assert.equal(idp.jwksHits, before + 1);
  await make();
  assert.equal(idp.jwksHits, before + 2, 'the default fetches at start');
});
