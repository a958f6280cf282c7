// `npm run bench`: Keyward's performance figures, each measured against its baseline in the same run.
// The server runs as its own process on the embedded default (SQLite); load comes from another process.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign as rawSign, type KeyObject } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startDevProcess } from '../harness/dev-process.ts';
import { freePort } from '../harness/net.ts';
import { breakdown, byModule, formatBreakdown, formatThreads, profileOver, threadCpuMs, threadDelta } from './stages.ts';
import { targets, targetTable } from './targets.ts';
import { assertWrk, type Load, wrk } from './wrk.ts';
import { assertH2load, grpcCallsOk, grpcFrame, h2load } from './h2load.ts';

const ROOT = join(import.meta.dirname, '..');
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const NODE = process.execPath;
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const dir = mkdtempSync(join(tmpdir(), 'keyward-bench-'));

interface Measured extends Load { cpuUsPerRequest: number }
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** BENCH_ONLY=sign,grpc,audit,idp,hsm,stages (any of them) runs only those sections. */
const SECTIONS = new Set((process.env.BENCH_ONLY ?? 'sign,grpc,audit,idp,hsm,stages').split(',').map((x) => x.trim()));
const SOFTHSM_MODULE = process.env.KEYWARD_BENCH_SOFTHSM_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
const ROUND_S = Number(process.env.BENCH_ROUND_SECONDS ?? 6);

/** CPU time (user + system) a process has used so far, in ms; Linux /proc. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** Resident memory of a process now and its peak since the last resetPeakRss, in MB; Linux /proc. */
function rssMb(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)![1]);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/**
 * Start-up (policy engine, migrations) may peak higher than serving does: the peak is reset once warm. Where the
 * kernel refuses (no clear_refs), the peak since start stands and the run says so.
 */
let peakSinceStart = false;
function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    peakSinceStart = true;
  }
}

function measured(pid: number, run: () => Load): Measured {
  const before = cpuMs(pid);
  const r = run();
  return { ...r, cpuUsPerRequest: ((cpuMs(pid) - before) * 1000) / Math.max(1, r.total) };
}

/**
 * Ratios between two servers are measured in alternating rounds after a warm-up of each, so a noisy neighbour on a
 * shared VM (rates here swing by a third between runs) hits both sides alike. Server CPU time per request is
 * reported too: it does not depend on how much CPU the load generator leaves over.
 */
function rounds(sides: Array<{ pid: number; run: () => Load }>, eachRound?: () => void, warmed?: () => void): Measured[][] {
  const out: Measured[][] = sides.map(() => []);
  for (const side of sides) measured(side.pid, side.run);
  warmed?.();
  for (let round = 0; round < ROUNDS; round++) {
    sides.forEach((side, i) => out[i]!.push(measured(side.pid, side.run)));
    eachRound?.();
  }
  return out;
}

const median = <T extends { rps: number }>(xs: T[]): T => [...xs].sort((a, b) => a.rps - b.rps)[Math.floor(xs.length / 2)]!;


function load(opts: { url: string; headers: Record<string, string>; body?: string; rate?: number; duration?: number; connections?: number }): Load {
  return wrk({ connections: CONNECTIONS, duration: DURATION, body: '', ...opts });
}

/** The reference route (bench/ceiling.ts) as its own process. */
async function startCeiling(nodeArgs: string[] = []): Promise<{ base: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(NODE, [...nodeArgs, join(ROOT, 'bench', 'ceiling.ts'), String(port)], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((r) => proc.stdout!.once('data', () => r()));
  return { base: `http://127.0.0.1:${port}`, proc };
}

interface Server { base: string; token: string; client: { id: string; secret: string } | undefined; proc: ChildProcess; stop(): Promise<void> }

/**
 * `db`: servers that run at the same time need databases of their own (one Keyward per data directory). `server`:
 * more of the server section (`, grpc: { port: 1234 }`).
 */
async function startServer(name: string, extra: string | ((port: number) => string), before?: (cfg: string) => void, db = 'keyward', server = ''): Promise<Server> {
  const port = await freePort();
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(cfg, `mode: dev
server: { port: ${port}${server} }
storage: { type: sqlite, path: ${join(dir, `${db}.db`)} }
seal: { dev_unseal_file: ${join(dir, `${db}-unseal.json`)} }
logging: { level: warn }
${typeof extra === 'string' ? extra : extra(port)}
`);
  before?.(cfg);
  const p = await startDevProcess({ config: cfg, cwd: dir, base: `http://127.0.0.1:${port}`, env: { ...process.env, ...benchEnv } });
  const m = /-u (\S+):(\S+) /.exec(p.stderr());
  return { base: p.base, token: p.token, client: m ? { id: m[1]!, secret: m[2]! } : undefined, proc: p.proc, stop: p.stop };
}

async function api(s: Server, path: string, body: unknown, token = s.token) {
  const r = await fetch(s.base + path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok && r.status !== 409) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json() as Promise<Record<string, unknown>>;
}

/** The signing key, imported so raw signing uses the very same key (a second import is a harmless 409). */
async function importBenchKey(s: Server): Promise<void> {
  await api(s, '/v1/keys/import', { key_id: 'bench-es256', key_type: 'EC-P256', private_key_pem: privateKey.export({ type: 'pkcs8', format: 'pem' }) });
}

function rawRate(key: KeyObject, message: Buffer, ms = 2000): number {
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) rawSign('sha256', message, key);
    n += 100;
  }
  return n / (ms / 1000);
}

