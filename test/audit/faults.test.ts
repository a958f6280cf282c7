import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, readdir, readFile, rm, writeFile, truncate, stat, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publicKeyFromPem } from '../../src/audit/keys.ts';
import { readAuditPaths, verifyAuditLog } from '../../src/audit/verify.ts';
import type { AuditEvent } from '../../src/audit/canonical.ts';
import { AckFile } from '../../src/audit/ack.ts';
import { createAuditTrail } from '../../src/audit/trail.ts';
import { ManualClock } from '../support/clock.ts';
import { captureLogger, config, JsonChain, JsonSettings, makeTrail, newKey, readLines, sampleEvent, tempDir } from './helpers.ts';

const unavailable = { code: 'audit.unavailable', status: 503 };

test('disk full (/dev/full): deny rejects with audit.unavailable; continue resolves and logs loudly', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const deny = await makeTrail({ config: config({ signing_key_path: key, sinks: [{ type: 'file', path: '/dev/full' }] }) });
    await assert.rejects(deny.trail.record(sampleEvent(1)), unavailable);
    assert.equal(deny.trail.ready(), false);
    await assert.rejects(deny.trail.record(sampleEvent(2)), unavailable);
    await deny.trail.close();
    const cont = await makeTrail({ config: config({ signing_key_path: key, on_failure: 'continue', sinks: [{ type: 'file', path: '/dev/full' }] }) });
    await cont.trail.record(sampleEvent(1));
    assert.ok(cont.log.lines.some((l) => l.level === 40 && String(l.msg).includes('on_failure=continue')), 'warned at start');
    assert.ok(cont.log.lines.some((l) => l.level === 50 && String(l.msg).includes('AUDIT EVENTS NOT DURABLY RECORDED')), 'loud error');
    await cont.trail.close();
  } finally {
    await cleanup();
  }
});

test('unwritable path: deny refuses, then the owed events land first once writable, followed by audit.recovered', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const blocker = join(dir, 'blocker');
    await writeFile(blocker, 'not a directory');
    const path = join(blocker, 'audit.log'); // ENOTDIR / EEXIST
    const { trail } = await makeTrail({ retryIntervalMs: 20, config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }) });
    assert.equal(trail.ready(), false);
    await assert.rejects(trail.record(sampleEvent(1)), unavailable);
    await rm(blocker);
    // the retry timer delivers the owed start event and records the recovery
    for (let i = 0; i < 100 && !trail.ready(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(trail.ready(), true);
    await trail.record(sampleEvent(3));
    await trail.close();
    const events = (await readLines(path)).map((l) => JSON.parse(l) as AuditEvent);
    assert.deepEqual(events.map((e) => e.event_type), ['audit.started', 'audit.recovered', 'key.sign']);
    assert.equal(events[1]!.metadata.late_first_sequence, 1);
    assert.equal(events[1]!.metadata.late_events_outcome, 'refused_503');
    assert.equal(events[1]!.metadata.refused_unsequenced_count, 1); // the refused key.sign took no sequence
    const { sources, checkpoints } = await readAuditPaths([path]);
    assert.equal(verifyAuditLog(sources, { publicKey: publicKeyFromPem(await readFile(key)), checkpoints }).ok, true);
  } finally {
    await cleanup();
  }
});

