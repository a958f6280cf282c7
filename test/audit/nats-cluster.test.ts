// The NATS audit sink on a three-node JetStream cluster (three private nats-server processes, a stream with three
// replicas): losing one server under load loses no acknowledged operation and refuses nothing once the stream has
// a leader again; losing two refuses every operation (503 audit.unavailable) until one returns, after which the
// instance resumes by itself; every instance writes its own chain into the shared stream, and an export of the
// stream verifies chain by chain. Measurements (pause, refusals) are reported as diagnostics, never asserted.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { generateSigningKeyFile, publicKeyFromPem } from '../../src/audit/keys.ts';
import { readAuditNats } from '../../src/audit/verify.ts';
import { run as auditCli } from '../../src/cli/commands/audit.ts';
import { startKeyward, type TestKeyward } from '../support/keyward.ts';
import { assertProblem, req } from '../support/http.ts';
import { startNatsCluster } from '../support/nats-cluster.ts';

interface Outcome {
  requestId: string;
  status: number;
  code?: string;
  start: number;
  end: number;
}

function names(id: string) {
  return { subject: `keyward.audit.cluster.${id}`, stream: `KEYWARD_AUDIT_CLUSTER_${id}` };
}

/** A temp directory removed after the test, once the instances opened in it are closed. */
function workspace(t: TestContext): { dir: string; opened: TestKeyward[] } {
  const dir = mkdtempSync(join(tmpdir(), 'kw-nats-cluster-test-'));
  const opened: TestKeyward[] = [];
  t.after(async () => {
    for (const kw of opened) await kw.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, opened };
}

/** One Keyward instance (SQLite of its own) auditing into the cluster's stream, with a shared audit key. */
async function instance(opened: TestKeyward[], dir: string, instanceId: string, key: string, sink: Record<string, unknown>): Promise<TestKeyward> {
  const kw = await startKeyward({
    dir,
    config: {
      server: { instance_id: instanceId },
      audit: { signing_key_path: key, sinks: [{ type: 'file', path: join(dir, 'audit', 'audit.log') }, sink] },
    },
  });
  // Closed by the test to export after the last event, and by t.after when the test fails first: once.
  const close = kw.close.bind(kw);
  let closing: Promise<void> | undefined;
  kw.close = () => (closing ??= close());
  opened.push(kw);
  return kw;
}

async function sign(kw: TestKeyward, keyId: string): Promise<Outcome> {
  const requestId = `rq-${randomUUID()}`;
  const start = Date.now();
  const r = await req(kw.kw.app, { method: 'POST', url: `/v1/keys/${keyId}/sign`, headers: { ...kw.auth, 'x-request-id': requestId }, payload: { message: 'aGk=' } });
  return { requestId, status: r.status, ...(r.status !== 200 ? { code: String(r.body?.code) } : {}), start, end: Date.now() };
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!(await fn())) {
    if (Date.now() - start > timeoutMs) assert.fail(`${what} within ${timeoutMs} ms`);
    await sleep(100);
  }
  return Date.now() - start;
}

