// `npm run soak`: Keyward under a steady mixed load for SOAK_MINUTES (default 10) at half of the capacity measured
// for the same mix first. Passes when no request got an answer other than the one expected, RSS at the end is within
// 10 % of RSS after the first minute, the event loop's p99 delay stayed under 20 ms every minute, and the audit
// trail verifies. A script, not a test: its figures go into the README.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDevProcess } from '../harness/dev-process.ts';
import { freePort } from '../harness/net.ts';

const ROOT = join(import.meta.dirname, '..');
const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const MINUTE_MS = Number(process.env.SOAK_MINUTE_SECONDS ?? 60) * 1000;
const CAPACITY_SECONDS = Number(process.env.SOAK_CAPACITY_SECONDS ?? 20);
const LIMITS = { rssGrowth: 0.1, eventLoopP99Ms: 20 };
const dir = mkdtempSync(join(tmpdir(), 'keyward-soak-'));

// ---- the server: dev mode (SQLite, the identity provider, a bootstrap token) plus an API key, audited to a file
const apiKey = `kwsoak_${randomBytes(24).toString('base64url')}`;
const port = await freePort();
const auditKey = join(dir, 'audit-signing-key.pem');
execFileSync(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), 'audit', 'keygen', '--out', auditKey], { stdio: 'ignore' });
const cfg = join(dir, 'soak.yaml');
writeFileSync(cfg, `mode: dev
server: { port: ${port} }
storage: { type: sqlite, path: ${join(dir, 'keyward.db')} }
seal: { dev_unseal_file: ${join(dir, 'dev-unseal.json')} }
logging: { level: warn }
authn: { type: api_key, keys: [{ id: soak, hash_env: SOAK_API_KEY_HASH, scopes: [keyward.key.soak-*.create, keyward.key.soak-*.sign, keyward.key.soak-*.verify, keyward.key.soak-*.encrypt, keyward.key.soak-*.decrypt, keyward.key.soak-*.rotate] }] }
audit: { signing_key_path: ${auditKey}, checkpoint_interval: 60, sinks: [{ type: file, path: ${join(dir, 'audit', 'audit.log')} }] }
`);
const hash = createHash('sha256').update(apiKey).digest('hex');
const server = await startDevProcess({ config: cfg, cwd: dir, base: `http://127.0.0.1:${port}`, env: { ...process.env, SOAK_API_KEY_HASH: `sha256:${hash}` } });
const pid = server.proc.pid!;
const client = /-u (\S+):(\S+) /.exec(server.stderr());
if (!client) throw new Error('the dev banner named no quickstart client');