test('process killed mid-write: verify tolerates at most a torn final line, and a new trail resumes the chain', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const pub = publicKeyFromPem(await readFile(key));
    const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/writer-child.ts', import.meta.url)), '--child', dir, key], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.on('exit', (c) => reject(new Error(`child exited ${c}`)));
    });
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const path = join(dir, 'audit.log');
    const verifyDir = async () => {
      const { sources, checkpoints } = await readAuditPaths([dir]);
      const r = verifyAuditLog(sources.filter((s) => /audit\.log/.test(s.name)), { publicKey: pub, checkpoints });
      // No checkpoint was written before the kill: that warning is expected here.
      return { ...r, warnings: r.warnings.filter((w) => w.reason !== 'no_checkpoint') };
    };
    const r1 = await verifyDir();
    assert.equal(r1.ok, true, JSON.stringify(r1.error));
    assert.ok(r1.warnings.length <= 1 && r1.warnings.every((w) => w.reason === 'torn_final_line'));
    const lastOnDisk = r1.chains[0]!.last_sequence;
    const head = await new JsonChain(join(dir, 'chain.json')).get(r1.chains[0]!.chain_id);
    assert.ok(head && head.sequence <= lastOnDisk, `persisted head ${head?.sequence} never ahead of the file ${lastOnDisk}`);

    // Make the worst case explicit: a torn line at the end, and a head that was not persisted for the last events.
    await appendFile(path, '{"schema_version":1,"event_id":"torn');
    await new JsonChain(join(dir, 'chain.json')).put({ ...head!, sequence: Math.max(1, lastOnDisk - 5), hash: head!.hash });
    const r2 = await verifyDir();
    assert.equal(r2.ok, true);
    assert.equal(r2.warnings.at(-1)!.reason, 'torn_final_line');

    // The stale head above carries a wrong hash for its sequence: restart trusts the authentic file tail instead.
    const t = await makeTrail({ chain: new JsonChain(join(dir, 'chain.json')), settings: new JsonSettings(join(dir, 'settings.json')), config: config({ signing_key_path: key, sinks: [{ type: 'file', path, max_bytes: 200_000, max_age_seconds: 0 }] }) });
    assert.equal(t.trail.head().sequence, lastOnDisk + 1); // + audit.started
    await t.trail.record(sampleEvent(1));
    await t.trail.close();
    const r3 = await verifyDir();
    assert.equal(r3.ok, true, JSON.stringify(r3.error));
    assert.deepEqual(r3.warnings, []); // the torn bytes were cut off on restart
    assert.equal(r3.chains[0]!.last_sequence, lastOnDisk + 2);
    assert.ok(t.log.lines.some((l) => String(l.msg).includes('torn')));
    // ...and kept aside, in a dot-file that verifying the directory does not read.
    const aside = (await readdir(dir)).filter((n) => n.startsWith('.audit.log.torn-'));
    assert.equal(aside.length, 1);
    assert.equal(await readFile(join(dir, aside[0]!), 'utf8'), '{"schema_version":1,"event_id":"torn');
    // The events past the stale head are marked as unconfirmed in the start event.
    const started = (await readLines(path)).map((l) => JSON.parse(l)).find((e) => e.sequence === lastOnDisk + 1);
    assert.equal(started.event_type, 'audit.started');
    assert.equal(started.metadata.unconfirmed_first_sequence, Math.max(1, lastOnDisk - 5) + 1);
    assert.equal(started.metadata.unconfirmed_last_sequence, lastOnDisk);
  } finally {
    await cleanup();
  }
});

const takeAway: Array<[string, (path: string) => Promise<void>]> = [
  ['deleted', (path) => rm(path)],
  ['replaced (moved away, a new file at its path)', async (path) => {
    await rename(path, `${path}.moved`);
    await writeFile(path, '');
  }],
];
for (const [what, change] of takeAway) {
  test(`the active file ${what} while open: the batch is refused, the path reopened, and the outage recorded`, async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const key = await newKey(dir);
      const path = join(dir, 'audit.log');
      const { trail, log } = await makeTrail({ retryIntervalMs: 20, config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }) });
      await trail.record(sampleEvent(1));
      await change(path);
      await assert.rejects(trail.record(sampleEvent(2)), unavailable);
      assert.ok(log.lines.some((l) => l.level === 50 && String(l.msg).includes('AUDIT FILE REMOVED OR REPLACED')));
      for (let i = 0; i < 50 && !trail.ready(); i++) await new Promise((r) => setTimeout(r, 20));
      await trail.record(sampleEvent(3));
      await trail.close();
      const types = (await readLines(path)).map((l) => JSON.parse(l).event_type);
      assert.ok(types.includes('audit.recovered'), types.join());
    } finally {
      await cleanup();
    }
  });
}