test('JetStream cluster, R3 stream: one server lost under load loses no acknowledged event and refuses nothing after re-election; two instances, one chain each, exported and verified', { timeout: 180_000 }, async (t) => {
  // Registered first so that its teardown (closing the instances) runs before the cluster's.
  const { dir, opened } = workspace(t);
  const cluster = await startNatsCluster(t);
  if (!cluster) return;
  const { subject, stream } = names(randomUUID().slice(0, 8));
  const key = join(dir, 'audit.key');
  await generateSigningKeyFile(key);
  // The leader election takes seconds; the sink waits through it rather than refusing.
  const sink = { type: 'nats', url: cluster.url, subject, stream, create_stream: true, replicas: 3, ack_timeout_ms: 2000, publish_retry_ms: 20_000 };
  const a = await instance(opened, join(dir, 'a'), 'kw-a', key, sink);
  const b = await instance(opened, join(dir, 'b'), 'kw-b', key, sink);

  const nc = await connect({ servers: cluster.runningUrls() });
  const info = await (await jetstreamManager(nc)).streams.info(stream);
  await nc.close();
  assert.equal(info.config.num_replicas, 3, 'create_stream made the stream with the configured replicas');

  for (const [kw, id] of [[a, 'ka'], [b, 'kb']] as const) {
    assert.equal((await req(kw.kw.app, { method: 'POST', url: '/v1/keys', headers: kw.auth, payload: { key_id: id, key_type: 'EC-P256' } })).status, 201);
  }

  // Load: four callers per instance, signing back to back, until told to stop.
  const outcomes: Outcome[] = [];
  let stop = false;
  const callers = [a, b].flatMap((kw, i) =>
    Array.from({ length: 4 }, async () => {
      while (!stop) outcomes.push(await sign(kw, i === 0 ? 'ka' : 'kb'));
    }),
  );
  await sleep(1500);
  // The worst case: the server leading the stream goes, so the others must elect a new leader.
  const leader = await cluster.streamLeader(stream);
  assert.ok(leader, 'the stream has a leader');
  const killedAt = Date.now();
  await cluster.kill(cluster.indexOf(leader));
  const electedAfter = await waitFor('a new stream leader', async () => (await cluster.streamLeader(stream)) !== undefined, 60_000);
  const newLeader = (await cluster.streamLeader(stream))!;
  assert.notEqual(newLeader, leader);
  // Keep the load on past the election.
  await sleep(2000);
  stop = true;
  await Promise.all(callers);

  const after = outcomes.filter((o) => o.start >= killedAt);
  const ok = outcomes.filter((o) => o.status === 200);
  const refused = outcomes.filter((o) => o.status !== 200);
  const firstOkAfterKill = Math.min(...after.filter((o) => o.status === 200).map((o) => o.end));
  const pause = Math.max(...after.map((o) => o.end - o.start));
  t.diagnostic(
    `measured: ${outcomes.length} signatures under load (${ok.length} acknowledged), stream leader ${leader} killed; ` +
      `new leader ${newLeader} seen after ${electedAfter} ms; first acknowledged signature ${firstOkAfterKill - killedAt} ms after the kill; ` +
      `longest call after the kill ${pause} ms; refused ${refused.length} (${[...new Set(refused.map((o) => `${o.status} ${o.code}`))].join(', ') || 'none'})`,
  );
  assert.ok(after.some((o) => o.status === 200), 'operations resumed after the kill');
  for (const o of refused) assert.equal(o.code, 'audit.unavailable', JSON.stringify(o));
  assert.deepEqual(refused.filter((o) => o.start >= firstOkAfterKill), [], 'nothing refused once operations were acknowledged again');
  // publish_retry_ms (20 s) is several times the election measured here (4-7 s): callers wait, none is refused.
  assert.deepEqual(refused, [], 'callers waited through the election instead of being refused');

  // Export the shared stream from the two servers left.
  await a.close();
  await b.close();
  const dump = join(dir, 'stream.jsonl');
  const outs: string[] = [];
  const io = { out: (l: string) => outs.push(l), err: (l: string) => outs.push(l), env: {} };
  assert.equal(await auditCli(['export', '--nats', cluster.runningUrls().join(','), '--subject', subject, '--stream', stream, '--out', dump, '--json'], io), 0, outs.join('\n'));
  const summary = JSON.parse(outs.at(-1)!);
  const lines = readFileSync(dump, 'utf8').trim().split('\n');
  assert.equal(summary.chains, 2);
  assert.equal(summary.events, lines.length);
  // Every acknowledged operation has its event in the stream.
  const inStream = new Set(lines.map((l) => String(JSON.parse(l).request_id)));
  const missing = ok.filter((o) => !inStream.has(o.requestId));
  assert.deepEqual(missing, [], `${missing.length} acknowledged operations have no event in the stream`);

  // The dump verifies chain by chain, its ends vouched for by the file sinks' checkpoint sidecars.
  const pub = join(dir, 'audit.pub');
  writeFileSync(pub, publicKeyFromPem(readFileSync(key)).export({ type: 'spki', format: 'pem' }));
  const sidecars = ['a', 'b'].flatMap((i) => ['--checkpoint', join(dir, i, 'audit', 'audit.log.checkpoint')]);
  outs.length = 0;
  assert.equal(await auditCli(['verify', '--public-key', pub, '--multi-chain', '--require-checkpoints', ...sidecars, dump], io), 0, outs.join('\n'));
  assert.equal(outs.filter((l) => l.startsWith('OK: chain ')).length, 2, outs.join('\n'));
  // The dump is not taken on trust: one event removed from it is a gap.
  lines.splice(lines.findIndex((l) => JSON.parse(l).sequence === 10), 1);
  writeFileSync(dump, lines.map((l) => l + '\n').join(''));
  outs.length = 0;
  assert.equal(await auditCli(['verify', '--public-key', pub, '--multi-chain', ...sidecars, dump], io), 1);
  assert.match(outs.join('\n'), /FAILED: gap at sequence 11/);
});

