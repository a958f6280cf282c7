import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authnConfigSchema } from '../../src/authn/config.ts';
import { authenticateRequest, createAuthenticator } from '../../src/authn/index.ts';
import { fingerprint } from '../../src/authn/fingerprint.ts';
import { run as apikeyCli } from '../../src/cli/commands/apikey.ts';
import { EXIT } from '../../src/cli/io.ts';
import { movableClock, rejectsWith, testLogger } from './helpers.ts';

const K1 = 'raw-key-one-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const K2 = 'raw-key-two-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
const cfg = authnConfigSchema.parse({
  type: 'api_key',
  keys: [
    { id: 'one', hash_env: 'K1_HASH', scopes: ['keyward.key.a.sign'] },
    { id: 'two', hash_env: 'K2_HASH', scopes: ['keyward.keys.list'] },
  ],
});
const deps = (env: NodeJS.ProcessEnv) => ({ env, ...testLogger(), clock: movableClock(), mode: 'production' as const });
const r = (headers: Record<string, string>) => ({ headers, sourceIp: '10.0.0.1' });

test('keys via Authorization: Bearer and X-Api-Key; Authorization wins when both are present', async () => {
  const d = deps({ K1_HASH: fingerprint(K1), K2_HASH: fingerprint(K2) });
  const a = await createAuthenticator(cfg, d);
  const p = await a.authenticate(r({ 'x-api-key': K1 }));
  assert.deepEqual([p?.id, p?.type, p?.authMethod, p?.permissions], ['one', 'service', 'api_key', ['keyward.key.a.sign']]);
  assert.equal((await a.authenticate(r({ authorization: `Bearer ${K2}` })))?.id, 'two');
  assert.equal((await a.authenticate(r({ authorization: `Bearer ${K2}`, 'x-api-key': K1 })))?.id, 'two');
  await rejectsWith(a.authenticate(r({ authorization: 'Bearer wrong', 'x-api-key': K1 })), 'auth.invalid_credential', 401);
  const e = await rejectsWith(a.authenticate(r({ 'x-api-key': 'wrong' })), 'auth.invalid_credential');
  assert.ok(!JSON.stringify(e).includes('one') && !JSON.stringify(e).includes('two'));
  await rejectsWith(authenticateRequest(a, r({})), 'auth.missing_credential', 401);
  // raw keys never reach the logs
  assert.ok(d.lines.every((l) => !l.includes(K1) && !l.includes(K2)));
});

test('a missing or malformed hash variable fails startup naming the variable', async () => {
  await assert.rejects(createAuthenticator(cfg, deps({ K1_HASH: fingerprint(K1) })), /K2_HASH/);
  await assert.rejects(createAuthenticator(cfg, deps({ K1_HASH: fingerprint(K1), K2_HASH: 'sha256:' + 'A'.repeat(64) })), /K2_HASH/);
  await assert.rejects(createAuthenticator(cfg, deps({ K1_HASH: fingerprint(K1), K2_HASH: K2 })), /K2_HASH.*sha256/);
});

test('live reload swaps the keyring; in-flight requests keep theirs; a bad reload keeps the old one', async () => {
  const env: NodeJS.ProcessEnv = { K1_HASH: fingerprint(K1), K2_HASH: fingerprint(K2) };
  const a = await createAuthenticator(cfg, deps(env));
  const NEW = 'rotated-key-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC';
  env['K1_HASH'] = fingerprint(NEW);
  const inflight = a.authenticate(r({ 'x-api-key': K1 }));
  await a.reload!();
  assert.equal((await inflight)?.id, 'one');
  assert.equal((await a.authenticate(r({ 'x-api-key': NEW })))?.id, 'one');
  await rejectsWith(a.authenticate(r({ 'x-api-key': K1 })), 'auth.invalid_credential');
  env['K2_HASH'] = 'garbage';
  await assert.rejects(a.reload!(), /K2_HASH/);
  assert.equal((await a.authenticate(r({ 'x-api-key': K2 })))?.id, 'two');
});

test('keyward apikey generate prints a key whose fingerprint the authenticator accepts', async () => {
  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), env: {} };
  assert.equal(await apikeyCli(['generate', '--id', 'ci-bot', '--scope', 'keyward.keys.list', '--json'], io), EXIT.ok);
  const g = JSON.parse(out[0]!) as { key: string; fingerprint: string; hash_env: string };
  assert.match(g.key, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(g.fingerprint, fingerprint(g.key));
  const a = await createAuthenticator(
    authnConfigSchema.parse({ type: 'api_key', keys: [{ id: 'ci-bot', hash_env: g.hash_env, scopes: ['keyward.keys.list'] }] }),
    deps({ [g.hash_env]: g.fingerprint }),
  );
  assert.equal((await a.authenticate(r({ authorization: `Bearer ${g.key}` })))?.id, 'ci-bot');
  out.length = 0;
  assert.equal(await apikeyCli(['generate', '--id', 'x'], io), EXIT.ok);
  assert.ok(out.some((l) => l.includes('fingerprint:  sha256:')));
  assert.equal(await apikeyCli(['generate'], io), EXIT.usage);
  assert.equal(await apikeyCli(['frobnicate', '--id', 'x'], io), EXIT.usage);
});