// ---- shared fixtures: the signing key (imported so raw signing uses the very same key), a JWKS issuer, an audit key
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const message = randomBytes(32);
const signBody = JSON.stringify({ message: message.toString('base64') });
const auditKey = join(dir, 'audit-signing-key.pem');
execFileSync(NODE, [join(ROOT, 'src', 'cli', 'main.ts'), 'audit', 'keygen', '--out', auditKey], { stdio: 'ignore' });

const jwtKeys = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(jwtKeys.publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
const jwksServer = http.createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [jwk] })));
await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks`;
const jwt = await new SignJWT({ permissions: ['keyward.key.bench-es256.sign'] })
  .setProtectedHeader({ alg: 'ES256', kid: 'bench', typ: 'at+jwt' })
  .setIssuer('https://bench-idp').setAudience('keyward').setSubject('bench-service').setIssuedAt().setExpirationTime('2h')
  .sign(jwtKeys.privateKey);
const benchEnv: NodeJS.ProcessEnv = {};

const policies = join(dir, 'policies');
mkdirSync(policies);
copyFileSync(join(ROOT, 'policies', 'keyward.cedarschema'), join(policies, 'keyward.cedarschema'));
writeFileSync(join(policies, 'bench.cedar'), '@id("bench-sign")\npermit (principal, action == Action::"kms:Sign", resource is Key) when { resource has state && resource.state == "enabled" };\n');

const AUDIT_OFF = 'audit: { enabled: false }';
// The key-service sections run without dev mode's identity provider (a key service deployed on its own has none; its
// section has a server of its own): `mode: dev` would otherwise mount one, with its memory and background work.
const NO_IDP = 'idp: { enabled: false }';
const SMALL_SEMI_SPACE_MB = 8;
// Each server its own trail: a file sink holds one chain, and every database (server) has its own.
const auditFile = (name: string) => `audit: { signing_key_path: ${auditKey}, checkpoint_interval: 60, sinks: [{ type: file, path: ${join(dir, `audit-${name}`, 'audit.log')} }] }`;
const JWT_LEAF = `{ type: jwt, issuer: https://bench-idp, audience: keyward, jwks_url: ${jwksUrl}, algorithms: [ES256] }`;
const JWT_AUTHN = `authn: ${JWT_LEAF}`;
// The signing caller of the sign section: an API key (a service's credential; the bootstrap token warns in the log
// on every use, which is its point), next to the JWT issuer for the JWT callers.
const apiKey = `kwbench_${randomBytes(24).toString('base64url')}`;
benchEnv['BENCH_API_KEY_HASH'] = `sha256:${createHash('sha256').update(apiKey).digest('hex')}`;
const API_KEY_AND_JWT = `authn: { type: chain, authenticators: [{ type: api_key, keys: [{ id: bench, hash_env: BENCH_API_KEY_HASH, scopes: [keyward.key.bench-es256.sign] }] }, ${JWT_LEAF}] }`;
const CEDAR = `authz: { pdp: { type: cedar, policies_path: ${policies}, schema_path: ${join(policies, 'keyward.cedarschema')}, watch: false } }`;
const CEDAR_UNCACHED = CEDAR.replace('watch: false', 'watch: false, decision_cache_seconds: 0');

const results: Record<string, unknown> = {};
const line = (label: string, v: string) => console.log(`${label.padEnd(58)} ${v}`);
const fmt = (r: Pick<Load, 'rps' | 'p50' | 'p99'>) => `${r.rps.toFixed(0)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms`;
const fmtFixed = (r: Load) => `${fmt(r)}  max ${r.max} ms`;

try {
  assertWrk();
  if (SECTIONS.has('grpc')) assertH2load();
  console.log(`Keyward benchmark: wrk, ${DURATION}s per run, ${CONNECTIONS} connections, Node ${process.version}, ${(await import('node:os')).cpus().length} CPUs\n`);

  let s: Server;
  // ---- issue 2: served ES256 signing vs raw crypto.sign for the same key; latency at 1,000 req/s. Keyward, the bare
  // reference route and raw signing take turns, so the VM's swings hit all three alike.
  if (SECTIONS.has('sign')) {
    s = await startServer('audit-off', `${NO_IDP}\n${AUDIT_OFF}\n${API_KEY_AND_JWT}`);
    await importBenchKey(s);
    const auth = { 'x-api-key': apiKey, 'content-type': 'application/json' };
    const url = `${s.base}/v1/keys/bench-es256/sign`;
    const ceiling = await startCeiling();
    const ceilingUrl = `${ceiling.base}/sign`;
    const json = { 'content-type': 'application/json' };
    const raws: number[] = [];
    const rssAfterRounds: number[] = [];
    const pid = s.proc.pid!;
    const [servedRounds, ceilingRounds] = rounds([
      { pid, run: () => load({ url, headers: auth, body: signBody, duration: ROUND_S }) },
      { pid: ceiling.proc.pid!, run: () => load({ url: ceilingUrl, headers: json, body: signBody, duration: ROUND_S }) },
    ], () => (rssAfterRounds.push(rssMb(pid).now), raws.push(rawRate(privateKey, message))), () => (resetPeakRss(pid), resetPeakRss(ceiling.proc.pid!)));
    // The bare route's peak beside Keyward's: what Node, Fastify and OpenSSL's threads take on this machine alone.
    const rss = { peak_mb: rssMb(pid).peak, after_rounds_mb: rssAfterRounds, bare_route_peak_mb: rssMb(ceiling.proc.pid!).peak, ...(peakSinceStart ? { peak_includes_start_up: true } : {}) };
    const served = median(servedRounds!);
    const bareRoute = median(ceilingRounds!);
    const raw = [...raws].sort((x, y) => x - y)[Math.floor(raws.length / 2)]!;
    const fixed = load({ url, headers: auth, body: signBody, rate: 1000, connections: 16 });
    // The machine's own floor for the latency target: the bare route at the same fixed rate.
    const ceilingFixed = load({ url: ceilingUrl, headers: json, body: signBody, rate: 1000, connections: 16 });
    ceiling.proc.kill();
    const jwtBuiltin = load({ url, headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' }, body: signBody });
    await s.stop();
    // What a deployment can trade: V8 sizes its young generation from the machine's memory (64 MB of semi-spaces
    // here, the bulk of the RSS under load); a smaller one costs more frequent scavenges. Same store, one run.
    benchEnv['NODE_OPTIONS'] = `${process.env['NODE_OPTIONS'] ?? ''} --max-semi-space-size=${SMALL_SEMI_SPACE_MB}`.trim();
    const small = await startServer('audit-off', `${NO_IDP}\n${AUDIT_OFF}\n${API_KEY_AND_JWT}`);
    delete benchEnv['NODE_OPTIONS'];
    measured(small.proc.pid!, () => load({ url: `${small.base}/v1/keys/bench-es256/sign`, headers: auth, body: signBody, duration: ROUND_S }));
    resetPeakRss(small.proc.pid!);
    const smallRun = measured(small.proc.pid!, () => load({ url: `${small.base}/v1/keys/bench-es256/sign`, headers: auth, body: signBody, duration: ROUND_S }));
    const smallYoung = { semi_space_mb: SMALL_SEMI_SPACE_MB, peak_mb: rssMb(small.proc.pid!).peak, rps: smallRun.rps, cpu_us_per_request: smallRun.cpuUsPerRequest };
    await small.stop();
    line(`raw crypto.sign ES256 (same key), median of ${ROUNDS}`, `${raw.toFixed(0)} ops/s  (rounds: ${raws.map((r) => r.toFixed(0)).join(', ')})`);
    line(`reference: bare Fastify route signing on the threadpool, median of ${ROUNDS}`, `${fmt(bareRoute)}  (${((bareRoute.rps / raw) * 100).toFixed(1)}% of raw)  ${bareRoute.cpuUsPerRequest.toFixed(0)} µs CPU/request`);
    line(`served ES256 sign, API key, audit off, median of ${ROUNDS}`, `${fmt(served)}  ${served.cpuUsPerRequest.toFixed(0)} µs CPU/request`);
    line('  ratio served / raw', `${((served.rps / raw) * 100).toFixed(1)}%  (rounds: ${servedRounds!.map((r) => r.rps.toFixed(0)).join(', ')})`);
    line('  ratio served / bare route (target >= 75%)', `${((served.rps / bareRoute.rps) * 100).toFixed(1)}%`);
    line('  server CPU per request, served / bare route (target <= 1.35x)', `${(served.cpuUsPerRequest / bareRoute.cpuUsPerRequest).toFixed(2)}x`);
    line('  server RSS under the sign load (target <= 150 MB)', `peak ${rss.peak_mb.toFixed(0)} MB${peakSinceStart ? ' (since start: the peak could not be reset)' : ''}, after each round ${rssAfterRounds.map((m) => m.toFixed(0)).join(', ')} MB; bare route's peak ${rss.bare_route_peak_mb.toFixed(0)} MB`);
    line(`  same server started with --max-semi-space-size=${SMALL_SEMI_SPACE_MB} (one run)`, `peak ${smallYoung.peak_mb.toFixed(0)} MB, ${smallYoung.rps.toFixed(0)} req/s, ${smallYoung.cpu_us_per_request.toFixed(0)} µs CPU/request`);
    line('served at a fixed 1,000 req/s', fmtFixed(fixed));
    line('reference: bare Fastify route at the same fixed 1,000 req/s', fmtFixed(ceilingFixed));
    results['sign'] = { rss: { ...rss, small_young_generation: smallYoung }, raw_ops: raw, raw_rounds: raws, bare_fastify_reference: bareRoute, bare_fastify_rounds: ceilingRounds, bare_fastify_fixed_1000: ceilingFixed, served, served_rounds: servedRounds, fixed_1000: fixed, ratio: served.rps / raw };

    // ---- issue 3: JWT caller with the builtin PDP, and with the embedded Cedar PDP, vs the API key
    s = await startServer('cedar', `${NO_IDP}\n${AUDIT_OFF}\n${JWT_AUTHN}\n${CEDAR}`);
    const cedar = load({ url: `${s.base}/v1/keys/bench-es256/sign`, headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' }, body: signBody });
    await s.stop();
    line('JWT caller + builtin PDP', fmt(jwtBuiltin));
    line('  ratio JWT+builtin / API key (target >= 85%)', `${((jwtBuiltin.rps / served.rps) * 100).toFixed(1)}%`);
    line('JWT caller + embedded Cedar PDP (default: decisions reused)', fmt(cedar));
    line('  ratio JWT+Cedar / API key (target >= 60%)', `${((cedar.rps / served.rps) * 100).toFixed(1)}%`);
    s = await startServer('cedar-uncached', `${NO_IDP}\n${AUDIT_OFF}\n${JWT_AUTHN}\n${CEDAR_UNCACHED}`);
    const cedarUncached = load({ url: `${s.base}/v1/keys/bench-es256/sign`, headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' }, body: signBody });
    await s.stop();
    line('JWT caller + Cedar PDP, decision_cache_seconds: 0 (every request evaluated)', fmt(cedarUncached));
    line('  ratio JWT+Cedar(uncached) / API key', `${((cedarUncached.rps / served.rps) * 100).toFixed(1)}%`);
    results['authz'] = { jwt_builtin: jwtBuiltin, jwt_cedar: cedar, jwt_cedar_uncached: cedarUncached, ratio_builtin: jwtBuiltin.rps / served.rps, ratio_cedar: cedar.rps / served.rps, ratio_cedar_uncached: cedarUncached.rps / served.rps };
  }

  // ---- issue 12: ES256 signing over gRPC beside REST: one server, the same key, token and number of calls in flight,
  // taking turns. REST load from wrk (32 connections), gRPC load from h2load (32 calls in flight on one connection,
  // as a gRPC channel multiplexes them): both C load generators, so neither side pays for a Node client's CPU.
  if (SECTIONS.has('grpc')) {
    const grpcPort = await freePort();
    s = await startServer('grpc', `${NO_IDP}\n${AUDIT_OFF}`, undefined, 'grpc', `, grpc: { port: ${grpcPort} }`);
    await importBenchKey(s);
    const auth = { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' };
    const frame = grpcFrame('keyward.v1.SignRequest', { keyId: 'bench-es256', message });
    const grpcUrl = `http://127.0.0.1:${grpcPort}/keyward.v1.KeyService/Sign`;
    // h2load sees HTTP 200 for every unary call whatever its gRPC status: the server's count of OK calls must match.
    const okBefore = await grpcCallsOk(s.base, 'Sign');
    const [restRounds, grpcRounds] = rounds([
      { pid: s.proc.pid!, run: () => load({ url: `${s.base}/v1/keys/bench-es256/sign`, headers: auth, body: signBody, duration: ROUND_S }) },
      { pid: s.proc.pid!, run: () => h2load({ url: grpcUrl, headers: { authorization: `Bearer ${s.token}` }, frame, streams: CONNECTIONS, duration: ROUND_S }) },
    ]);
    const ok = (await grpcCallsOk(s.base, 'Sign')) - okBefore;
    await s.stop();
    const sent = grpcRounds!.reduce((n, r) => n + r.total, 0);
    // Warm-up runs are not in the rounds: at least every measured call must have ended OK.
    if (ok < sent) throw new Error(`gRPC: h2load completed ${sent} calls but the server counted ${ok} OK: the gRPC figures are not signatures`);
    const rest = median(restRounds!);
    const overGrpc = median(grpcRounds!);
    line(`served ES256 sign over REST (wrk, ${CONNECTIONS} connections), median of ${ROUNDS}`, `${fmt(rest)}  ${rest.cpuUsPerRequest.toFixed(0)} µs CPU/request`);
    line(`served ES256 sign over gRPC (h2load, ${CONNECTIONS} calls in flight on one connection), median of ${ROUNDS}`, `${fmt(overGrpc)}  ${overGrpc.cpuUsPerRequest.toFixed(0)} µs CPU/request`);
    line('  ratio gRPC / REST', `${((overGrpc.rps / rest.rps) * 100).toFixed(1)}%  (rounds: ${grpcRounds!.map((r) => r.rps.toFixed(0)).join(', ')} vs ${restRounds!.map((r) => r.rps.toFixed(0)).join(', ')})`);
    line('  server CPU per request, REST / gRPC', `${((rest.cpuUsPerRequest / overGrpc.cpuUsPerRequest) * 100).toFixed(1)}%`);
    results['grpc'] = { rest, grpc: overGrpc, rest_rounds: restRounds, grpc_rounds: grpcRounds, ratio: overGrpc.rps / rest.rps, cpu_ratio: rest.cpuUsPerRequest / overGrpc.cpuUsPerRequest };
  }

  // ---- issue 4: the durable, signed, chained file sink vs audit off
  if (SECTIONS.has('audit')) {
    // A JWT caller on both sides: a bootstrap token would add its own audit event to every request. Both servers run
    // side by side and take turns under load (see `rounds`), each on its own store (one Keyward per database).
    const offServer = await startServer('audit-off-jwt', `${NO_IDP}\n${AUDIT_OFF}\n${JWT_AUTHN}`, undefined, 'audit-off');
    s = await startServer('audit-file', `${NO_IDP}\n${auditFile('audit-file')}\n${JWT_AUTHN}`);
    await importBenchKey(offServer);
    await importBenchKey(s);
    const jwtHeaders = { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' };
    const signLoad = (base: string) => () => load({ url: `${base}/v1/keys/bench-es256/sign`, headers: jwtHeaders, body: signBody, duration: ROUND_S });
    const [offRounds, auditedRounds] = rounds([{ pid: offServer.proc.pid!, run: signLoad(offServer.base) }, { pid: s.proc.pid!, run: signLoad(s.base) }]);
    const auditedFixed = load({ url: `${s.base}/v1/keys/bench-es256/sign`, headers: jwtHeaders, body: signBody, rate: 1000, connections: 16 });
    await s.stop();
    await offServer.stop();
    const auditOff = median(offRounds!);
    const audited = median(auditedRounds!);
    line(`served ES256 sign, JWT caller, audit off, median of ${ROUNDS}`, `${fmt(auditOff)}  ${auditOff.cpuUsPerRequest.toFixed(0)} µs CPU/request`);
    line(`served ES256 sign, JWT caller, audit to file (fsync, group commit), median of ${ROUNDS}`, `${fmt(audited)}  ${audited.cpuUsPerRequest.toFixed(0)} µs CPU/request`);
    line('  ratio audited / audit off, both JWT (target >= 75%)', `${((audited.rps / auditOff.rps) * 100).toFixed(1)}%  (rounds: ${auditedRounds!.map((r) => r.rps.toFixed(0)).join(', ')} vs ${offRounds!.map((r) => r.rps.toFixed(0)).join(', ')})`);
    line('  server CPU per request, audited - audit off (target <= 50 µs)', `${(audited.cpuUsPerRequest - auditOff.cpuUsPerRequest).toFixed(0)} µs`);
    line('audited at a fixed 1,000 req/s (target p99 <= 5 ms)', fmtFixed(auditedFixed));
    results['audit'] = { file: audited, file_fixed_1000: auditedFixed, baseline_audit_off_jwt: auditOff, file_rounds: auditedRounds, audit_off_rounds: offRounds, ratio: audited.rps / auditOff.rps };
  }

  // ---- issue 5: Keyward's IdP and a bare oidc-provider side by side, taking turns under load (see `rounds`)
  if (SECTIONS.has('idp')) {
    s = await startServer('idp', AUDIT_OFF);
    const client = idpClient(s);
    const ccBody = 'grant_type=client_credentials';
    const ccHeaders = { authorization: 'Basic ' + Buffer.from(`${client.id}:${client.secret}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' };
    const barePort = await freePort();
    const bare = spawn(NODE, [join(ROOT, 'bench', 'bare-oidc.ts'), String(barePort)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => bare.stdout!.once('data', () => r()));
    const bareHeaders = { authorization: 'Basic ' + Buffer.from('bench:bench-secret-0123456789').toString('base64'), 'content-type': 'application/x-www-form-urlencoded' };
    const bareUrl = `http://127.0.0.1:${barePort}/token`;
    const [kwRounds, bareRounds] = rounds([
      { pid: s.proc.pid!, run: () => load({ url: client.tokenUrl, headers: ccHeaders, body: ccBody, duration: ROUND_S }) },
      { pid: bare.pid!, run: () => load({ url: bareUrl, headers: bareHeaders, body: ccBody, duration: ROUND_S }) },
    ]);
    bare.kill();
    await s.stop();
    const kwTokens = median(kwRounds!);
    const bareTokens = median(bareRounds!);
    line(`client-credentials tokens, Keyward IdP (ES256 in key service), median of ${ROUNDS}`, `${fmt(kwTokens)}  ${kwTokens.cpuUsPerRequest.toFixed(0)} µs CPU/token`);
    line(`client-credentials tokens, bare oidc-provider (in-memory), median of ${ROUNDS}`, `${fmt(bareTokens)}  ${bareTokens.cpuUsPerRequest.toFixed(0)} µs CPU/token`);
    line('  ratio Keyward / bare (target >= 85%)', `${((kwTokens.rps / bareTokens.rps) * 100).toFixed(1)}%  (rounds: ${kwRounds!.map((r) => r.rps.toFixed(0)).join(', ')} vs ${bareRounds!.map((r) => r.rps.toFixed(0)).join(', ')})`);
    line('  server CPU per token, bare / Keyward', `${((bareTokens.cpuUsPerRequest / kwTokens.cpuUsPerRequest) * 100).toFixed(1)}%`);
    const argon = await argonRate();
    line('argon2id verifications/s in one thread, m=19456 KiB t=2 p=1', `${argon.toFixed(1)} /s`);
    const logins = await loginRate();
    line('password logins/s through the login form (auth code + PKCE, default argon2id)', fmt(logins));
    results['idp'] = { keyward: kwTokens, bare: bareTokens, keyward_rounds: kwRounds, bare_rounds: bareRounds, ratio: kwTokens.rps / bareTokens.rps, cpu_ratio: bareTokens.cpuUsPerRequest / kwTokens.cpuUsPerRequest, argon2_verifications_per_s: argon, password_logins: logins };
  }

  // ---- issue 13: ES256 signing with the key in a SoftHSM2 token (PKCS#11 provider) beside a software key, on one
  // server, taking turns. Optional: without SoftHSM2 the section says so and the rest of the run stands.
  if (SECTIONS.has('hsm')) {
    const softhsm = softHsmToken();
    if (typeof softhsm === 'string') {
      line('HSM sign (SoftHSM2, PKCS#11 provider)', `skipped: ${softhsm}`);
      results['hsm'] = { skipped: softhsm };
    } else {
      benchEnv['SOFTHSM2_CONF'] = softhsm.conf;
      benchEnv['KEYWARD_BENCH_PKCS11_PIN'] = softhsm.pin;
      s = await startServer('hsm', `${NO_IDP}\n${AUDIT_OFF}\nkeys: { providers: { pkcs11: { module: ${SOFTHSM_MODULE}, token_label: bench, pin_env: KEYWARD_BENCH_PKCS11_PIN } } }`, undefined, 'hsm');
      await api(s, '/v1/keys', { key_id: 'bench-soft', key_type: 'EC-P256', provider: 'software' });
      await api(s, '/v1/keys', { key_id: 'bench-hsm', key_type: 'EC-P256', provider: 'pkcs11' });
      const auth = { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' };
      const [softRounds, hsmRounds] = rounds([
        { pid: s.proc.pid!, run: () => load({ url: `${s.base}/v1/keys/bench-soft/sign`, headers: auth, body: signBody, duration: ROUND_S }) },
        { pid: s.proc.pid!, run: () => load({ url: `${s.base}/v1/keys/bench-hsm/sign`, headers: auth, body: signBody, duration: ROUND_S }) },
      ]);
      await s.stop();
      const soft = median(softRounds!);
      const inHsm = median(hsmRounds!);
      line(`served ES256 sign, software key, median of ${ROUNDS}`, `${fmt(soft)}  ${soft.cpuUsPerRequest.toFixed(0)} µs CPU/request`);
      line(`served ES256 sign, key in SoftHSM2 (PKCS#11), median of ${ROUNDS}`, `${fmt(inHsm)}  ${inHsm.cpuUsPerRequest.toFixed(0)} µs CPU/request`);
      line('  ratio HSM / software', `${((inHsm.rps / soft.rps) * 100).toFixed(1)}%  (rounds: ${hsmRounds!.map((r) => r.rps.toFixed(0)).join(', ')} vs ${softRounds!.map((r) => r.rps.toFixed(0)).join(', ')})`);
      results['hsm'] = { software: soft, softhsm: inHsm, software_rounds: softRounds, softhsm_rounds: hsmRounds, ratio: inHsm.rps / soft.rps };
    }
  }

  // ---- issue 16: where a served request's CPU goes, stage by stage (bench/stages.ts): the bare reference route,
  // Keyward with audit off (API key, as in the sign section) and JWT callers with audit off and audited
  if (SECTIONS.has('stages')) {
    const stages: Record<string, unknown> = {};
    const profiled = async (name: string, file: string, pid: number, inspectPort: number, run: () => Load, modules = false) => {
      run();
      const threads0 = threadCpuMs(pid, CLOCK_TICKS);
      const profiler = await profileOver(inspectPort);
      const r = measured(pid, run);
      const profile = await profiler.stop();
      const threads = threadDelta(threads0, threadCpuMs(pid, CLOCK_TICKS), r.total);
      writeFileSync(join(ROOT, 'bench', `last-profile-${file}.cpuprofile`), JSON.stringify(profile));
      const mainUs = (threads.find((t) => t.thread === 'main thread')?.usPerRequest ?? 0) * r.total;
      if (modules) {
        // Token issuance does not go through the key API's stages: where its time goes is told by module.
        const m = byModule(profile, r.total, mainUs);
        console.log(`\nCPU by module, ${name}: ${fmt(r)} under the profiler`);
        for (const x of m.slice(0, 14)) console.log(`  ${x.module.padEnd(32)} ${x.usPerRequest.toFixed(1).padStart(10)} ${(x.share * 100).toFixed(1).padStart(6)}%`);
        for (const l of formatThreads(threads, r.cpuUsPerRequest)) console.log(l);
        stages[file] = { what: name, load: r, modules: m, threads };
        return;
      }
      const b = breakdown(profile, r.total, mainUs);
      console.log(`\nper-stage CPU, ${name}: ${fmt(r)} under the profiler`);
      for (const l of formatBreakdown(b, threads, r.cpuUsPerRequest)) console.log(l);
      stages[file] = { what: name, load: r, main_thread_us_per_request: b.mainUsPerRequest, stages: b.stages, threads, top_self_time: b.top };
    };
    const json = { 'content-type': 'application/json' };
    let inspectPort = await freePort();
    const ceiling = await startCeiling([`--inspect=127.0.0.1:${inspectPort}`]);
    await profiled('bare Fastify reference route', 'reference', ceiling.proc.pid!, inspectPort, () => load({ url: `${ceiling.base}/sign`, headers: json, body: signBody, duration: ROUND_S }));
    ceiling.proc.kill();
    for (const [file, name, audit, caller] of [
      ['apikey-audit-off', 'served ES256 sign, API key, audit off', AUDIT_OFF, 'api_key'],
      ['jwt-audit-off', 'served ES256 sign, JWT caller, audit off', AUDIT_OFF, 'jwt'],
      ['jwt-audited', 'served ES256 sign, JWT caller, audit to file (fsync, group commit)', auditFile('stages-jwt-audited'), 'jwt'],
    ] as const) {
      inspectPort = await freePort();
      benchEnv['NODE_OPTIONS'] = `${process.env['NODE_OPTIONS'] ?? ''} --inspect=127.0.0.1:${inspectPort}`;
      s = await startServer(`stages-${file}`, `${NO_IDP}\n${audit}\n${API_KEY_AND_JWT}`, undefined, `stages-${file}`);
      delete benchEnv['NODE_OPTIONS'];
      await importBenchKey(s);
      const headers = { ...(caller === 'jwt' ? { authorization: `Bearer ${jwt}` } : { 'x-api-key': apiKey }), 'content-type': 'application/json' };
      await profiled(name, file, s.proc.pid!, inspectPort, () => load({ url: `${s.base}/v1/keys/bench-es256/sign`, headers, body: signBody, duration: ROUND_S }));
      await s.stop();
    }
    // Client-credentials tokens: Keyward's identity provider and the bare oidc-provider (bench/bare-oidc.ts).
    const ccBody = 'grant_type=client_credentials';
    inspectPort = await freePort();
    const barePort = await freePort();
    const bare = spawn(NODE, [`--inspect=127.0.0.1:${inspectPort}`, join(ROOT, 'bench', 'bare-oidc.ts'), String(barePort)], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((r) => bare.stdout!.once('data', () => r()));
    const bareHeaders = { authorization: 'Basic ' + Buffer.from('bench:bench-secret-0123456789').toString('base64'), 'content-type': 'application/x-www-form-urlencoded' };
    await profiled('client-credentials tokens, bare oidc-provider', 'idp-bare', bare.pid!, inspectPort, () => load({ url: `http://127.0.0.1:${barePort}/token`, headers: bareHeaders, body: ccBody, duration: ROUND_S }), true);
    bare.kill();
    inspectPort = await freePort();
    benchEnv['NODE_OPTIONS'] = `${process.env['NODE_OPTIONS'] ?? ''} --inspect=127.0.0.1:${inspectPort}`;
    s = await startServer('stages-idp', AUDIT_OFF, undefined, 'stages-idp');
    delete benchEnv['NODE_OPTIONS'];
    const client = idpClient(s);
    const ccHeaders = { authorization: 'Basic ' + Buffer.from(`${client.id}:${client.secret}`).toString('base64'), 'content-type': 'application/x-www-form-urlencoded' };
    await profiled('client-credentials tokens, Keyward IdP', 'idp-keyward', s.proc.pid!, inspectPort, () => load({ url: client.tokenUrl, headers: ccHeaders, body: ccBody, duration: ROUND_S }), true);
    await s.stop();
    console.log('  (profiles: bench/last-profile-*.cpuprofile, open in Chrome DevTools)');
    results['stages'] = stages;
  }

  const table = targets(results, join(ROOT, 'bench', 'soak-results.json'));
  console.log(`\ntargets (issue 16; ratios from alternating rounds in this run)\n${targetTable(table)}`);
  if (process.env['BENCH_MARKDOWN']) console.log(`\n${targetTable(table, true)}`);
  writeFileSync(join(ROOT, 'bench', 'last-results.json'), JSON.stringify({ at: new Date().toISOString(), node: process.version, duration_s: DURATION, connections: CONNECTIONS, round_s: ROUND_S, rounds: ROUNDS, targets: table, ...results }, null, 2) + '\n');
  console.log('\nfigures written to bench/last-results.json');
} finally {
  jwksServer.close();
  rmSync(dir, { recursive: true, force: true });
}

/** A private SoftHSM2 token directory with one token, or why there is none. */
function softHsmToken(): { conf: string; pin: string } | string {
  if (!existsSync(SOFTHSM_MODULE)) return `${SOFTHSM_MODULE} not found (apt-get install softhsm2)`;
  const tokens = join(dir, 'softhsm-tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const pin = randomBytes(8).toString('hex');
  try {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--pin', pin, '--so-pin', randomBytes(8).toString('hex')], { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'ignore' });
  } catch (e) {
    return `softhsm2-util failed (${(e as Error).message})`;
  }
  return { conf, pin };
}

/** The dev realm's quickstart client, whose secret the server printed with the bootstrap token. */
function idpClient(s: Server): { id: string; secret: string; tokenUrl: string } {
  if (!s.client) throw new Error('the dev server printed no identity provider client');
  return { ...s.client, tokenUrl: `${s.base}/realms/keyward/protocol/openid-connect/token` };
}

/**
 * Password logins through the real login form: a realm with one user and one web client is applied with the CLI,
 * then bench/logins.ts drives complete flows (authorize, login page, form post, redirects until the code).
 */
type LoginLoad = Pick<Load, 'rps' | 'total' | 'p50' | 'p99' | 'errors'>;

async function loginRate(): Promise<LoginLoad> {
  const realmFile = join(dir, 'bench-realm.yaml');
  writeFileSync(realmFile, `realm: keyward
roles: [{ name: key-user }]
users:
  - { id: u-bench, username: bench, password_env: BENCH_PASSWORD, roles: [key-user] }
clients:
  - { client_id: bench-web, grant_types: [authorization_code], scopes: [openid], redirect_uris: ["http://127.0.0.1:9/cb"], secret_env: BENCH_WEB_SECRET, roles: [key-user] }
`);
  const secrets = { BENCH_PASSWORD: 'bench password 0123456789', BENCH_WEB_SECRET: 'bench-web-secret-0123456789' };
  const idp = (port: number) => `${AUDIT_OFF}
idp: { enabled: true, base_url: "http://127.0.0.1:${port}", realms: [{ name: keyward, access_token_resource: "urn:keyward:key-api", lockout: { max_failures_per_ip: 1000000 } }] }`;
  const s = await startServer('logins', idp, (cfg) =>
    execFileSync(NODE, [join(ROOT, 'src', 'cli', 'main.ts'), 'idp', 'apply', realmFile, '--config', cfg], { env: { ...process.env, ...secrets }, stdio: 'ignore' }),
  );
  try {
    const args = { issuer: `${s.base}/realms/keyward`, origin: s.base, clientId: 'bench-web', redirectUri: 'http://127.0.0.1:9/cb', username: 'bench', password: secrets.BENCH_PASSWORD, concurrency: 8 };
    execFileSync(NODE, [join(ROOT, 'bench', 'logins.ts'), JSON.stringify({ ...args, duration: 2 })], { encoding: 'utf8' });
    const out = execFileSync(NODE, [join(ROOT, 'bench', 'logins.ts'), JSON.stringify({ ...args, duration: DURATION })], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as LoginLoad;
    if (r.errors > 0) console.error(`  (warning: ${r.errors} failed logins)`);
    return r;
  } finally {
    await s.stop();
  }
}

async function argonRate(): Promise<number> {
  const opts = { memoryCost: 19456, timeCost: 2, parallelism: 1 };
  const h = await argonHash('correct horse battery staple', opts);
  let n = 0;
  const end = performance.now() + 3000;
  while (performance.now() < end) {
    await argonVerify(h, 'correct horse battery staple');
    n++;
  }
  return n / 3;
}
