// Where a served request's CPU time goes: a V8 CPU profile of the server's main thread taken over the inspector
// (only while the load runs, so start-up is not in it), each sample charged to the request stage of the innermost
// frame that belongs to one, plus the CPU time of the server's other threads (libuv's threadpool, where signatures
// run; V8's helpers, where most of the garbage collection runs; the audit worker) from /proc. Proportions from a
// profile move far less with a noisy neighbour than throughput does.
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The stages of a request, in the order the issue names them, then what is not a stage of its own. */
export const STAGES = [
  'HTTP parse',
  'hooks and routing',
  'validation',
  'authentication',
  'authorization',
  'key lookup',
  'crypto hand-off',
  'handler',
  'serialization',
  'response write',
  'metrics',
  'logging',
  'audit',
  'garbage collection',
  'event loop and I/O (native)',
  'other',
] as const;
export type Stage = (typeof STAGES)[number];

// Rules by script URL (or function name for V8's pseudo-frames), tried in order. A frame that matches none (a V8
// builtin, Node's generic plumbing: events, streams, timers, promises, buffers) is charged to its caller.
const RULES: Array<[RegExp, Stage]> = [
  [/^\(garbage collector\)$/, 'garbage collection'],
  [/^\(program\)$/, 'event loop and I/O (native)'],
  // jose on a sign request is the JWT caller's token check (the identity provider's own use is not on this path).
  [/\/src\/authn\/|\/node_modules\/jose\//, 'authentication'],
  [/\/src\/authz\//, 'authorization'],
  // node:crypto's sign(): handing the signature to the threadpool (the reference route calls it directly).
  [/\/src\/keys\/(families|providers)\/|^node:internal\/crypto\/sig$/, 'crypto hand-off'],
  [/\/src\/keys\/routes\//, 'handler'],
  [/\/src\/keys\/|\/src\/store\/|\/node_modules\/kysely\//, 'key lookup'],
  [/\/src\/audit\/|\/node_modules\/(canonicalize|@noble)\//, 'audit'],
  [/\/src\/app\/metrics\.ts|\/node_modules\/(prom-client|tdigest|bintrees)\//, 'metrics'],
  [/\/src\/app\/logger\.ts|\/node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact|@pinojs)\/|fastify\/lib\/(logger|log)/, 'logging'],
  [/\/node_modules\/(fast-json-stringify|safe-stable-stringify)\/|fastify\/lib\/(reply|schemas)\.js/, 'serialization'],
  [/\/node_modules\/(ajv|ajv-formats|fast-uri)\/|fastify\/lib\/(validation|schema-controller)\.js|^validate\d*$/, 'validation'],
  [/fastify\/lib\/(contentTypeParser|content-type-parser|request|content-type)\.js|\/node_modules\/(secure-json-parse|content-type)\/|^node:_http_(server|common|incoming)$|^node:internal\/http/, 'HTTP parse'],
  [/^node:(_http_outgoing|net|internal\/stream_base_commons|internal\/net)$/, 'response write'],
  [/\/node_modules\/(fastify|find-my-way|avvio|light-my-request|fastq|toad-cache|process-warning)\/|\/src\/(app|http)\//, 'hooks and routing'],
];

function stageOf(frame: { functionName: string; url: string }): Stage | undefined {
  // V8 builtins (JSON.parse, Array.prototype.map…) and code made by `new Function` (Ajv's validators, the JSON
  // serializers) have no URL: charge the caller, except V8's pseudo-frames and Ajv's validateN functions.
  const key = frame.url === '' ? (/^\(|^validate\d*$/.test(frame.functionName) ? frame.functionName : undefined) : frame.url;
  if (key === undefined) return undefined;
  for (const [re, stage] of RULES) if (re.test(key)) return stage;
  return undefined;
}

export interface StageRow { stage: Stage; share: number; usPerRequest: number }
export interface Breakdown {
  requests: number;
  /** The main thread's CPU per request, shared out by stage. */
  stages: StageRow[];
  /** The functions with the most self time, with the stage each was charged to. */
  top: Array<{ frame: string; stage: Stage; usPerRequest: number }>;
  mainUsPerRequest: number;
}

/**
 * Charges every sample to a stage. Samples are counted, not weighted by the time between them: V8 samples by
 * signalling the thread every interval, and signals sent while the thread waits for a CPU (a busy machine, or a
 * woken threadpool thread preempting it) arrive as one, so counts follow CPU time where the time between samples
 * follows the wall clock. The shares come from the profile, the µs from the main thread's CPU time (`mainCpuUs`,
 * from /proc) over the same load, divided by the requests served.
 */
export function breakdown(profile: CpuProfile, requests: number, mainCpuUs: number): Breakdown {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageCache = new Map<number, { stage: Stage; leaf: string }>();
  const resolve = (id: number) => {
    let hit = stageCache.get(id);
    if (hit) return hit;
    const leafFrame = byId.get(id)!.callFrame;
    const leaf = `${leafFrame.functionName || '(anonymous)'} ${leafFrame.url.replace(/^.*\/node_modules\//, '')}:${leafFrame.lineNumber + 1}`;
    let stage: Stage = 'other';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const s = stageOf(byId.get(at)!.callFrame);
      if (s) {
        stage = s;
        break;
      }
    }
    hit = { stage, leaf };
    stageCache.set(id, hit);
    return hit;
  };
  const us = new Map<Stage, number>();
  const self = new Map<string, { stage: Stage; t: number }>();
  let busy = 0;
  for (const id of profile.samples) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const dt = 1;
    const { stage, leaf } = resolve(id);
    us.set(stage, (us.get(stage) ?? 0) + dt);
    // One native function (`run`, say) serves several stages: self time is kept per function and stage.
    const key = `${stage}\0${leaf}`;
    const f = self.get(key) ?? { stage, t: 0 };
    f.t += dt;
    self.set(key, f);
    busy += dt;
  }
  const perRequest = mainCpuUs / Math.max(1, requests);
  const share = (t: number) => t / Math.max(1, busy);
  return {
    requests,
    mainUsPerRequest: perRequest,
    stages: STAGES.map((stage) => ({ stage, share: share(us.get(stage) ?? 0), usPerRequest: share(us.get(stage) ?? 0) * perRequest })),
    top: [...self].sort((a, b) => b[1].t - a[1].t).slice(0, 15).map(([key, { stage, t }]) => ({ frame: key.slice(key.indexOf('\0') + 1), stage, usPerRequest: share(t) * perRequest })),
  };
}

/**
 * The main thread's CPU per request by module, for requests the stage rules do not describe (the identity
 * provider): each sample goes to the innermost frame of a package (`node_modules/<name>`) or of a folder of `src/`,
 * else to Node's internals or V8's pseudo-frames. Same counting and scaling as breakdown().
 */
export function byModule(profile: CpuProfile, requests: number, mainCpuUs: number): Array<{ module: string; share: number; usPerRequest: number }> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const moduleOf = (url: string) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? /\/(src\/[^/]+)\//.exec(url)?.[1];
  const cache = new Map<number, string>();
  const resolve = (id: number): string => {
    let m = cache.get(id);
    if (m !== undefined) return m;
    for (let at: number | undefined = id; at !== undefined && m === undefined; at = parent.get(at)) m = moduleOf(byId.get(at)!.callFrame.url);
    if (m === undefined) {
      const leaf = byId.get(id)!.callFrame;
      m = leaf.url.startsWith('node:') ? 'node internals' : leaf.functionName.startsWith('(') ? leaf.functionName : 'V8 builtins';
    }
    cache.set(id, m);
    return m;
  };
  const counts = new Map<string, number>();
  let busy = 0;
  for (const id of profile.samples) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const m = resolve(id);
    counts.set(m, (counts.get(m) ?? 0) + 1);
    busy++;
  }
  const perRequest = mainCpuUs / Math.max(1, requests);
  return [...counts].sort((x, y) => y[1] - x[1]).map(([module, c]) => ({ module, share: c / Math.max(1, busy), usPerRequest: (c / Math.max(1, busy)) * perRequest }));
}

interface ThreadCpu { user: number; system: number }

/**
 * CPU time (ms, user and system) per thread group of a process, from /proc/<pid>/task: the main thread, and the
 * others by the name Linux shows for them (libuv-worker, V8Worker, WorkerThread…).
 */
export function threadCpuMs(pid: number, clockTicks: number): Map<string, ThreadCpu> {
  const out = new Map<string, ThreadCpu>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    // The main thread carries the process name (node, or MainThread); group helpers by their shared name.
    const group = tid === String(pid) ? 'main thread' : name.replace(/[-_ ]?\d+$/, '');
    const t = out.get(group) ?? { user: 0, system: 0 };
    t.user += (Number(fields[11]) * 1000) / clockTicks;
    t.system += (Number(fields[12]) * 1000) / clockTicks;
    out.set(group, t);
  }
  return out;
}

export interface ThreadRow { thread: string; usPerRequest: number; userUs: number; systemUs: number }

/** Per-thread-group CPU µs per request between two threadCpuMs snapshots. */
export function threadDelta(before: Map<string, ThreadCpu>, after: Map<string, ThreadCpu>, requests: number): ThreadRow[] {
  const n = Math.max(1, requests);
  return [...after]
    .map(([thread, t]) => {
      const b = before.get(thread) ?? { user: 0, system: 0 };
      const userUs = ((t.user - b.user) * 1000) / n;
      const systemUs = ((t.system - b.system) * 1000) / n;
      return { thread, usPerRequest: userUs + systemUs, userUs, systemUs };
    })
    .filter((r) => r.usPerRequest >= 0.5)
    .sort((a, b) => b.usPerRequest - a.usPerRequest);
}

/** A CPU profile of a process started with --inspect=127.0.0.1:<port>, from start() until the returned stop(). */
export async function profileOver(inspectPort: number, samplingIntervalUs = 250): Promise<{ stop(): Promise<CpuProfile> }> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error('could not attach to the server inspector'));
  });
  let next = 1;
  const pending = new Map<number, (r: { result?: unknown; error?: { message: string } }) => void>();
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg);
  };
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      pending.set(id, (r) => (r.error ? reject(new Error(`${method}: ${r.error.message}`)) : resolve(r.result)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
  await call('Profiler.start');
  return {
    async stop() {
      const { profile } = (await call('Profiler.stop')) as { profile: CpuProfile };
      ws.close();
      return profile;
    },
  };
}

/** Each thread group's CPU per request and the whole process's, as aligned text lines. */
export function formatThreads(threads: ThreadRow[], processUs: number): string[] {
  return [
    ...threads.map((t) => `  ${`thread: ${t.thread}`.padEnd(32)} ${t.usPerRequest.toFixed(1).padStart(10)}  (user ${t.userUs.toFixed(1)}, system ${t.systemUs.toFixed(1)})`),
    `  ${'whole process (all threads)'.padEnd(32)} ${processUs.toFixed(1).padStart(10)}`,
  ];
}

/** The breakdown as aligned text lines. */
export function formatBreakdown(b: Breakdown, threads: ThreadRow[], processUs: number): string[] {
  const lines = [`  ${'stage (main thread)'.padEnd(32)} ${'µs/request'.padStart(10)} ${'share'.padStart(7)}`];
  for (const r of b.stages) if (r.usPerRequest >= 0.05) lines.push(`  ${r.stage.padEnd(32)} ${r.usPerRequest.toFixed(1).padStart(10)} ${(r.share * 100).toFixed(1).padStart(6)}%`);
  lines.push(...formatThreads(threads, processUs));
  lines.push('  most self time (main thread):');
  for (const f of b.top.slice(0, 10)) lines.push(`    ${f.usPerRequest.toFixed(1).padStart(6)} µs  ${f.stage.padEnd(20)} ${f.frame}`);
  return lines;
}
