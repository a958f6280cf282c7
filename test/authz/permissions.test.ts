import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACTIONS, ACTION_PERMISSIONS } from '../../src/core/actions.ts';
import { evaluate, matchGrant, permissionFor } from '../../src/authz/permissions.ts';
import { authzConfigSchema } from '../../src/authz/config.ts';
import { createPdp, enforce, explain } from '../../src/authz/index.ts';
import type { AuthzRequest } from '../../src/authz/types.ts';
import { testLogger, rejectsWith } from '../authn/helpers.ts';

test('permissionFor covers every action', () => {
  assert.equal(ACTIONS.length, Object.keys(ACTION_PERMISSIONS).length);
  assert.equal(permissionFor('keyward', 'kms:Sign', 'payments-1'), 'keyward.key.payments-1.sign');
  assert.equal(permissionFor('keyward', 'kms:GetPublicKey', 'k'), 'keyward.key.k.public');
  assert.equal(permissionFor('keyward', 'kms:DescribeKey', 'k'), 'keyward.key.k.public');
  assert.equal(permissionFor('keyward', 'kms:SignJwt', 'k'), 'keyward.key.k.sign');
  assert.equal(permissionFor('keyward', 'kms:GenerateDataKey', 'k'), 'keyward.key.k.encrypt');
  assert.equal(permissionFor('keyward', 'kms:CancelKeyRelease', 'k'), 'keyward.key.k.release');
  assert.equal(permissionFor('keyward', 'kms:CreateKey', 'k', { overwrite: true }), 'keyward.key.k.overwrite');
  assert.equal(permissionFor('keyward', 'kms:ListKeys'), 'keyward.keys.list');
  assert.equal(permissionFor('keyward', 'kms:GenerateRandom'), 'keyward.keys.random');
  assert.equal(permissionFor('tkeeper', 'sys:Unseal'), 'tkeeper.system.unseal');
  assert.equal(permissionFor('keyward', 'audit:Read'), 'keyward.audit.read');
  assert.equal(permissionFor('keyward', 'authz:Explain'), 'keyward.authz.explain');
  assert.throws(() => permissionFor('keyward', 'kms:Sign'));
  assert.throws(() => permissionFor('keyward', 'kms:Sign', 'a*'));
  assert.throws(() => permissionFor('keyward', 'kms:Nope', 'a'));
  for (const a of ACTIONS) assert.match(permissionFor('kw', a, 'k1'), /^kw\.(key\.k1|keys|system|audit|authz|idp)\.[a-z_]+$/);
});

test('wildcards: within one segment, or at the end for everything below', () => {
  assert.ok(matchGrant('keyward.key.payments-*.sign', 'keyward.key.payments-1.sign'));
  assert.ok(!matchGrant('keyward.key.payments-*.sign', 'keyward.key.payments-1.verify'));
  assert.ok(!matchGrant('keyward.key.payments-*.sign', 'keyward.key.billing.sign'));
  assert.ok(matchGrant('keyward.key.*.sign', 'keyward.key.any.sign'));
  assert.ok(matchGrant('keyward.system.*', 'keyward.system.unseal'));
  assert.ok(!matchGrant('keyward.system.*', 'keyward.keys.list'));
  assert.ok(!matchGrant('keyward.system.*', 'keyward.system'));
  assert.ok(matchGrant('keyward.*', 'keyward.key.a.sign'));
  assert.ok(matchGrant('keyward.key.a.*', 'keyward.key.a.destroy'));
  assert.ok(!matchGrant('keyward.key.a', 'keyward.key.a.sign'));
  assert.ok(!matchGrant('keyward.key.a.sign', 'keyward.key.a.sign.extra'));
  // key ids with dots are one logical segment
  assert.ok(matchGrant('keyward.key.pay.v1.sign', 'keyward.key.pay.v1.sign'));
  assert.ok(!matchGrant('keyward.key.pay.sign', 'keyward.key.pay.v1.sign'));
  assert.ok(matchGrant('keyward.key.pay*.sign', 'keyward.key.pay.v1.sign'));
  // the prefix is literal: stray scopes and other prefixes never match
  assert.ok(!matchGrant('*', 'keyward.key.a.sign'));
  assert.ok(!matchGrant('*.key.a.sign', 'keyward.key.a.sign'));
  assert.ok(!matchGrant('other.*', 'keyward.key.a.sign'));
  assert.ok(!matchGrant('openid', 'keyward.key.a.sign'));
  assert.ok(!matchGrant('keyward.key.a(.sign', 'keyward.key.ax.sign'));
});