test('JetStream cluster, R3 stream: two servers lost refuses operations (503 audit.unavailable) until one returns, then service resumes by itself', { timeout: 180_000 }, async (t) => {
  // Registered first so that its teardown (closing the instances) runs before the cluster's.
  const { dir, opened } = workspace(t);
  const cluster = await startNatsCluster(t);
  if (!cluster) return;
  const { subject, stream } = names(randomUUID().slice(0, 8));
  const key = join(dir, 'audit.key');
  await generateSigningKeyFile(key);
  const sink = { type: 'nats', url: cluster.url, subject, stream, create_stream: true, replicas: 3, ack_timeout_ms: 1000, publish_retry_ms: 2000 };
  const kw = await instance(opened, join(dir, 'a'), 'kw-a', key, sink);
  assert.equal((await req(kw.kw.app, { method: 'POST', url: '/v1/keys', headers: kw.auth, payload: { key_id: 'k', key_type: 'EC-P256' } })).status, 201);
  const before = await sign(kw, 'k');
  assert.equal(before.status, 200);

  // Two of three gone: no quorum, the stream can store nothing.
  const leader = (await cluster.streamLeader(stream))!;
  const other = cluster.nodes.findIndex((n) => n.name !== leader);
  await cluster.kill(cluster.indexOf(leader));
  await cluster.kill(other);
  const refused: Outcome[] = [];
  for (let i = 0; i < 3; i++) refused.push(await sign(kw, 'k'));
  for (const o of refused) assert.equal(o.status, 503, JSON.stringify(o));
  for (const o of refused) assert.equal(o.code, 'audit.unavailable');
  const created = await req(kw.kw.app, { method: 'POST', url: '/v1/keys', headers: kw.auth, payload: { key_id: 'during-outage', key_type: 'EC-P256' } });
  assertProblem(created, 503, 'audit.unavailable');
  assert.equal(await kw.kw.store.keys.get('during-outage'), undefined, 'the refused create left nothing behind');
  assertProblem(await req(kw.kw.app, { method: 'GET', url: '/readyz' }), 503, 'system.not_ready');
  t.diagnostic(`measured with two servers down: refusals took ${refused.map((o) => o.end - o.start).join(', ')} ms (publish_retry_ms 2000, then one attempt each)`);

  // One comes back: quorum again. Nobody restarts Keyward; it resumes on its own.
  const restartedAt = Date.now();
  await cluster.start(other);
  const outcomes: Outcome[] = [];
  await waitFor('a signature acknowledged again', async () => {
    const o = await sign(kw, 'k');
    outcomes.push(o);
    if (o.status !== 200) assert.equal(o.code, 'audit.unavailable', JSON.stringify(o));
    return o.status === 200;
  }, 90_000);
  t.diagnostic(`measured: first acknowledged signature ${Date.now() - restartedAt} ms after the server was started again (${outcomes.length - 1} refused meanwhile)`);
  await waitFor('ready again', async () => (await req(kw.kw.app, { method: 'GET', url: '/readyz' })).status === 200, 30_000);
  for (let i = 0; i < 5; i++) assert.equal((await sign(kw, 'k')).status, 200);

  // The stream holds every acknowledged operation and says which events were stored late, and the chain verifies.
  await kw.close();
  const src = await readAuditNats({ url: cluster.runningUrls().join(','), subject, stream });
  const events = src.lines.map((l) => JSON.parse(l.text) as { request_id?: string; event_type: string });
  assert.ok(events.some((e) => e.request_id === before.requestId));
  assert.ok(events.some((e) => e.event_type === 'audit.recovered'), 'the chain records its recovery');
  const dump = join(dir, 'stream.jsonl');
  writeFileSync(dump, src.lines.map((l) => l.text + '\n').join(''));
  const pub = join(dir, 'audit.pub');
  writeFileSync(pub, publicKeyFromPem(readFileSync(key)).export({ type: 'spki', format: 'pem' }));
  const outs: string[] = [];
  const io = { out: (l: string) => outs.push(l), err: (l: string) => outs.push(l), env: {} };
  assert.equal(await auditCli(['verify', '--public-key', pub, '--multi-chain', '--checkpoint', join(dir, 'a', 'audit', 'audit.log.checkpoint'), dump], io), 0, outs.join('\n'));
});