test('a file that lost events behind the persisted head: restart says so loudly and verify reports the gap', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const path = join(dir, 'audit.log');
    const chain = new JsonChain(join(dir, 'chain.json'));
    const settings = new JsonSettings(join(dir, 'settings.json'));
    const cfg = config({ signing_key_path: key, sinks: [{ type: 'file', path }] });
    const a = await makeTrail({ chain, settings, config: cfg });
    for (let i = 0; i < 5; i++) await a.trail.record(sampleEvent(i));
    await a.trail.close();
    const lines = await readLines(path);
    await truncate(path, (await stat(path)).size - lines.at(-1)!.length - 1 - lines.at(-2)!.length - 1);
    const b = await makeTrail({ chain, settings, config: cfg });
    assert.equal(b.trail.head().sequence, 7);
    assert.ok(b.log.lines.some((l) => l.level === 50 && String(l.msg).includes('MISSING EVENTS')));
    await b.trail.close();
    const { sources, checkpoints } = await readAuditPaths([path]);
    const r = verifyAuditLog(sources, { publicKey: publicKeyFromPem(await readFile(key)), checkpoints });
    assert.equal(r.ok, false);
    assert.equal(r.error!.reason, 'gap');
    assert.equal(r.error!.sequence, 7);
  } finally {
    await cleanup();
  }
});

test('refused events survive a restart as a refused range: audit.recovered after the restart, not "unconfirmed"', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const path = join(dir, 'audit.log');
    const chain = new JsonChain(join(dir, 'chain.json'));
    const settings = new JsonSettings(join(dir, 'settings.json'));
    const ack = () => AckFile.open(join(dir, 'keyward.db.audit-ack'));
    // The file takes every event; a second sink (NATS, nobody listening) refuses them, so the callers get 503.
    const dead = 'nats://127.0.0.1:9';
    const first = await createAuditTrail({
      config: config({ signing_key_path: key, sinks: [{ type: 'file', path }, { type: 'nats', url: dead, subject: 'keyward.audit.dead', ack_timeout_ms: 200 }] }),
      chain, settings, clock: new ManualClock(), logger: captureLogger().logger, production: false, retryIntervalMs: 60_000, ack: ack(),
    });
    await assert.rejects(first.record(sampleEvent(1)), unavailable);
    await assert.rejects(first.record(sampleEvent(2)), unavailable);
    await first.close(); // as good as a crash: the owed events never reach NATS
    const stored = (await readLines(path)).map((l) => JSON.parse(l) as AuditEvent);
    // The start event reached the file only; both operations were refused without taking a sequence.
    assert.deepEqual(stored.map((e) => e.event_type), ['audit.started']);

    // Restarted without the broken sink.
    const second = await createAuditTrail({
      config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }),
      chain, settings, clock: new ManualClock(), logger: captureLogger().logger, production: false, ack: ack(),
    });
    await second.record(sampleEvent(3));
    await second.close();
    const third = await createAuditTrail({
      config: config({ signing_key_path: key, sinks: [{ type: 'file', path }] }),
      chain, settings, clock: new ManualClock(), logger: captureLogger().logger, production: false, ack: ack(),
    });
    await third.close();
    const events = (await readLines(path)).map((l) => JSON.parse(l) as AuditEvent);
    assert.deepEqual(events.map((e) => e.event_type), ['audit.started', 'audit.started', 'audit.recovered', 'key.sign', 'audit.started']);
    const [, restart, recovered, , again] = events;
    // Nothing acknowledged was lost, and what was refused is known to have been refused: not "unconfirmed".
    assert.equal(restart!.metadata.unconfirmed_first_sequence, undefined);
    assert.equal(restart!.metadata.acknowledged_sequence, 0);
    assert.deepEqual(
      { first: recovered!.metadata.late_first_sequence, last: recovered!.metadata.late_last_sequence, outcome: recovered!.metadata.late_events_outcome, restart: recovered!.metadata.reported_after_restart },
      { first: 1, last: 1, outcome: 'refused_503', restart: true },
    );
    assert.equal(recovered!.metadata.refused_unsequenced_count, 2);
    // Reported once: the next start has nothing left to report and nothing unconfirmed.
    assert.equal(again!.metadata.unconfirmed_first_sequence, undefined);
    assert.equal(again!.metadata.acknowledged_sequence, 4);
    const { sources, checkpoints } = await readAuditPaths([path]);
    assert.equal(verifyAuditLog(sources, { publicKey: publicKeyFromPem(await readFile(key)), checkpoints }).ok, true);
  } finally {
    await cleanup();
  }
});
