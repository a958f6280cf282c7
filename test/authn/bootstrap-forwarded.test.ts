import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEventInput, AuditRecorder } from '../../src/audit/types.ts';
import { ProblemError } from '../../src/core/problem.ts';
import { authnConfigSchema } from '../../src/authn/config.ts';
import { createAuthenticator, createBootstrapTokenAuthenticator, generateBootstrapToken } from '../../src/authn/index.ts';
import { req } from '../support/http.ts';
import { startKeyward } from '../support/keyward.ts';
import { movableClock, rejectsWith, testLogger } from './helpers.ts';

function recorder(fail = false): AuditRecorder & { events: AuditEventInput[] } {
  const events: AuditEventInput[] = [];
  return {
    events,
    record: async (e) => {
      if (fail) throw new ProblemError({ code: 'audit.unavailable',  });
      events.push(e);
    },
    ready: () => true,
    close: async () => {},
  };
}
const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` }, sourceIp: '192.0.2.7' });

test('bootstrap token: full permissions, warning log without the token, audited', async () => {
  const { token, tokenHash } = generateBootstrapToken();
  const clock = movableClock();
  const { logger, lines } = testLogger();
  const audit = recorder();
  const a = createBootstrapTokenAuthenticator({ tokenHash, issuedAt: clock.now(), maxAge: 900, mode: 'production', logger, clock, audit, permissionPrefix: 'kw' });
  const p = await a.authenticate({ ...bearer(token), requestId: 'req-1' });
  assert.deepEqual([p?.id, p?.authMethod, p?.permissions], ['bootstrap', 'bootstrap_token', ['kw.*', 'kw.system.rotate_system_keys']]);
  assert.equal(audit.events[0]?.event_type, 'auth.bootstrap_token_used');
  assert.equal(audit.events[0]?.source_ip, '192.0.2.7');
  assert.equal(audit.events[0]?.request_id, 'req-1');
  // Later uses are told by the operations' own events (auth_method bootstrap_token), not by one more event each.
  await a.authenticate({ ...bearer(token), requestId: 'req-2' });
  assert.equal(audit.events.length, 1);
  assert.ok(lines.some((l) => l.includes('"level":40') && l.includes('bootstrap token used')));
  assert.ok(lines.concat(JSON.stringify(audit.events)).every((l) => !l.includes(token) && !l.includes(token.slice(5, 20))));
  await rejectsWith(a.authenticate(bearer(generateBootstrapToken().token)), 'auth.invalid_credential', 401);
  // expired: refused in production, accepted (loudly) in dev
  clock.advance(901_000);
  await rejectsWith(a.authenticate(bearer(token)), 'auth.token_expired', 401);
  const dev = createBootstrapTokenAuthenticator({ tokenHash, issuedAt: new Date(0), maxAge: 900, mode: 'dev', logger, clock, audit });
  assert.equal((await dev.authenticate(bearer(token)))?.id, 'bootstrap');
  assert.ok(lines.some((l) => l.includes('EXPIRED bootstrap token')));
  assert.equal(audit.events.at(-1)?.metadata?.['expired'], true);
});

test('bootstrap token: a first use whose event cannot be recorded is refused, and the next use tries again', async () => {
  const { token, tokenHash } = generateBootstrapToken();
  const clock = movableClock();
  const { logger } = testLogger();
  let down = true;
  const events: AuditEventInput[] = [];
  const audit: AuditRecorder = {
    record: async (e) => {
      if (down) throw new ProblemError({ code: 'audit.unavailable',  });
      events.push(e);
    },
    ready: () => !down,
    close: async () => {},
  };
  const a = createBootstrapTokenAuthenticator({ tokenHash, issuedAt: clock.now(), maxAge: 900, mode: 'production', logger, clock, audit });
  await rejectsWith(a.authenticate(bearer(token)), 'audit.unavailable');
  down = false;
  await Promise.all([a.authenticate(bearer(token)), a.authenticate(bearer(token))]);
  assert.deepEqual(events.map((e) => e.event_type), ['auth.bootstrap_token_used']);
});

test('bootstrap token: an audit failure fails the request; config form reads env', async () => {
  const { token, tokenHash } = generateBootstrapToken();
  const clock = movableClock();
  const { logger } = testLogger();
  const a = createBootstrapTokenAuthenticator({ tokenHash, issuedAt: clock.now(), maxAge: 900, mode: 'production', logger, clock, audit: recorder(true) });
  await rejectsWith(a.authenticate(bearer(token)), 'audit.unavailable');
  const cfg = authnConfigSchema.parse({ type: 'bootstrap_token', token_hash_env: 'BT', issued_at_env: 'BT_AT', max_age: '15m' });
  const env = { BT: tokenHash, BT_AT: String(Math.floor(clock.now().getTime() / 1000) - 700) };
  const b = await createAuthenticator(cfg, { env, logger, clock, mode: 'production' });
  assert.ok(await b.authenticate(bearer(token)));
  env.BT_AT = String(Math.floor(clock.now().getTime() / 1000) - 901);
  const c = await createAuthenticator(cfg, { env, logger, clock, mode: 'production' });
  await rejectsWith(c.authenticate(bearer(token)), 'auth.token_expired');
  await assert.rejects(createAuthenticator(cfg, { env: {}, logger, clock, mode: 'production' }), /BT/);
});

const fwdRaw = {
  type: 'forwarded_identity' as const,
  trusted_proxies: ['10.1.0.0/16', '::1'],
  id_header: 'X-Auth-User',
  type_header: 'X-Auth-Type',
  permissions_header: 'X-Auth-Permissions',
  groups_header: 'X-Auth-Groups',
  group_permissions: { ops: ['keyward.system.*'] },
  identities: { 'svc-*': ['keyward.keys.list'] },
};
const fwd = authnConfigSchema.parse(fwdRaw);

test('forwarded identity: accepted from a trusted proxy, an error from anywhere else', async () => {
  const { logger, lines } = testLogger();
  const a = await createAuthenticator(fwd, { env: {}, logger, clock: movableClock(), mode: 'production' });
  const h = { 'x-auth-user': 'svc-reports', 'x-auth-type': 'service', 'x-auth-permissions': 'keyward.key.a.sign, keyward.audit.read', 'x-auth-groups': 'ops' };
  for (const ip of ['10.1.2.3', '::ffff:10.1.200.1', '::1']) {
    const p = await a.authenticate({ headers: h, sourceIp: ip });
    assert.equal(p?.id, 'svc-reports');
    assert.equal(p?.type, 'service');
    assert.deepEqual([...p!.permissions].sort(), ['keyward.audit.read', 'keyward.key.a.sign', 'keyward.keys.list', 'keyward.system.*']);
  }
  await rejectsWith(a.authenticate({ headers: h, sourceIp: '10.2.0.1' }), 'auth.invalid_credential', 401);
  await rejectsWith(a.authenticate({ headers: { 'x-auth-groups': 'ops' }, sourceIp: '203.0.113.9' }), 'auth.invalid_credential');
  assert.ok(lines.some((l) => l.includes('untrusted address') && l.includes('10.2.0.1')));
  await rejectsWith(a.authenticate({ headers: { 'x-auth-groups': 'ops' }, sourceIp: '10.1.0.1' }), 'auth.malformed_credential');
  assert.equal(await a.authenticate({ headers: {}, sourceIp: '10.2.0.1' }), undefined);
  await assert.rejects(createAuthenticator(authnConfigSchema.parse({ ...fwdRaw, trusted_proxies: ['10.0.0.0/99'] }), { env: {}, logger, clock: movableClock(), mode: 'dev' }), /trusted_proxies/);
});

test('forwarded identity with require_mtls needs the proxy to present a verified certificate', async () => {
  const { logger } = testLogger();
  const a = await createAuthenticator(authnConfigSchema.parse({ ...fwdRaw, require_mtls: true, proxy_identities: ['spiffe://td/proxy'] }), { env: {}, logger, clock: movableClock(), mode: 'production' });
  const headers = { 'x-auth-user': 'alice' };
  await rejectsWith(a.authenticate({ headers, sourceIp: '10.1.0.1' }), 'auth.invalid_credential');
  const cert = (uri: string) => ({ raw: Buffer.from('x'), subject: { CN: 'proxy' }, subjectaltname: `URI:${uri}` }) as never;
  await rejectsWith(a.authenticate({ headers, sourceIp: '10.1.0.1', peerCertificate: cert('spiffe://td/proxy'), peerAuthorized: false }), 'auth.invalid_credential');
  await rejectsWith(a.authenticate({ headers, sourceIp: '10.1.0.1', peerCertificate: cert('spiffe://td/other'), peerAuthorized: true }), 'auth.invalid_credential');
  assert.equal((await a.authenticate({ headers, sourceIp: '10.1.0.1', peerCertificate: cert('spiffe://td/proxy'), peerAuthorized: true }))?.id, 'alice');
});

test('bootstrap token over HTTP: one event on first use with its request id, then only the operations\' own events', async (t) => {
  const { token, tokenHash } = generateBootstrapToken();
  const env = { KW_BT: tokenHash, KW_BT_AT: String(Math.floor(Date.now() / 1000)) };
  const k = await startKeyward({
    env,
    config: {
      authn: {
        type: 'chain',
        authenticators: [
          { type: 'api_key', keys: [{ id: 'test-admin', hash_env: 'KEYWARD_TEST_ADMIN_KEY_HASH', scopes: ['keyward.*'] }] },
          { type: 'bootstrap_token', token_hash_env: 'KW_BT', issued_at_env: 'KW_BT_AT', max_age: 900 },
        ],
      },
    },
  });
  t.after(() => k.close());
  const ids: string[] = [];
  for (const id of ['bt-1', 'bt-2', 'bt-3']) {
    const r = await req(k.kw.app, { method: 'POST', url: '/v1/keys', headers: { authorization: `Bearer ${token}` }, payload: { key_id: id, key_type: 'EC-P256' } });
    assert.equal(r.status, 201);
    ids.push(r.headers['x-request-id'] as string);
  }
  const events = k.auditLines.map((l) => JSON.parse(l) as { event_type: string; request_id: string | null; principal: { auth_method: string } | null });
  const used = events.filter((e) => e.event_type === 'auth.bootstrap_token_used');
  assert.deepEqual(used.map((e) => e.request_id), [ids[0]]);
  const creates = events.filter((e) => e.event_type === 'key.create');
  assert.deepEqual(creates.map((e) => [e.request_id, e.principal?.auth_method]), ids.map((id) => [id, 'bootstrap_token']));
});