test('negative grants win over any allow', () => {
  const grants = ['keyward.*', '-keyward.key.prod-*.destroy', 'keyward.key.prod-1.destroy'];
  assert.deepEqual(evaluate(grants, 'keyward.key.prod-1.destroy'), { allowed: false, matched: ['keyward.*', 'keyward.key.prod-1.destroy'], deniedBy: '-keyward.key.prod-*.destroy' });
  assert.deepEqual(evaluate(grants, 'keyward.key.dev-1.destroy'), { allowed: true, matched: ['keyward.*'] });
  assert.deepEqual(evaluate([], 'keyward.keys.list'), { allowed: false, matched: [] });
  assert.equal(evaluate(['-keyward.keys.list'], 'keyward.keys.list').allowed, false);
});

test('TKeeper names with prefix tkeeper', () => {
  const t = (g: string, p: string) => evaluate([g], p).allowed;
  assert.ok(t('tkeeper.dkg.generate', 'tkeeper.key.new.create'));
  assert.ok(!t('tkeeper.dkg.generate', 'tkeeper.key.new.overwrite'));
  assert.ok(t('tkeeper.dkg.generate.overwrite', 'tkeeper.key.new.overwrite'));
  assert.ok(t('tkeeper.storage.write', 'tkeeper.key.k.import'));
  assert.ok(t('tkeeper.storage.delete', 'tkeeper.key.k.destroy'));
  assert.ok(t('tkeeper.integrity.regen', 'tkeeper.system.reload'));
  assert.ok(!t('tkeeper.integrity.regen', 'tkeeper.key.k.rotate'));
  assert.ok(!evaluate(['tkeeper.*', '-tkeeper.storage.delete'], 'tkeeper.key.k.destroy').allowed);
  assert.ok(!t('keyward.dkg.generate', 'keyward.key.new.create'));
});

const request = (permissions: string[], permission = 'keyward.key.k1.sign'): AuthzRequest => ({
  requestId: 'r1',
  action: 'kms:Sign',
  permission,
  principal: { id: 'alice', type: 'user', authMethod: 'jwt', permissions, attributes: {} },
  resource: { type: 'Key', id: 'k1', attributes: {} },
  context: { source_ip: '127.0.0.1', request_time: new Date().toISOString(), auth_method: 'jwt' },
});

test('builtin PDP: enforce names the missing permission; explain shows grants', async () => {
  const pdp = await createPdp(authzConfigSchema.parse({}), { logger: testLogger().logger });
  assert.equal(pdp.name, 'builtin');
  assert.deepEqual((await enforce(pdp, request(['keyward.key.*.sign']))).reasons, ['keyward.key.*.sign']);
  const e = await rejectsWith(enforce(pdp, request(['keyward.keys.list'])), 'auth.scope_denied', 403);
  assert.match(e['detail'] as string, /keyward\.key\.k1\.sign/);
  const d = await rejectsWith(enforce(pdp, request(['keyward.*', '-keyward.key.k1.*'])), 'auth.scope_denied', 403);
  assert.match(d['detail'] as string, /-keyward\.key\.k1\.\*/);
  const x = await explain(pdp, request(['keyward.*', '-keyward.key.k1.*']));
  assert.deepEqual([x.allowed, x.matched, x.denied_by], [false, ['keyward.*'], '-keyward.key.k1.*']);
  assert.equal((await explain(pdp, request([]))).missing_permission, 'keyward.key.k1.sign');
  assert.equal(authzConfigSchema.parse({}).permission_prefix, 'keyward');
  assert.equal(authzConfigSchema.safeParse({ permission_prefix: 'a.b' }).success, false);
  assert.equal(authzConfigSchema.safeParse({ pdp: { type: 'http', endpoint: 'http://x', cert_file: 'c' } }).success, false);
});

test('explicit-only permissions: no wildcard allows rotating system keys; the exact grant does; a negative wildcard denies', () => {
  const p = permissionFor('keyward', 'sys:RotateSystemKey', 'keyward-idp-main-es256');
  assert.equal(p, 'keyward.system.rotate_system_keys');
  for (const g of ['keyward.*', 'keyward.system.*', 'keyward.system.rotate_*', 'keyward.*.rotate_system_keys', 'tkeeper.*']) {
    assert.ok(!matchGrant(g, p), g);
  }
  assert.ok(matchGrant('keyward.system.rotate_system_keys', p));
  assert.deepEqual(evaluate(['keyward.*', 'keyward.system.rotate_system_keys'], p), { allowed: true, matched: ['keyward.system.rotate_system_keys'] });
  assert.equal(evaluate(['keyward.system.rotate_system_keys', '-keyward.system.*'], p).allowed, false);
  // Other system permissions keep their wildcards.
  assert.ok(matchGrant('keyward.system.*', 'keyward.system.seal'));
});
