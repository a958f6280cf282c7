import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { authzConfigSchema } from '../../src/authz/config.ts';
import { createPdp, enforce, explain } from '../../src/authz/index.ts';
import { startPdpServer } from '../../src/authz/pdp-server.ts';
import type { AuthzRequest, Pdp } from '../../src/authz/types.ts';
import type { Principal } from '../../src/authn/types.ts';
import { run as pdpCli } from '../../src/cli/commands/pdp.ts';
import { rejectsWith, testLogger } from '../authn/helpers.ts';

const POLICIES = join(import.meta.dirname, '../../policies');
const SCHEMA = join(POLICIES, 'keyward.cedarschema');
const { logger } = testLogger();

const svc: Principal = { id: 'payments', type: 'service', authMethod: 'mtls', permissions: [], attributes: { service_name: 'payments' } };
const admin: Principal = { id: 'alice', type: 'user', authMethod: 'jwt', permissions: [], attributes: { groups: ['key-admins'] } };
function req(principal: Principal, action: string, resource: AuthzRequest['resource'], mfa = false): AuthzRequest {
  return {
    requestId: 'req-' + Math.random().toString(36).slice(2),
    action,
    permission: 'keyward.key.x.sign',
    principal,
    resource,
    context: { source_ip: '10.0.0.1', request_time: '2030-01-01T00:00:00Z', auth_method: principal.authMethod, mfa_authenticated: mfa },
  };
}
const key = (id: string, state: string, team?: string): AuthzRequest['resource'] => ({
  type: 'Key', id, attributes: { type: 'EC-P256', state, namespace: 'default', labels: team ? { team } : {} },
});

let dir: string;
let cedar: Pdp;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyward-cedar-'));
  cpSync(POLICIES, dir, { recursive: true });
  cedar = await createPdp(authzConfigSchema.parse({ pdp: { type: 'cedar', policies_path: dir, schema_path: join(dir, 'keyward.cedarschema'), watch: true } }), { logger });
});
after(async () => {
  await cedar.close?.();
  rmSync(dir, { recursive: true, force: true });
});

test('cedar: starter policies allow and deny, with policy ids', async () => {
  const ok = await enforce(cedar, req(svc, 'kms:Sign', key('k1', 'enabled', 'payments')));
  assert.deepEqual(ok.reasons, ['services-sign-own-team']);
  assert.match(ok.policyVersion!, /^[0-9a-f]{16}$/);
  await rejectsWith(enforce(cedar, req(svc, 'kms:Sign', key('k2', 'enabled', 'billing'))), 'authz.denied', 403);
  await rejectsWith(enforce(cedar, req(svc, 'kms:Sign', key('k1', 'disabled', 'payments'))), 'authz.denied');
  await rejectsWith(enforce(cedar, req(admin, 'kms:RotateKey', key('k1', 'enabled'))), 'authz.denied');
  assert.ok(await enforce(cedar, req(admin, 'kms:RotateKey', key('k1', 'enabled'), true)));
  const x = await explain(cedar, req(svc, 'kms:Sign', key('k1', 'disabled', 'payments')));
  assert.deepEqual([x.allowed, x.matched], [false, ['no-use-of-inactive-keys']]);
  assert.deepEqual((await cedar.decide(req(svc, 'sys:Status', { type: 'System', id: 'keyward', attributes: {} }))).reasons, ['status-for-all']);
});

