// docs/deploy.md's shape, as real processes: three `keyward serve` (production mode) on one PostgreSQL schema, each
// with its own audit file, each unsealed on its own. Mixed load (create, sign, encrypt, rotate, release) runs across
// the three, as a proxy would spread it; the instance running the background jobs is killed with SIGKILL mid-load.
// Afterwards every acknowledged operation is there (keys, versions, signatures that verify, ciphertexts that
// decrypt, their audit events), another instance has taken over the background jobs (a key released just before
// the kill is destroyed after its grace period), and every instance's chain verifies with `keyward audit verify`.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { generateSigningKeyFile } from '../../src/audit/keys.ts';
import { readAuditPaths } from '../../src/audit/verify.ts';
import type { AuditEvent } from '../../src/audit/canonical.ts';
import { fingerprint } from '../../src/authn/index.ts';
import { pgTestSchema } from '../support/pg.ts';
import { freePort } from '../../harness/net.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const WORKERS = 6;
const GRACE_SECONDS = 2;

interface Instance {
  name: string;
  base: string;
  dir: string;
  proc: ChildProcess;
  stderr: string;
  dead: boolean;
}

test('three instances on one PostgreSQL: SIGKILL of the leader under mixed load loses nothing acknowledged', { timeout: 180_000 }, async (t) => {
  const pg = await pgTestSchema(t, 'the three-instance test');
  if (!pg) return;
  const root = mkdtempSync(join(tmpdir(), 'keyward-scale-'));
  const token = randomBytes(32).toString('base64url');
  const auditKey = join(root, 'audit-signing-key.pem');
  await generateSigningKeyFile(auditKey);
  const env = { ...process.env, KEYWARD_ADMIN_KEY_HASH: fingerprint(token) };
  const instances: Instance[] = [];

  const spawnInstance = async (name: string): Promise<Instance> => {
    const port = await freePort();
    const dir = join(root, name);
    const cfg = join(root, `${name}.yaml`);
    writeFileSync(cfg, `mode: production
server: { host: 127.0.0.1, port: ${port}, instance_id: ${name} }
storage: { type: postgres, url: "${pg.url}", schema: ${pg.schema} }
authn: { type: api_key, keys: [{ id: admin, hash_env: KEYWARD_ADMIN_KEY_HASH, scopes: ["keyward.*"] }] }
keys: { release_grace_period: ${GRACE_SECONDS}s, sweep_interval: 1s }
idp: { enabled: true, base_url: "http://127.0.0.1:${port}", argon2: { memory_kib: 8192, iterations: 1, parallelism: 1 }, realms: [{ name: main, access_token_resource: "urn:keyward:test" }] }
audit: { signing_key_path: ${auditKey}, checkpoint_interval: 1, sinks: [{ type: file, path: ${join(dir, 'audit', 'audit.log')} }] }
logging: { level: warn }
`);
    const proc = spawn(process.execPath, [MAIN, 'serve', '--config', cfg], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env });
    const inst: Instance = { name, base: `http://127.0.0.1:${port}`, dir, proc, stderr: '', dead: false };
    proc.stderr!.on('data', (c: Buffer) => (inst.stderr += c.toString()));
    instances.push(inst);
    for (let i = 0; i < 200; i++) {
      if (await fetch(`${inst.base}/healthz`).then((r) => r.ok, () => false)) return inst;
      if (proc.exitCode !== null) break;
      await sleep(100);
    }
    throw new Error(`${name} did not start:\n${inst.stderr}`);
  };
  const api = async (inst: Instance, method: string, path: string, body?: unknown) => {
    const r = await fetch(inst.base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as any, requestId: r.headers.get('x-request-id') };
  };
  const leads = async (inst: Instance) => /^keyward_leader 1$/m.test(await (await fetch(`${inst.base}/metrics`)).text());

  try {
    // Three processes started at once on an empty schema (as an orchestrator starts replicas); the first
    // initialises the seal, and each is unsealed on its own with the share.
    await Promise.all(['kw-1', 'kw-2', 'kw-3'].map(spawnInstance));
    instances.sort((x, y) => x.name.localeCompare(y.name));
    const init = await api(instances[0]!, 'POST', '/v1/sys/init', { shares: 1, threshold: 1 });
    assert.equal(init.status, 201, JSON.stringify(init.body));
    for (const inst of instances) {
      const before = await api(inst, 'GET', '/v1/sys/status');
      assert.equal(before.body.initialized, true, `${inst.name} sees the seal initialised elsewhere`);
      assert.equal(before.body.sealed, true);
    }
    // At once: each instance's identity provider then starts and finds its keys missing at the same moment.
    await Promise.all(instances.map(async (inst) => {
      const r = await api(inst, 'POST', '/v1/sys/unseal', { share: init.body.shares[0] });
      assert.equal(r.body.sealed, false, `${inst.name}: ${JSON.stringify(r.body)}`);
    }));

    // Propagation between processes: rotate through one instance, read through another until it shows the new
    // version (its key cache would keep the old view for keys.cache_ttl, 5 s, without the announcement). Reported.
    const [p, q] = [instances[0]!, instances[1]!];
    assert.equal((await api(p, 'POST', '/v1/keys', { key_id: 'propagation', key_type: 'AES-256-GCM' })).status, 201);
    const samples: number[] = [];
    for (let i = 0; i < 200; i++) {
      await api(q, 'GET', '/v1/keys/propagation');
      const rotated = await api(p, 'POST', '/v1/keys/propagation/rotate', {});
      const acked = performance.now();
      while ((await api(q, 'GET', '/v1/keys/propagation')).body.current_version !== rotated.body.current_version) {
        if (performance.now() - acked > 10_000) assert.fail(`rotation ${i} not seen through ${q.name} within 10 s`);
      }
      samples.push(performance.now() - acked);
    }
    samples.sort((x, y) => x - y);
    const pct = (n: number) => samples[Math.max(0, Math.min(samples.length - 1, Math.ceil((n / 100) * samples.length) - 1))]!.toFixed(1);
    t.diagnostic(`propagation between processes, ${samples.length} rotations: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${pct(100)} ms (one read ~${pct(0)} ms)`);

    // The identity provider starts on each instance once it is unsealed; they create its keys once between them.
    for (const inst of instances) {
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = (await fetch(`${inst.base}/realms/main/.well-known/openid-configuration`)).status;
        if (status !== 200) await sleep(100);
      }
      assert.equal(status, 200, `${inst.name}: the identity provider started\n${inst.stderr}`);
      assert.doesNotMatch(inst.stderr, /identity provider failed to start/, inst.name);
    }

    const leaders = [];
    for (const inst of instances) if (await leads(inst)) leaders.push(inst);
    assert.equal(leaders.length, 1, 'exactly one instance runs the background jobs');
    const victim = leaders[0]!;

    // What the instances acknowledged (2xx), whichever served it.
    const keys = new Map<string, { type: string; version: number }>();
    const signatures: Array<{ id: string; message: string; signature: string }> = [];
    const ciphertexts: Array<{ id: string; plaintext: string; ciphertext: string }> = [];
    const requests = new Set<string>();
    let released: string | undefined;
    let stop = false;
    let next = 0;
    // Round robin over the live instances, as a proxy does; a refused connection marks the instance down.
    const pick = () => {
      const live = instances.filter((i) => !i.dead);
      return live[next++ % live.length]!;
    };
    const call = async (method: string, path: string, body?: unknown) => {
      for (;;) {
        const inst = pick();
        try {
          const r = await api(inst, method, path, body);
          if (r.status < 300) requests.add(r.requestId!);
          return r;
        } catch {
          // The connection died with the instance: the operation is not acknowledged; try it elsewhere.
          if (inst.proc.exitCode !== null || inst.proc.signalCode !== null) inst.dead = true;
          if (stop) return undefined;
        }
      }
    };
    const worker = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const id = `w${w}-k${n}`;
        const type = n % 2 === 0 ? 'EC-P256' : 'AES-256-GCM';
        const created = await call('POST', '/v1/keys', { key_id: id, key_type: type });
        if (created?.status !== 201) continue;
        keys.set(id, { type, version: 1 });
        const message = randomBytes(16).toString('base64');
        if (type === 'EC-P256') {
          const s = await call('POST', `/v1/keys/${id}/sign`, { message });
          if (s?.status === 200) signatures.push({ id, message, signature: s.body.signature });
        } else {
          const e = await call('POST', `/v1/keys/${id}/encrypt`, { plaintext: message });
          if (e?.status === 200) ciphertexts.push({ id, plaintext: message, ciphertext: e.body.ciphertext });
        }
        const rotated = await call('POST', `/v1/keys/${id}/rotate`, {});
        if (rotated?.status === 200) keys.set(id, { type, version: rotated.body.current_version });
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    await sleep(1500);
    // A key released on the leader just before it dies: destroying it after the grace period is the new leader's job.
    const doomed = await api(victim, 'POST', '/v1/keys', { key_id: 'doomed', key_type: 'EC-P256' });
    assert.equal(doomed.status, 201);
    const release = await api(victim, 'POST', '/v1/keys/doomed/release', {});
    assert.equal(release.status, 200, JSON.stringify(release.body));
    released = 'doomed';
    victim.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await sleep(2000);
    stop = true;
    await Promise.all(workers);
    await new Promise((r) => (victim.proc.exitCode !== null || victim.proc.signalCode !== null ? r(null) : victim.proc.once('exit', r)));
    victim.dead = true;
    const survivors = instances.filter((i) => i !== victim);
    assert.ok(keys.size > 0, 'the instances acknowledged writes');

    // Another instance takes the background jobs over within seconds.
    let newLeader: Instance | undefined;
    while (!newLeader && Date.now() - killedAt < 30_000) {
      for (const inst of survivors) if (await leads(inst)) newLeader = inst;
      if (!newLeader) await sleep(200);
    }
    assert.ok(newLeader, 'a survivor leads within 30 s of the kill');
    t.diagnostic(`${newLeader.name} leads ${((Date.now() - killedAt) / 1000).toFixed(1)} s after ${victim.name} was killed (probed after the load stopped)`);
    let state = '';
    for (let i = 0; i < 100 && state !== 'destroyed'; i++) {
      state = (await api(newLeader, 'GET', `/v1/keys/${released}`)).body.state;
      if (state !== 'destroyed') await sleep(200);
    }
    assert.equal(state, 'destroyed', 'the new leader destroyed the key released on the old one after its grace period');

    // Every acknowledged operation is there, read through each survivor.
    for (const [i, [id, ack]] of [...keys].entries()) {
      const k = await api(survivors[i % 2]!, 'GET', `/v1/keys/${id}`);
      assert.equal(k.status, 200, `acknowledged key ${id} is missing`);
      assert.ok(k.body.current_version >= ack.version, `${id}: version ${k.body.current_version} < acknowledged ${ack.version}`);
    }
    for (const [i, s] of signatures.entries()) {
      const v = await api(survivors[i % 2]!, 'POST', `/v1/keys/${s.id}/verify`, { message: s.message, signature: s.signature });
      assert.equal(v.body.valid, true, `signature by ${s.id}`);
    }
    for (const [i, c] of ciphertexts.entries()) {
      const d = await api(survivors[i % 2]!, 'POST', `/v1/keys/${c.id}/decrypt`, { ciphertext: c.ciphertext });
      assert.equal(d.body.plaintext, c.plaintext, `ciphertext of ${c.id}`);
    }
    t.diagnostic(`${requests.size} acknowledged operations: ${keys.size} keys, ${signatures.length} signatures, ${ciphertexts.length} ciphertexts`);

    for (const inst of survivors) {
      inst.proc.kill('SIGTERM');
      await new Promise((r) => (inst.proc.exitCode !== null ? r(null) : inst.proc.once('exit', r)));
    }
    // Every chain verifies (the killed one may end in a torn line, which verify tolerates), and every acknowledged
    // operation's event is in the chain of the instance that answered it.
    const events = new Set<string>();
    for (const inst of instances) {
      const out = await promisify(execFile)(process.execPath, [MAIN, 'audit', 'verify', '--key', auditKey, join(inst.dir, 'audit')]).then(
        (r) => ({ code: 0, text: r.stdout + r.stderr }),
        (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, text: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
      );
      assert.equal(out.code, 0, `${inst.name}: ${out.text}`);
      const { sources } = await readAuditPaths([join(inst.dir, 'audit')]);
      for (const src of sources) for (const l of src.lines) events.add((JSON.parse(l.text) as AuditEvent).request_id ?? '');
    }
    for (const id of requests) assert.ok(events.has(id), `the event of acknowledged request ${id} is in an audit chain`);
  } finally {
    for (const inst of instances) if (inst.proc.exitCode === null && inst.proc.signalCode === null) inst.proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
    await pg.cleanup();
  }
});
