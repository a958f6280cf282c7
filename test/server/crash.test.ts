// kill -9 of the whole server under write load: after a restart every acknowledged create and rotation is
// there, no key is half-created, every version still has usable material, the audit trail verifies, and no
// acknowledged operation is among the events a restart reports as unconfirmed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { test, type TestContext } from 'node:test';
import { generateSigningKeyFile } from '../../src/audit/keys.ts';
import { readAuditPaths } from '../../src/audit/verify.ts';
import type { AuditEvent } from '../../src/audit/canonical.ts';
import { pgTestSchema } from '../support/pg.ts';
import { startDevProcess, type DevProcess } from '../../harness/dev-process.ts';
import { freePort } from '../../harness/net.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const ROUNDS = 3;
const WORKERS = 6;


const start = (config: string, cwd: string, base: string) => startDevProcess({ config, cwd, base });

for (const dialect of ['sqlite', 'postgres'] as const) {
  test(`${dialect}: SIGKILL of keyward serve under write load loses nothing acknowledged and leaves nothing half-made`, { timeout: 120_000 }, (t) => crashRounds(t, dialect));
}

async function crashRounds(t: TestContext, dialect: 'sqlite' | 'postgres'): Promise<void> {
  const pg = dialect === 'postgres' ? await pgTestSchema(t, 'the whole-server crash test on PostgreSQL') : undefined;
  if (dialect === 'postgres' && !pg) return;
  const dir = mkdtempSync(join(tmpdir(), 'keyward-crash-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const auditKey = join(dir, 'audit.pem');
  await generateSigningKeyFile(auditKey);
  const cfg = join(dir, 'keyward.yaml');
  writeFileSync(cfg, `mode: dev
server: { port: ${port} }
storage: ${pg ? `{ type: postgres, url: "${pg.url}", schema: ${pg.schema} }` : `{ type: sqlite, path: ${join(dir, 'kw.db')} }`}
seal: { dev_unseal_file: ${join(dir, 'unseal.json')} }
logging: { level: warn }
audit: { signing_key_path: ${auditKey}, sinks: [{ type: file, path: ${join(dir, 'audit', 'audit.log')} }] }
`);
  // What the server acknowledged before dying: key id → the version it said was current.
  const acknowledged = new Map<string, { type: string; version: number }>();
  // The request ids of every acknowledged operation: their events are confirmed, whatever happened after.
  const acknowledgedRequests = new Set<string>();
  let running: DevProcess | undefined;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const s = (running = await start(cfg, dir, base));
      let stop = false;
      const worker = async (w: number) => {
        for (let n = 0; !stop; n++) {
          const id = `r${round}-w${w}-k${n}`;
          const type = n % 2 === 0 ? 'EC-P256' : 'AES-256-GCM';
          try {
            const created = await s.request('POST', '/v1/keys', { key_id: id, key_type: type });
            if (created.status !== 201) break;
            acknowledged.set(id, { type, version: 1 });
            acknowledgedRequests.add(created.headers.get('x-request-id')!);
            const rotated = await s.request('POST', `/v1/keys/${id}/rotate`, {});
            if (rotated.status !== 200) break;
            acknowledged.set(id, { type, version: ((await rotated.json()) as { current_version: number }).current_version });
            acknowledgedRequests.add(rotated.headers.get('x-request-id')!);
          } catch {
            break; // the connection died with the server
          }
        }
      };
      const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
      await sleep(400 + randomInt(400));
      s.proc.kill('SIGKILL');
      stop = true;
      await Promise.all(workers);
      await new Promise((r) => (s.proc.exitCode !== null || s.proc.signalCode !== null ? r(null) : s.proc.once('exit', r)));
      assert.ok([...acknowledged.keys()].some((k) => k.startsWith(`r${round}-`)), `round ${round}: the server acknowledged writes before the kill`);
    }

    const s = (running = await start(cfg, dir, base));
    const listed: Array<{ key_id: string; key_type: string; current_version: number }> = [];
    let cursor: string | undefined;
    do {
      const page = (await (await s.request('GET', `/v1/keys?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json()) as {
        keys: typeof listed;
        next_cursor?: string | null;
      };
      listed.push(...page.keys);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    const byId = new Map(listed.map((k) => [k.key_id, k]));
    for (const [id, ack] of acknowledged) {
      const k = byId.get(id);
      assert.ok(k, `acknowledged key ${id} is missing after the crash`);
      assert.ok(k.current_version >= ack.version, `${id}: version ${k.current_version} < acknowledged ${ack.version}`);
    }
    // Every key that exists (acknowledged or caught mid-request) is whole: each version has its material.
    for (const k of listed.filter((x) => x.key_id.startsWith('r'))) {
      // The key's own current_version (a killed session's last commit on PostgreSQL may land after the listing).
      const detail = (await (await s.request('GET', `/v1/keys/${k.key_id}`)).json()) as { current_version: number; versions: Array<{ version: number }> };
      assert.deepEqual(detail.versions.map((v) => v.version), Array.from({ length: detail.current_version }, (_, i) => i + 1), k.key_id);
      const json = async (res: Response) => {
        const text = await res.text();
        assert.equal(res.status, 200, `${k.key_id}: ${text}`);
        return JSON.parse(text) as Record<string, unknown>;
      };
      if (k.key_type === 'EC-P256') {
        const { signature } = await json(await s.request('POST', `/v1/keys/${k.key_id}/sign`, { message: 'aGk=' }));
        assert.equal((await json(await s.request('POST', `/v1/keys/${k.key_id}/verify`, { message: 'aGk=', signature }))).valid, true, k.key_id);
      } else {
        const { ciphertext } = await json(await s.request('POST', `/v1/keys/${k.key_id}/encrypt`, { plaintext: 'aGk=' }));
        assert.equal((await json(await s.request('POST', `/v1/keys/${k.key_id}/decrypt`, { ciphertext }))).plaintext, 'aGk=', k.key_id);
      }
    }
    await s.stop();
    running = undefined;

    // The trail written across three kills and restarts verifies (a torn final line per kill is tolerated).
    const verify = await promisify(execFile)(process.execPath, [MAIN, 'audit', 'verify', '--key', auditKey, join(dir, 'audit')]).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
    );
    assert.equal(verify.code, 0, verify.out);

    // Each restart's audit.started names the events past what every sink had acknowledged: operations that may
    // not have happened. None of them may be one the server acknowledged.
    const { sources } = await readAuditPaths([join(dir, 'audit')]);
    const events = sources.flatMap((src) => src.lines.map((l) => JSON.parse(l.text) as AuditEvent));
    const bySequence = new Map(events.map((e) => [e.sequence, e]));
    const starts = events.filter((e) => e.event_type === 'audit.started');
    assert.equal(starts.length, ROUNDS + 1);
    let unconfirmed = 0;
    for (const st of starts) {
      const { unconfirmed_first_sequence: first, unconfirmed_last_sequence: last } = st.metadata as { unconfirmed_first_sequence?: number; unconfirmed_last_sequence?: number };
      if (first === undefined || last === undefined) continue;
      for (let n = first; n <= last; n++) {
        const e = bySequence.get(n);
        assert.ok(e, `unconfirmed event ${n} is in the log`);
        unconfirmed++;
        assert.ok(!acknowledgedRequests.has(e.request_id!), `acknowledged ${e.event_type} (request ${e.request_id}, sequence ${n}) reported unconfirmed by the start at ${st.sequence}`);
      }
    }
    t.diagnostic(`${acknowledgedRequests.size} acknowledged operations, ${unconfirmed} events reported unconfirmed over ${ROUNDS} kills`);
  } finally {
    running?.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    await pg?.cleanup();
  }
}