test('cedar: rotating a system key needs the exact permission on the credential, whatever the policies permit', async () => {
  const d = mkdtempSync(join(tmpdir(), 'keyward-cedar-rotate-'));
  try {
    cpSync(SCHEMA, join(d, 'keyward.cedarschema'));
    writeFileSync(join(d, 'all.cedar'), '@id("everything") permit (principal, action, resource);');
    const pdp = await createPdp(authzConfigSchema.parse({ pdp: { type: 'cedar', policies_path: d, schema_path: join(d, 'keyward.cedarschema') } }), { logger });
    const rotate = (p: Principal) => ({ ...req(p, 'sys:RotateSystemKey', key('keyward-idp-main-es256', 'enabled')), permission: 'keyward.system.rotate_system_keys' });
    // No grants at all (judged by policies alone elsewhere) and a keyward.* grant: both refused.
    await rejectsWith(enforce(pdp, rotate(admin)), 'auth.scope_denied', 403);
    await rejectsWith(enforce(pdp, rotate({ ...admin, permissions: ['keyward.*'] })), 'auth.scope_denied', 403);
    assert.ok(await enforce(pdp, rotate({ ...admin, permissions: ['keyward.system.rotate_system_keys'] })));
    // Other actions are still the policies' alone for a credential without grants.
    assert.ok(await enforce(pdp, req(admin, 'kms:RotateKey', key('k1', 'enabled'))));
    await pdp.close?.();
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('cedar: policies reload on change; a broken file keeps the old policies', async () => {
  const r = () => req(svc, 'audit:Read', { type: 'Audit', id: 'trail', attributes: {} });
  assert.equal((await cedar.decide(r())).allowed, false);
  writeFileSync(join(dir, 'extra.cedar'), '@id("svc-audit") permit (principal is Service, action == Action::"audit:Read", resource);');
  for (let i = 0; i < 40 && !(await cedar.decide(r())).allowed; i++) await sleep(50);
  assert.deepEqual((await cedar.decide(r())).reasons, ['svc-audit']);
  writeFileSync(join(dir, 'broken.cedar'), 'permit (principal, action, resource');
  await sleep(300);
  await assert.rejects(cedar.reload!());
  assert.equal((await cedar.decide(r())).allowed, true);
  rmSync(join(dir, 'broken.cedar'));
  writeFileSync(join(dir, 'extra.cedar'), 'permit (principal, action == Action::"kms:NoSuchAction", resource);');
  await assert.rejects(cedar.reload!(), /validate/);
});

// Speed is measured by `npm run bench`, not asserted here: a timed test fails on a busy machine, not on a regression.
test('cedar: startup errors name the path; repeated decisions stay consistent', async () => {
  await assert.rejects(createPdp(authzConfigSchema.parse({ pdp: { type: 'cedar', policies_path: '/nonexistent', watch: false } }), { logger }), /nonexistent/);
  const pdp = await createPdp(authzConfigSchema.parse({ pdp: { type: 'cedar', policies_path: POLICIES, schema_path: SCHEMA, watch: false } }), { logger });
  const r = req(svc, 'kms:Sign', key('k1', 'enabled', 'payments'));
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) assert.equal((await pdp.decide(r)).allowed, true);
  console.log(`cedar: ${((performance.now() - t0) / 2000).toFixed(3)} ms per decision (informational)`);
});

// A fake external PDP whose behaviour each test sets, recording every body it receives.
let mode: 'permit' | 'forbid' | 'indeterminate' | 'hang' | '500' | 'garbage' | 'wrong-id' | 'obligation' = 'permit';
const bodies: string[] = [];
const fake = http.createServer((rq, rs) => {
  let b = '';
  rq.on('data', (c) => (b += c));
  rq.on('end', () => {
    bodies.push(b);
    const id = (JSON.parse(b) as { request_id: string }).request_id;
    if (mode === 'hang') return;
    if (mode === '500') return void rs.writeHead(500).end('{}');
    if (mode === 'garbage') return void rs.end('{"decision":"Maybe"}');
    const decision = { permit: 'Permit', forbid: 'Forbid', indeterminate: 'Indeterminate' }[mode as 'permit'] ?? 'Permit';
    rs.setHeader('content-type', 'application/json');
    const obligations = mode === 'obligation' ? [{ obligation_id: 'notify-security' }] : [];
    rs.end(JSON.stringify({ request_id: mode === 'wrong-id' ? 'other' : id, decision, reasons: [{ policy_id: 'p-' + mode }], obligations, policy_version: 'v7' }));
  });
});
let fakeUrl: string;
before(async () => {
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/v1/authorize`;
});
after(() => {
  fake.closeAllConnections();
  fake.close();
});

test('http PDP: permit, forbid, and fail closed on Indeterminate, timeout, 500, malformed and unreachable', async () => {
  const pdp = await createPdp(authzConfigSchema.parse({ pdp: { type: 'http', endpoint: fakeUrl, timeout_ms: 200 } }), { logger });
  const r = req(svc, 'kms:Sign', key('k1', 'enabled'));
  mode = 'permit';
  assert.deepEqual(await enforce(pdp, r), { allowed: true, reasons: ['p-permit'], policyVersion: 'v7' });
  mode = 'forbid';
  await rejectsWith(enforce(pdp, r), 'authz.denied', 403);
  mode = 'indeterminate';
  await rejectsWith(enforce(pdp, r), 'authz.denied', 403);
  mode = 'obligation'; // a Permit with an obligation Keyward cannot fulfil
  await rejectsWith(enforce(pdp, r), 'authz.denied', 403);
  for (const m of ['hang', '500', 'garbage', 'wrong-id'] as const) {
    mode = m;
    await rejectsWith(enforce(pdp, r), 'authz.pdp_unavailable', 503);
  }
  const down = await createPdp(authzConfigSchema.parse({ pdp: { type: 'http', endpoint: 'http://127.0.0.1:1/v1/authorize', timeout_ms: 500 } }), { logger });
  await rejectsWith(enforce(down, r), 'authz.pdp_unavailable', 503);
  await pdp.close?.();
  await down.close?.();
});

test('the PDP never receives key material, plaintexts, digests or tokens', async () => {
  mode = 'permit';
  bodies.length = 0;
  const secrets = ['eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2ln', 'PLAINTEXT-attack-at-dawn', 'ab'.repeat(32), '-----BEGIN PRIVATE KEY-----'];
  const principal: Principal = {
    id: 'alice', type: 'user', authMethod: 'jwt', permissions: ['keyward.*'],
    attributes: { client_id: 'web', groups: ['ops'], token: secrets[0], raw_token: secrets[0], mfa: true },
  };
  const r = req(principal, 'kms:Sign', {
    type: 'Key', id: 'k1',
    attributes: { state: 'enabled', labels: { team: 'x' }, digest: secrets[2], plaintext: secrets[1], private_key: secrets[3], material: { d: secrets[3] } },
  });
  const pdp = await createPdp(authzConfigSchema.parse({ pdp: { type: 'http', endpoint: fakeUrl } }), { logger });
  await enforce(pdp, r);
  await pdp.close?.();
  const sent = JSON.parse(bodies[0]!) as Record<string, Record<string, unknown>>;
  for (const s of secrets) assert.ok(!bodies[0]!.includes(s), `PDP saw ${s}`);
  assert.equal(sent['pdp_api_version'] as unknown, '1.0');
  assert.deepEqual(Object.keys(sent['principal']!['attributes'] as object).sort(), ['auth_method', 'client_id', 'groups', 'mfa']);
  assert.deepEqual(Object.keys(sent['resource']!['attributes'] as object).sort(), ['labels', 'state']);
  assert.deepEqual(Object.keys(sent['context']!).sort(), ['auth_method', 'mfa_authenticated', 'request_time', 'source_ip']);
});

test('keyward pdp serve: the Cedar engine over HTTP, used by the http PDP', async () => {
  const server = await startPdpServer({ policiesPath: POLICIES, schemaPath: SCHEMA, port: 0, watch: false });
  try {
    const health = await (await fetch(`${server.url}/healthz`)).json();
    assert.equal((health as { status: string }).status, 'ok');
    const pdp = await createPdp(authzConfigSchema.parse({ pdp: { type: 'http', endpoint: `${server.url}/v1/authorize` } }), { logger });
    assert.deepEqual((await enforce(pdp, req(svc, 'kms:Sign', key('k1', 'enabled', 'payments')))).reasons, ['services-sign-own-team']);
    await rejectsWith(enforce(pdp, req(svc, 'kms:Sign', key('k1', 'enabled', 'billing'))), 'authz.denied');
    const x = await explain(pdp, req(svc, 'kms:Sign', key('k1', 'disabled', 'payments')));
    assert.deepEqual([x.allowed, x.matched, x.policy_version], [false, ['no-use-of-inactive-keys'], server.engine.policyVersion]);
    await pdp.close?.();
    const bad = await fetch(`${server.url}/v1/authorize`, { method: 'POST', body: '{"pdp_api_version":"0.9"}' });
    assert.equal(bad.status, 400);
  } finally {
    await server.close();
  }
  // the CLI wrapper starts and stops cleanly
  const out: string[] = [];
  const ac = new AbortController();
  const io = { out: (l: string) => { out.push(l); ac.abort(); }, err: (l: string) => out.push(l), env: {} };
  assert.equal(await pdpCli(['serve', '--policies', POLICIES, '--schema', SCHEMA, '--port', '0', '--no-watch'], io, ac.signal), 0);
  assert.match(out[0]!, /PDP listening on http:\/\/127\.0\.0\.1:\d+/);
  assert.equal(await pdpCli(['serve'], io), 2);
});

test('cedar decision cache: reuses identical decisions, never across state, principal or policy changes', async () => {
  const d = mkdtempSync(join(tmpdir(), 'keyward-cedar-cache-'));
  cpSync(POLICIES, d, { recursive: true });
  const pdp = await createPdp(authzConfigSchema.parse({ pdp: { type: 'cedar', policies_path: d, schema_path: join(d, 'keyward.cedarschema'), watch: false, decision_cache_seconds: 60 } }), { logger });
  try {
    const allowed = req(svc, 'kms:Sign', key('k1', 'enabled', 'payments'));
    assert.equal((await pdp.decide(allowed)).allowed, true);
    assert.equal((await pdp.decide({ ...allowed, requestId: 'other', context: { ...allowed.context, request_time: '2030-01-01T00:00:05Z' } })).allowed, true);
    // The key was disabled: its state is part of the request, so the cached allow does not apply.
    assert.equal((await pdp.decide(req(svc, 'kms:Sign', key('k1', 'disabled', 'payments')))).allowed, false);
    // Another principal is another request.
    assert.equal((await pdp.decide(req({ ...svc, id: 'hr', attributes: { service_name: 'hr' } }, 'kms:Sign', key('k1', 'enabled', 'payments')))).allowed, false);
    // A policy change gives a new policy version, which is part of the cache key.
    writeFileSync(join(d, 'zz-freeze.cedar'), '@id("freeze") forbid (principal, action == Action::"kms:Sign", resource);');
    await pdp.reload!();
    assert.equal((await pdp.decide(allowed)).allowed, false);
  } finally {
    await pdp.close?.();
    rmSync(d, { recursive: true, force: true });
  }
});

test('cedar decision cache turns itself off when a policy reads the request time', async () => {
  const d = mkdtempSync(join(tmpdir(), 'keyward-cedar-time-'));
  cpSync(POLICIES, d, { recursive: true });
  writeFileSync(join(d, 'zz-window.cedar'), '@id("maintenance-window") forbid (principal, action == Action::"kms:Sign", resource) when { context has request_time && context.request_time == "2030-01-01T00:00:00Z" };');
  const pdp = await createPdp(authzConfigSchema.parse({ pdp: { type: 'cedar', policies_path: d, schema_path: join(d, 'keyward.cedarschema'), watch: false, decision_cache_seconds: 60 } }), { logger });
  try {
    const inWindow = req(svc, 'kms:Sign', key('k1', 'enabled', 'payments'));
    assert.equal((await pdp.decide(inWindow)).allowed, false);
    const later = { ...inWindow, requestId: 'later', context: { ...inWindow.context, request_time: '2030-01-01T00:00:01Z' } };
    assert.equal((await pdp.decide(later)).allowed, true, 'a time-dependent policy set is evaluated every time');
  } finally {
    await pdp.close?.();
    rmSync(d, { recursive: true, force: true });
  }
});
