import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { publicKeyFromPem } from '../../src/audit/keys.ts';
import { readAuditNats, verifyAuditLog } from '../../src/audit/verify.ts';
import type { AuditTrail } from '../../src/audit/trail.ts';
import { run } from '../../src/cli/commands/audit.ts';
import { config, makeTrail, MemoryChain, MemorySettings, newKey, sampleEvent, tempDir } from './helpers.ts';
import { skipUnless } from '../support/missing.ts';

const NATS = 'nats://127.0.0.1:4222';
const unavailable = { code: 'audit.unavailable', status: 503 };

async function natsUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(4222, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}
const available = await natsUp();
const skip = skipUnless(available, 'the NATS sink tests', 'NATS is not reachable at 127.0.0.1:4222');

/** A TCP proxy to NATS that can cut every connection or delay traffic from the server. */
class Proxy {
  server: Server;
  port = 0;
  mode: 'pass' | 'cut' | 'slow' = 'pass';
  delayMs = 0;
  sockets = new Set<Socket>();
  constructor() {
    this.server = createServer((client) => {
      if (this.mode === 'cut') return void client.destroy();
      const up = tcpConnect(4222, '127.0.0.1');
      this.sockets.add(client).add(up);
      client.on('data', (d) => up.write(d));
      up.on('data', (d) => (this.mode === 'slow' ? setTimeout(() => client.writable && client.write(d), this.delayMs) : client.write(d)));
      const end = () => (client.destroy(), up.destroy(), this.sockets.delete(client), this.sockets.delete(up));
      client.on('close', end).on('error', end);
      up.on('close', end).on('error', end);
    });
  }
  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return `nats://127.0.0.1:${this.port}`;
  }
  cut() {
    this.mode = 'cut';
    for (const s of this.sockets) s.destroy();
  }
  async stop() {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

async function withStream(fn: (subject: string, stream: string) => Promise<void>) {
  const id = randomUUID().slice(0, 8);
  const subject = `keyward.audit.test.${id}`;
  const stream = `KEYWARD_AUDIT_TEST_${id}`;
  try {
    await fn(subject, stream);
  } finally {
    const nc = await connect({ servers: NATS });
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
    await nc.close();
  }
}

test('NATS: publish with ack, stream created when asked, verify from the stream (library and CLI)', { skip }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    await withStream(async (subject, stream) => {
      const path = join(dir, 'audit.log');
      const { trail } = await makeTrail({
        config: config({ signing_key_path: key, sinks: [{ type: 'nats', url: NATS, subject, stream, create_stream: true, ack_timeout_ms: 2000 }, { type: 'file', path }] }),
      });
      await Promise.all(Array.from({ length: 50 }, (_, i) => trail.record(sampleEvent(i))));
      await trail.checkpoint();
      await trail.close();
      const src = await readAuditNats({ url: NATS, subject, stream });
      assert.equal(src.lines.length, 52);
      const pub = publicKeyFromPem(await readFile(key));
      const r = verifyAuditLog([src], { publicKey: pub, multiChain: true });
      assert.equal(r.ok, true, JSON.stringify(r.error));
      assert.equal(r.chains[0]!.last_sequence, 52);
      // the file holds exactly the same lines
      assert.deepEqual(src.lines.map((l) => l.text), (await readFile(path, 'utf8')).trim().split('\n'));
      const pubFile = join(dir, 'pub.pem');
      await writeFile(pubFile, pub.export({ type: 'spki', format: 'pem' }));
      const outs: string[] = [];
      const code = await run(['verify', '--public-key', pubFile, '--nats', NATS, '--subject', subject, '--stream', stream], { out: (l) => outs.push(l), err: () => {}, env: {} });
      assert.equal(code, 0, outs.join('\n'));
      // tamper in the stream: delete one message → gap
      const nc = await connect({ servers: NATS });
      await (await jetstreamManager(nc)).streams.deleteMessage(stream, 10);
      await nc.close();
      const r2 = verifyAuditLog([await readAuditNats({ url: NATS, subject, stream })], { publicKey: pub, multiChain: true });
      assert.equal(r2.error?.reason, 'gap');
    });
  } finally {
    await cleanup();
  }
});

test('NATS down at start: deny with audit.unavailable', { skip }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r)); // nothing listens there now
    const { trail } = await makeTrail({ config: config({ signing_key_path: key, sinks: [{ type: 'nats', url: `nats://127.0.0.1:${port}`, subject: 'keyward.audit.none', ack_timeout_ms: 300 }] }) });
    assert.equal(trail.ready(), false);
    await assert.rejects(trail.record(sampleEvent(1)), unavailable);
    await trail.close();
  } finally {
    await cleanup();
  }
});

