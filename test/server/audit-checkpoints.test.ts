// Checkpoints that cannot be written: the instance goes unready at once and a metric counts them; after
// audit.max_missed_checkpoints in a row, operations are refused like any other audit failure, until a checkpoint
// sidecar can be written again (real file system, real server in-process).
import assert from 'node:assert/strict';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { readAuditPaths, verifyAuditLog } from '../../src/audit/index.ts';
import { publicKeyFromPem } from '../../src/audit/keys.ts';
import { assertProblem, req } from '../support/http.ts';
import { startKeyward } from '../support/keyward.ts';

test('an unwritable checkpoint sidecar: unready and counted at once, operations refused after max_missed_checkpoints, all back once writable', { timeout: 60_000 }, async () => {
  const t = await startKeyward({ config: { audit: { checkpoint_interval: 1, max_missed_checkpoints: 2 } } });
  const metric = async (name: string) => {
    const text = (await req(t.kw.app, { method: 'GET', url: '/metrics' })).raw.body;
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const create = (id: string) => t.post('/v1/keys', { key_id: id, key_type: 'EC-P256' });
  const until = async (what: string, ok: () => Promise<boolean>) => {
    for (let i = 0; i < 100; i++) {
      if (await ok()) return;
      await sleep(100);
    }
    assert.fail(`timed out waiting for: ${what}`);
  };
  const sidecarTmp = join(t.dir, 'audit', 'audit.log.checkpoint.tmp');
  try {
    assert.equal((await create('k0')).status, 201);
    await until('a first checkpoint', async () => t.kw.audit.checkpoints().last_written_sequence > 0);
    assert.equal((await req(t.kw.app, { method: 'GET', url: '/readyz' })).status, 200);
    assert.equal(await metric('keyward_audit_checkpoints_missed_total'), 0);

    // A directory where the sidecar's temporary file goes: no write can succeed there, even as root.
    await mkdir(sidecarTmp);
    assert.equal((await create('k1')).status, 201);
    await until('a missed checkpoint', async () => ((await metric('keyward_audit_checkpoints_missed_total')) ?? 0) >= 1);
    const unready = await req(t.kw.app, { method: 'GET', url: '/readyz' });
    assertProblem(unready, 503, 'system.not_ready');
    assert.equal(unready.body.checks.audit, false);
    // One miss is below the limit of two: operations go on.
    if (t.kw.audit.checkpoints().missed_consecutive < 2) assert.equal((await create('k2')).status, 201);

    await until('the second miss in a row', async () => t.kw.audit.checkpoints().missed_consecutive >= 2);
    assert.equal(await metric('keyward_audit_checkpoints_missed_consecutive'), t.kw.audit.checkpoints().missed_consecutive);
    const refused = await create('k3');
    assertProblem(refused, 503, 'audit.unavailable');
    assert.match(refused.body.detail, /checkpoints in a row could not be written/);
    assert.equal(await t.kw.store.keys.get('k3'), undefined, 'the refused operation had no effect');

    // Writable again: the pending checkpoint lands on the next retry and everything resumes.
    await rm(sidecarTmp, { recursive: true });
    await until('ready again', async () => (await req(t.kw.app, { method: 'GET', url: '/readyz' })).status === 200);
    assert.equal(t.kw.audit.checkpoints().missed_consecutive, 0);
    assert.equal(await metric('keyward_audit_checkpoints_missed_consecutive'), 0);
    assert.ok((await metric('keyward_audit_checkpoints_missed_total'))! >= 2);
    assert.equal((await create('k4')).status, 201);

    await t.kw.audit.flush();
    await t.kw.audit.checkpoint();
    const { sources, checkpoints } = await readAuditPaths([join(t.dir, 'audit')]);
    const pub = publicKeyFromPem(await readFile(join(t.dir, 'audit-signing-key.pem')));
    const r = verifyAuditLog(sources, { publicKey: pub, checkpoints, requireCheckpoints: true });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    const events = sources.flatMap((s) => s.lines.map((l) => JSON.parse(l.text) as { event_type: string; outcome: string; error_code: string | null; resource: { id: string } | null }));
    assert.ok(events.some((e) => e.event_type === 'key.create' && e.resource?.id === 'k4' && e.outcome === 'success'));
    assert.ok(!events.some((e) => e.resource?.id === 'k3' && e.outcome === 'success'));
  } finally {
    await rm(sidecarTmp, { recursive: true, force: true });
    await t.close();
  }
});