const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
interface Answer { status: number; body: string }
function call(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A client-credentials token of the dev realm's service client (role key-user: create, sign, verify, public, list). */
async function serviceToken(): Promise<string> {
  const r = await fetch(`${server.base}/realms/keyward/protocol/openid-connect/token`, {
    method: 'POST',
    headers: { authorization: 'Basic ' + Buffer.from(`${client![1]}:${client![2]}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  if (!r.ok) throw new Error(`token: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { access_token: string }).access_token;
}

const admin = { authorization: `Bearer ${server.token}` };
const byKey = { 'x-api-key': apiKey };
let jwtCaller = { authorization: `Bearer ${await serviceToken()}` };
for (const [id, type] of [['soak-ec', 'EC-P256'], ['soak-aes', 'AES-256-GCM']] as const) {
  const r = await call('POST', '/v1/keys', admin, JSON.stringify({ key_id: id, key_type: type }));
  if (r.status !== 201) throw new Error(`create ${id}: ${r.status} ${r.body}`);
}
const message = randomBytes(32).toString('base64');
const sig = JSON.parse((await call('POST', '/v1/keys/soak-ec/sign', admin, JSON.stringify({ message }))).body) as { signature: string };

// ---- the mix: weight, and an operation that resolves to an error description or undefined when the answer was right
type Op = { name: string; weight: number; run: () => Promise<string | undefined> };
const expect = (want: number) => (a: Answer) => (a.status === want ? undefined : `${a.status} ${a.body.slice(0, 200)}`);
let created = 0;
let rotations = 0;
let lastCreated: string | undefined;
const ops: Op[] = [
  { name: 'sign (JWT caller)', weight: 30, run: () => call('POST', '/v1/keys/soak-ec/sign', jwtCaller, JSON.stringify({ message })).then(expect(200)) },
  { name: 'sign (API key)', weight: 20, run: () => call('POST', '/v1/keys/soak-ec/sign', byKey, JSON.stringify({ message })).then(expect(200)) },
  { name: 'verify (JWT caller)', weight: 8, run: () => call('POST', '/v1/keys/soak-ec/verify', jwtCaller, JSON.stringify({ message, signature: sig.signature })).then((a) => expect(200)(a) ?? (JSON.parse(a.body).valid === true ? undefined : 'signature did not verify')) },
  { name: 'JWT (API key)', weight: 5, run: () => call('POST', '/v1/keys/soak-ec/jwt', byKey, JSON.stringify({ payload: { sub: 'soak', n: created } })).then(expect(200)) },
  {
    name: 'encrypt + decrypt (API key)', weight: 20, run: async () => {
      const plaintext = randomBytes(48).toString('base64');
      const e = await call('POST', '/v1/keys/soak-aes/encrypt', byKey, JSON.stringify({ plaintext }));
      if (e.status !== 200) return `encrypt ${e.status} ${e.body.slice(0, 200)}`;
      const d = await call('POST', '/v1/keys/soak-aes/decrypt', byKey, JSON.stringify({ ciphertext: JSON.parse(e.body).ciphertext }));
      return expect(200)(d) ?? (JSON.parse(d.body).plaintext === plaintext ? undefined : 'decrypt returned other bytes');
    },
  },
  {
    name: 'create (API key)', weight: 3, run: async () => {
      const id = `soak-k${process.pid}-${created++}`;
      const a = await call('POST', '/v1/keys', byKey, JSON.stringify({ key_id: id, key_type: 'EC-P256' }));
      if (a.status === 201) lastCreated = id;
      return expect(201)(a);
    },
  },
  // Every 50th rotation is the shared encryption key's, so decryptions cross versions; the others rotate the newest
  // created key. One key rotated 16 times a second would hold ~10,000 versions after ten minutes, and a key's
  // versions are read whole on a cache miss (like a Vault transit keyring): a load test of one pathological key
  // rather than of the service.
  { name: 'rotate (API key)', weight: 1, run: () => call('POST', `/v1/keys/${rotations++ % 50 === 0 || !lastCreated ? 'soak-aes' : lastCreated}/rotate`, byKey).then(expect(200)) },
  // Refusals, each with its own expected answer.
  { name: 'refused: destroy outside grants', weight: 4, run: () => call('POST', '/v1/keys/soak-ec/destroy', byKey).then(expect(403)) },
  { name: 'refused: unknown key', weight: 3, run: () => call('POST', '/v1/keys/soak-nope/sign', byKey, JSON.stringify({ message })).then(expect(404)) },
  { name: 'refused: malformed JSON', weight: 3, run: () => call('POST', '/v1/keys/soak-ec/sign', byKey, '{"message":').then(expect(400)) },
  { name: 'refused: system key', weight: 2, run: () => call('POST', '/v1/keys/keyward-idp-keyward-es256/sign', jwtCaller, JSON.stringify({ message })).then(expect(403)) },
  { name: 'refused: bad credential', weight: 1, run: () => call('GET', '/v1/keys', { 'x-api-key': 'kwsoak_wrong' }).then(expect(401)) },
];
const totalWeight = ops.reduce((n, o) => n + o.weight, 0);
let cursor = 0;
const schedule: Op[] = [];
for (const o of ops) for (let i = 0; i < o.weight; i++) schedule.push(o);
// Interleave deterministically: a stride through the weighted list visits every op in proportion.
const nextOp = () => schedule[(cursor = (cursor + 37) % totalWeight)]!;

interface Window { done: number; failed: number; latencies: number[]; failures: Map<string, number> }
const fresh = (): Window => ({ done: 0, failed: 0, latencies: [], failures: new Map() });
async function one(w: Window): Promise<void> {
  const op = nextOp();
  const t0 = performance.now();
  let problem: string | undefined;
  try {
    problem = await op.run();
  } catch (e) {
    problem = `transport: ${(e as Error).message}`;
  }
  w.latencies.push(performance.now() - t0);
  w.done++;
  if (problem) {
    w.failed++;
    const k = `${op.name}: ${problem}`;
    w.failures.set(k, (w.failures.get(k) ?? 0) + 1);
  }
}
const pct = (xs: number[], p: number) => (xs.length === 0 ? 0 : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!);
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
async function eventLoopP99Ms(): Promise<number> {
  const m = /^keyward_nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec((await call('GET', '/metrics', {})).body);
  return m ? Number(m[1]) * 1000 : NaN;
}

// ---- warm-up: each operation once, so first-use work (the JWT authenticator's first JWKS fetch, JIT) is not
// measured as capacity or counted against it
for (const op of ops) {
  const problem = await op.run();
  if (problem) throw new Error(`warm-up: ${op.name}: ${problem}`);
}

// ---- capacity: closed loop, 32 in flight, for the same mix
console.log(`soak: measuring capacity for ${CAPACITY_SECONDS} s (32 in flight, the same mix)`);
const capacity = await (async () => {
  const w = fresh();
  const end = performance.now() + CAPACITY_SECONDS * 1000;
  await Promise.all(Array.from({ length: 32 }, async () => { while (performance.now() < end) await one(w); }));
  if (w.failed > 0) console.log(`  (warning: ${w.failed} unexpected answers during the capacity run: ${[...w.failures.keys()].slice(0, 3).join('; ')})`);
  return w.done / CAPACITY_SECONDS;
})();
const rate = Math.max(1, Math.floor(capacity / 2));
console.log(`soak: capacity ${capacity.toFixed(0)} operations/s; running ${MINUTES} min at ${rate}/s`);
await eventLoopP99Ms(); // resets the server's event-loop histogram

// ---- the soak: an even open-loop schedule, a line per minute
const minutes: Array<{ minute: number; ops: number; failed: number; p50: number; p99: number; rssMb: number; eventLoopP99Ms: number }> = [];
const allFailures = new Map<string, number>();
let inFlight = 0;
let maxInFlight = 0;
const started = performance.now();
for (let m = 1; m <= MINUTES; m++) {
  const w = fresh();
  const minuteEnd = started + m * MINUTE_MS;
  let sent = Math.floor(((performance.now() - started) / 1000) * rate);
  const pending = new Set<Promise<void>>();
  while (performance.now() < minuteEnd) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    for (; sent < due; sent++) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const p: Promise<void> = one(w).finally(() => { inFlight--; pending.delete(p); });
      pending.add(p);
    }
    await sleep(5);
  }
  await Promise.all(pending);
  // A fresh token each minute keeps the identity provider in the mix and the token far from expiry.
  jwtCaller = { authorization: `Bearer ${await serviceToken()}` };
  const row = { minute: m, ops: w.done, failed: w.failed, p50: +pct(w.latencies, 50).toFixed(2), p99: +pct(w.latencies, 99).toFixed(2), rssMb: +rssMb().toFixed(1), eventLoopP99Ms: +(await eventLoopP99Ms()).toFixed(2) };
  minutes.push(row);
  for (const [k, v] of w.failures) allFailures.set(k, (allFailures.get(k) ?? 0) + v);
  console.log(`  minute ${String(m).padStart(2)}: ${row.ops} ops, ${row.failed} unexpected, p50 ${row.p50} ms, p99 ${row.p99} ms, RSS ${row.rssMb} MB, event-loop p99 ${row.eventLoopP99Ms} ms`);
}

// ---- the trail: stop the server, then verify everything it wrote
await server.stop();
let verified = false;
let verifyOut = '';
try {
  verifyOut = execFileSync(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), 'audit', 'verify', '--key', auditKey, join(dir, 'audit')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  verified = true;
} catch (e) {
  verifyOut = `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`;
}

const failed = minutes.reduce((n, r) => n + r.failed, 0);
const first = minutes[0]!.rssMb;
const last = minutes.at(-1)!.rssMb;
const growth = (last - first) / first;
const worstLoop = Math.max(...minutes.map((r) => r.eventLoopP99Ms));
const checks = [
  { what: 'no unexpected answers', ok: failed === 0, value: `${failed} of ${minutes.reduce((n, r) => n + r.ops, 0)}` },
  { what: `RSS at the end within ${LIMITS.rssGrowth * 100} % of minute 1`, ok: Math.abs(growth) <= LIMITS.rssGrowth, value: `${first} MB → ${last} MB (${(growth * 100).toFixed(1)} %)` },
  { what: `event-loop p99 under ${LIMITS.eventLoopP99Ms} ms every minute`, ok: worstLoop < LIMITS.eventLoopP99Ms, value: `worst ${worstLoop} ms` },
  { what: 'the audit trail verifies', ok: verified, value: verifyOut.trim().split('\n').at(-1) ?? '' },
];
console.log('\nsoak result');
for (const c of checks) console.log(`  ${c.ok ? 'pass' : 'FAIL'}  ${c.what.padEnd(48)} ${c.value}`);
console.log(`  (capacity ${capacity.toFixed(0)}/s, rate ${rate}/s, most in flight ${maxInFlight}, created keys ${created})`);
for (const [k, v] of [...allFailures].slice(0, 10)) console.log(`  unexpected x${v}: ${k}`);
writeFileSync(join(ROOT, 'bench', 'soak-results.json'), JSON.stringify({ at: new Date().toISOString(), minutes: MINUTES, capacity: Math.round(capacity), rate, checks, per_minute: minutes }, null, 2) + '\n');
agent.destroy();
if (checks.every((c) => c.ok)) rmSync(dir, { recursive: true, force: true });
else console.log(`  (kept ${dir} for inspection)`);
process.exit(checks.every((c) => c.ok) ? 0 : 1);