test('NATS lost mid-traffic, then slow: deny while down or late, recover after, chain intact', { skip, timeout: 30_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const proxy = new Proxy();
  try {
    const key = await newKey(dir);
    const url = await proxy.start();
    await withStream(async (subject, stream) => {
      const { trail } = await makeTrail({
        retryIntervalMs: 100,
        // One attempt per write: this test is about refusing while NATS is away (the next one about waiting).
        config: config({ signing_key_path: key, sinks: [{ type: 'nats', url, subject, stream, create_stream: true, ack_timeout_ms: 400, publish_retry_ms: 0 }] }),
      });
      await trail.record(sampleEvent(1));
      proxy.cut();
      await assert.rejects(trail.record(sampleEvent(2)), unavailable);
      assert.equal(trail.ready(), false);
      await assert.rejects(trail.record(sampleEvent(3)), unavailable); // refused while the earlier event is owed
      proxy.mode = 'pass';
      for (let i = 0; i < 100 && !trail.ready(); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(trail.ready(), true, 'recovered after NATS came back');
      await trail.record(sampleEvent(4));

      // slow NATS: acks arrive after the ack timeout
      proxy.mode = 'slow';
      proxy.delayMs = 800;
      await assert.rejects(trail.record(sampleEvent(5)), unavailable);
      proxy.mode = 'pass';
      for (let i = 0; i < 100 && !trail.ready(); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(trail.ready(), true, 'recovered after NATS was fast again');
      await trail.record(sampleEvent(6));
      await trail.close();

      const src = await readAuditNats({ url: NATS, subject, stream });
      const r = verifyAuditLog([src], { publicKey: publicKeyFromPem(await readFile(key)), multiChain: true });
      assert.equal(r.ok, true, JSON.stringify(r.error));
      const types = src.lines.map((l) => JSON.parse(l.text).event_type as string);
      assert.equal(types.filter((t) => t === 'audit.recovered').length, 2);
    });
  } finally {
    await proxy.stop();
    await cleanup();
  }
});

test('NATS away for less than publish_retry_ms: the write waits and lands once; after a write used it up, the next is refused at once', { skip, timeout: 30_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  const proxy = new Proxy();
  let stopTrail = async () => {};
  try {
    const key = await newKey(dir);
    const url = await proxy.start();
    await withStream(async (subject, stream) => {
      const { trail, clock, log } = await makeTrail({
        retryIntervalMs: 100,
        config: config({ signing_key_path: key, sinks: [{ type: 'nats', url, subject, stream, create_stream: true, ack_timeout_ms: 300, publish_retry_ms: 3000 }] }),
      });
      // A failed assertion must not leave the sink reconnecting forever (the process would never exit).
      stopTrail = () => trail.close();
      await trail.record(sampleEvent(1));
      // Acks delayed past the ack timeout: the first publishes are stored, but their acks come too late; the
      // re-sends with the same message id are deduplicated, and one of their acks arrives in time.
      proxy.mode = 'slow';
      proxy.delayMs = 500;
      const waited = trail.record(sampleEvent(2));
      setTimeout(() => (proxy.mode = 'pass'), 800);
      await waited;
      assert.equal(trail.ready(), true, 'nothing was refused');

      // Away for longer than publish_retry_ms, on the trail's clock (the sink's retry time runs on it): the first
      // write keeps re-sending while the clock stands still, and is refused only once publish_retry_ms has passed
      // on it; the next write is refused after one attempt, the clock still standing.
      proxy.cut();
      const resends = () => log.lines.filter((l) => l['msg'] === 'audit NATS publish not acknowledged; sending it again').length;
      let firstSettled = false;
      const first = trail.record(sampleEvent(3));
      first.catch(() => {}).finally(() => (firstSettled = true));
      // n re-sends in all, or the first write given up.
      const resent = async (n: number) => {
        while (resends() < n && !firstSettled) await new Promise((r) => setTimeout(r, 20));
      };
      await resent(resends() + 2);
      assert.equal(firstSettled, false, 'the first write re-sends');
      clock.advance(2000); // less than publish_retry_ms less the longest pause between re-sends (500 ms)
      await resent(resends() + 2);
      assert.equal(firstSettled, false, 'the first write still re-sends');
      clock.advance(1000);
      await assert.rejects(first, unavailable);
      const before = resends();
      await assert.rejects(trail.record(sampleEvent(4)), unavailable);
      assert.equal(resends(), before, 'the next write tried once');
      proxy.mode = 'pass';
      for (let i = 0; i < 100 && !trail.ready(); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(trail.ready(), true);
      await trail.record(sampleEvent(5));
      await trail.close();

      const src = await readAuditNats({ url: NATS, subject, stream });
      const r = verifyAuditLog([src], { publicKey: publicKeyFromPem(await readFile(key)), multiChain: true });
      assert.equal(r.ok, true, JSON.stringify(r.error));
      // Each event once, although some were published several times.
      const ids = src.lines.map((l) => JSON.parse(l.text).event_id as string);
      assert.equal(new Set(ids).size, ids.length);
      assert.equal(r.chains[0]!.last_sequence, src.lines.length);
    });
  } finally {
    await stopTrail();
    await proxy.stop();
    await cleanup();
  }
});

test('several instances on one subject: each writes its own chain into the shared stream, restarts find their own tail, verify goes chain by chain', { skip, timeout: 30_000 }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = await newKey(dir);
    const pub = publicKeyFromPem(await readFile(key));
    const pubFile = join(dir, 'pub.pem');
    await writeFile(pubFile, pub.export({ type: 'spki', format: 'pem' }));
    await withStream(async (subject, stream) => {
      // Events of an instance that predates per-chain subjects: published on the bare subject into a stream capturing only it.
      const settings = [new MemorySettings(), new MemorySettings(), new MemorySettings()];
      const chains = [new MemoryChain(), new MemoryChain(), new MemoryChain()];
      const legacy = await makeTrail({ settings: settings[0]!, config: config({ signing_key_path: key, sinks: [{ type: 'file', path: join(dir, 'legacy.log') }] }) });
      for (let i = 0; i < 3; i++) await legacy.trail.record(sampleEvent(i));
      await legacy.trail.close();
      const nc = await connect({ servers: NATS });
      await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [subject] });
      const js = jetstream(nc);
      for (const line of (await readFile(join(dir, 'legacy.log'), 'utf8')).trim().split('\n')) await js.publish(subject, line);
      await nc.close();
      const sink = { type: 'nats', url: NATS, subject, stream, create_stream: true, ack_timeout_ms: 2000 };
      const opened: AuditTrail[] = [];
      const open = async (i: number) => {
        const t = await makeTrail({ settings: settings[i]!, chain: chains[i]!, config: config({ signing_key_path: key, sinks: [sink] }) });
        opened.push(t.trail);
        return t;
      };
      try {
        const trails = await Promise.all([0, 1, 2].map(open));
        // The first continues the legacy chain from its tail on the bare subject.
        assert.equal(trails[0]!.trail.head().sequence, 5); // 3 events, audit.started, this start's audit.started
        const ids = trails.map((t) => t.trail.head().chain_id);
        assert.equal(new Set(ids).size, 3);
        // Interleaved traffic from all three.
        for (let round = 0; round < 5; round++) {
          await Promise.all(trails.map((t, i) => Promise.all(Array.from({ length: 4 }, (_, j) => t.trail.record(sampleEvent(round * 10 + i * 100 + j))))));
        }
        // Restart each in turn while the others keep writing: every one resumes its own chain from the stream. The
        // persisted heads are forgotten, so the stream's tail is the only place each chain's end can come from.
        for (let i = 0; i < 3; i++) {
          const head = trails[i]!.trail.head();
          await trails[i]!.trail.close();
          chains[i]!.heads.clear();
          await trails[(i + 1) % 3]!.trail.record(sampleEvent(999));
          trails[i] = await open(i);
          assert.equal(trails[i]!.trail.head().chain_id, head.chain_id);
          assert.ok(trails[i]!.trail.head().sequence > head.sequence, 'resumed after its own tail, not from genesis');
          await trails[i]!.trail.record(sampleEvent(1000 + i));
        }
        for (const t of trails) await t.trail.close();

        const src = await readAuditNats({ url: NATS, subject, stream });
        const r = verifyAuditLog([src], { publicKey: pub, multiChain: true });
        assert.equal(r.ok, true, JSON.stringify(r.error));
        assert.deepEqual(r.chains.map((c) => c.chain_id).sort(), [...ids].sort());
        assert.equal(r.events, src.lines.length);
        // The CLI, live from the stream ...
        const live = { outs: [] as string[], errs: [] as string[] };
        const cliIo = { out: (l: string) => live.outs.push(l), err: (l: string) => live.errs.push(l), env: {} };
        assert.equal(await run(['verify', '--public-key', pubFile, '--nats', NATS, '--subject', subject, '--stream', stream], cliIo), 0, live.outs.join('\n'));
        assert.equal(live.outs.filter((l) => l.startsWith('OK: chain ')).length, 3);
        // ... and from a dump of it (JSON lines in stream order), which needs --multi-chain.
        const dump = join(dir, 'stream-dump.jsonl');
        await writeFile(dump, src.lines.map((l) => l.text + '\n').join(''));
        const d1 = { outs: [] as string[], errs: [] as string[] };
        assert.equal(await run(['verify', '--public-key', pubFile, '--multi-chain', dump], { out: (l) => d1.outs.push(l), err: (l) => d1.errs.push(l), env: {} }), 0, d1.outs.join('\n'));
        assert.equal(d1.outs.filter((l) => l.startsWith('OK: chain ')).length, 3);
        assert.equal(await run(['verify', '--public-key', pubFile, dump], { out: () => {}, err: () => {}, env: {} }), 1, 'one chain expected without --multi-chain');
        // A chain tampered with inside the shared stream is still caught.
        const lines = src.lines.map((l) => l.text);
        const victim = lines.findIndex((l) => JSON.parse(l).chain_id === ids[1] && JSON.parse(l).sequence === 5);
        lines.splice(victim, 1);
        await writeFile(dump, lines.map((l) => l + '\n').join(''));
        const d2 = { outs: [] as string[] };
        assert.equal(await run(['verify', '--public-key', pubFile, '--multi-chain', dump], { out: (l) => d2.outs.push(l), err: () => {}, env: {} }), 1);
        assert.match(d2.outs.join('\n'), /FAILED: gap at sequence 6/);
      } finally {
        for (const t of opened) await t.close();
      }
    });
  } finally {
    await cleanup();
  }
});
