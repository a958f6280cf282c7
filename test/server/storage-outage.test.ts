// PostgreSQL going away under load (pg_ctl stop -m fast, then -m immediate) on a private server: keyward serve
// keeps running, answers 503 storage.unavailable (problem+json, audited) and /readyz 503 while the database is
// down, resumes by itself once it is back, and every write it acknowledged is there afterwards.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { generateSigningKeyFile } from '../../src/audit/keys.ts';
import { startDevProcess, type DevProcess } from '../../harness/dev-process.ts';
import { freePort } from '../../harness/net.ts';
import { startPrivatePg, type PrivatePg } from '../support/pg-private.ts';

const WORKERS = 4;
/** Generous: the point is that service resumes by itself, not how fast. */
const RECOVERY_BOUND_MS = 20_000;

interface Outcome {
  status: number;
  code?: string | undefined;
  contentType?: string | undefined;
}

test('PostgreSQL stopped (fast, then immediate) under load: 503 storage.unavailable, no crash, recovery, nothing acknowledged lost', { timeout: 180_000 }, async (t) => {
  const pg = await startPrivatePg(t, 'the storage outage test');
  if (!pg) return;
  const dir = mkdtempSync(join(tmpdir(), 'keyward-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const auditKey = join(dir, 'audit.pem');
  await generateSigningKeyFile(auditKey);
  const auditLog = join(dir, 'audit', 'audit.log');
  const cfg = join(dir, 'keyward.yaml');
  writeFileSync(cfg, `mode: dev
server: { port: ${port} }
storage: { type: postgres, url: "${pg.url}", schema: kw_outage, pool_max: 4 }
seal: { dev_unseal_file: ${join(dir, 'unseal.json')} }
logging: { level: warn }
audit: { signing_key_path: ${auditKey}, sinks: [{ type: file, path: ${auditLog} }] }
`);
  const s: DevProcess = await startDevProcess({ config: cfg, cwd: dir, base: `http://127.0.0.1:${port}` });
  // Stopped before the after-hooks (which stop the database and remove the directory) run.
  try {
    await underLoad(s, pg, auditLog);
  } finally {
    await s.stop();
  }
});

async function underLoad(s: DevProcess, pg: PrivatePg, auditLog: string): Promise<void> {
  const died = () => s.proc.exitCode !== null || s.proc.signalCode !== null;

  const call = async (method: string, path: string, body?: unknown): Promise<Outcome> => {
    const r = await s.request(method, path, body);
    const text = await r.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { code?: string }).code;
    } catch {
      // not JSON
    }
    return { status: r.status, code, contentType: r.headers.get('content-type') ?? undefined };
  };

  assert.equal((await call('POST', '/v1/keys', { key_id: 'signer', key_type: 'EC-P256' })).status, 201);

  // Load: creates (the writes we count) and signatures, until told to stop. A fetch that fails outright means
  // the server is gone, which the test reports rather than retries.
  const acknowledged = new Set<string>();
  const outcomes: Array<Outcome & { op: string; at: number }> = [];
  const transportErrors: string[] = [];
  let stopLoad = false;
  const worker = async (w: number) => {
    for (let n = 0; !stopLoad; n++) {
      const id = `w${w}-k${n}`;
      try {
        const c = await call('POST', '/v1/keys', { key_id: id, key_type: 'EC-P256' });
        outcomes.push({ ...c, op: 'create', at: Date.now() });
        if (c.status === 201) acknowledged.add(id);
        const g = await call('POST', '/v1/keys/signer/sign', { message: 'aGVsbG8=' });
        outcomes.push({ ...g, op: 'sign', at: Date.now() });
      } catch (e) {
        transportErrors.push(String(e));
        await sleep(50);
      }
      if (died()) return;
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
  const waitFor = async (what: string, cond: () => boolean | Promise<boolean>, ms = 30_000) => {
    const until = Date.now() + ms;
    while (!(await cond())) {
      assert.ok(!died(), `keyward serve died while waiting for ${what}:\n${s.stderr().slice(-3000)}`);
      assert.ok(Date.now() < until, `timed out waiting for ${what}`);
      await sleep(50);
    }
  };
  const creates = (since: number, pred: (o: Outcome) => boolean) => outcomes.filter((o) => o.op === 'create' && o.at >= since && pred(o)).length;

  try {
    for (const mode of ['fast', 'immediate'] as const) {
      const upSince = Date.now();
      await waitFor(`creates before the ${mode} stop`, () => creates(upSince, (o) => o.status === 201) >= 20);

      await pg.stop(mode);
      const downSince = Date.now();
      // While the database is down: creates are refused with 503 storage.unavailable, readiness fails.
      await waitFor(`a 503 storage.unavailable during the ${mode} outage`, () => creates(downSince, (o) => o.status === 503 && o.code === 'storage.unavailable') >= 5);
      const ready = await fetch(`${s.base}/readyz`);
      assert.equal(ready.status, 503);
      const readyBody = (await ready.json()) as { code: string; checks: { storage: boolean } };
      assert.equal(readyBody.code, 'system.not_ready');
      assert.equal(readyBody.checks.storage, false);
      const refused = await call('POST', '/v1/keys', { key_id: `probe-${mode}`, key_type: 'EC-P256' });
      assert.deepEqual([refused.status, refused.code], [503, 'storage.unavailable']);
      assert.match(refused.contentType ?? '', /^application\/problem\+json/);
      assert.ok(!died(), `keyward serve died during the ${mode} outage:\n${s.stderr().slice(-3000)}`);

      await pg.start();
      const backSince = Date.now();
      await waitFor(`recovery after the ${mode} outage`, () => creates(backSince, (o) => o.status === 201) >= 5, RECOVERY_BOUND_MS);
      await waitFor('/readyz after recovery', () => fetch(`${s.base}/readyz`).then((r) => r.ok), RECOVERY_BOUND_MS);
    }
  } finally {
    stopLoad = true;
    await Promise.all(workers);
  }

  assert.ok(!died(), `keyward serve died:\n${s.stderr().slice(-3000)}`);
  assert.deepEqual(transportErrors, [], 'every request got an HTTP answer');
  // Every answer was a success or the storage refusal: never a 500.
  const unexpected = outcomes.filter((o) => o.status >= 300 && !(o.status === 503 && o.code === 'storage.unavailable'));
  assert.deepEqual(unexpected.slice(0, 5), [], `unexpected answers: ${unexpected.length}`);

  // Nothing acknowledged is lost: every create answered 201 is there.
  const missing: string[] = [];
  for (const id of acknowledged) {
    const r = await call('GET', `/v1/keys/${id}`);
    if (r.status !== 200) missing.push(`${id}: ${r.status} ${r.code}`);
  }
  assert.deepEqual(missing, [], `${missing.length} of ${acknowledged.size} acknowledged keys are missing`);

  // The refusals were audited with their code.
  const events = readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event_type: string; outcome: string; error_code: string | null });
  assert.ok(events.some((e) => e.event_type === 'key.create' && e.outcome === 'error' && e.error_code === 'storage.unavailable'));
}
