// The bench's per-stage attribution (bench/stages.ts) and its targets table (bench/targets.ts), on made-up inputs:
// a wrong rule would publish a wrong breakdown in the README.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { breakdown, byModule, type CpuProfile } from '../../bench/stages.ts';
import { targets, targetTable } from '../../bench/targets.ts';

const SRC = 'file:///srv/keyward/src';
const NM = 'file:///srv/keyward/node_modules';

/** A profile from stacks (root first) and how many samples each got. */
function profileOf(stacks: Array<[Array<[string, string]>, number]>): CpuProfile {
  const nodes: CpuProfile['nodes'] = [{ id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: 0 }, children: [] }];
  const samples: number[] = [];
  for (const [frames, count] of stacks) {
    let parent = nodes[0]!;
    for (const [functionName, url] of frames) {
      let child = parent.children!.map((c) => nodes.find((n) => n.id === c)!).find((n) => n.callFrame.functionName === functionName && n.callFrame.url === url);
      if (!child) {
        child = { id: nodes.length + 1, callFrame: { functionName, url, lineNumber: 0 }, children: [] };
        nodes.push(child);
        parent.children!.push(child.id);
      }
      parent = child;
    }
    for (let i = 0; i < count; i++) samples.push(parent.id);
  }
  return { nodes, startTime: 0, endTime: samples.length * 100, samples, timeDeltas: samples.map(() => 100) };
}

test('each sample goes to the innermost frame that names a stage; builtins and Node plumbing go to their caller', () => {
  const hooks: [string, string] = ['hookRunner', `${NM}/fastify/lib/hooks.js`];
  const p = profileOf([
    [[hooks, ['authenticate', `${SRC}/authn/hook.ts`], ['digest', `${SRC}/authn/fingerprint.ts`], ['oneShotDigest', '']], 30],
    [[hooks, ['authenticate', `${SRC}/authn/jwt.ts`], ['jwtVerify', `${NM}/jose/dist/webapi/jwt/verify.js`]], 10],
    [[hooks, ['preHandler', `${SRC}/authz/hook.ts`], ['emit', 'node:events']], 10],
    [[['run', `${SRC}/keys/service.ts`], ['sign', `${SRC}/keys/families/ec.ts`], ['signOneShot', 'node:internal/crypto/sig'], ['run', '']], 20],
    [[['onResponse', `${SRC}/app/app.ts`], ['httpRequest', `${SRC}/app/metrics.ts`], ['observe', `${NM}/prom-client/lib/histogram.js`]], 5],
    [[['(garbage collector)', '']], 5],
    [[['(program)', '']], 7],
    [[['run', `${SRC}/store/sqlite-dialect.ts`], ['run', '']], 3],
    [[['processTicksAndRejections', 'node:internal/process/task_queues']], 10],
    [[['(idle)', '']], 1000],
  ]);
  const b = breakdown(p, 10, 1000);
  const us = Object.fromEntries(b.stages.map((s) => [s.stage, Math.round(s.usPerRequest * 1e6) / 1e6]));
  // 100 busy samples (idle excluded) share 1000 µs of main-thread CPU over 10 requests: 1 µs per sample per request.
  assert.equal(b.mainUsPerRequest, 100);
  assert.equal(us['authentication'], 40);
  assert.equal(us['authorization'], 10);
  assert.equal(us['crypto hand-off'], 20);
  assert.equal(us['metrics'], 5);
  assert.equal(us['garbage collection'], 5);
  assert.equal(us['event loop and I/O (native)'], 7);
  assert.equal(us['other'], 10);
  assert.equal(us['key lookup'], 3);
  assert.deepEqual(b.top[0], { frame: 'oneShotDigest :1', stage: 'authentication', usPerRequest: 30 });
  // One native function serving two stages is listed once per stage.
  assert.deepEqual(b.top.filter((f) => f.frame === 'run :1').map((f) => [f.stage, Math.round(f.usPerRequest * 1e6) / 1e6]), [['crypto hand-off', 20], ['key lookup', 3]]);
});

test('targets: each ratio against its bound, unmeasured sections "not run" rather than failed', () => {
  const side = (rps: number, cpu: number, p99 = 1) => ({ rps, cpuUsPerRequest: cpu, p99 });
  const t = targets({
    sign: { served: side(800, 130), bare_fastify_reference: side(1000, 100), served_rounds: [side(800, 0)], bare_fastify_rounds: [side(1000, 0)], rss: { peak_mb: 151, after_rounds_mb: [140] } },
    audit: { file: side(700, 170, 6), baseline_audit_off_jwt: side(1000, 130), file_fixed_1000: side(1000, 0, 4.9), file_rounds: [], audit_off_rounds: [] },
  });
  const by = Object.fromEntries(t.map((x) => [x.id, x]));
  assert.equal(by['1a']!.pass, true);
  assert.equal(by['1a']!.value, '80.0 %');
  assert.equal(by['1b']!.pass, true);
  assert.equal(by['4a']!.pass, false);
  assert.equal(by['2a']!.pass, false);
  assert.equal(by['2b']!.pass, true);
  assert.equal(by['2c']!.pass, true);
  assert.equal(by['3']!.pass, undefined);
  assert.match(by['3']!.value, /not run/);
  assert.equal(by['5a']!.pass, undefined);
  const md = targetTable(t, true).split('\n');
  assert.equal(md.length, t.length + 2);
  assert.match(md.find((l) => l.startsWith('| 4a '))!, /\| FAIL \|$/);
});

test('by module: the innermost frame of a package or a src folder takes the sample', () => {
  const p = profileOf([
    [[['handle', `${NM}/koa/lib/application.js`], ['token', `${NM}/oidc-provider/lib/actions/token.js`], ['sign', `${NM}/jose/dist/webapi/jws/sign.js`], ['digest', 'node:internal/crypto/hash']], 6],
    [[['handle', `${NM}/koa/lib/application.js`], ['guard', `${SRC}/idp/guard.ts`], ['JSON.stringify', '']], 3],
    [[['emit', 'node:events']], 1],
    [[['(garbage collector)', '']], 2],
    [[['(idle)', '']], 50],
  ]);
  const m = Object.fromEntries(byModule(p, 2, 24).map((x) => [x.module, x.usPerRequest]));
  // 12 busy samples share 24 µs of CPU over 2 requests: 1 µs per sample per request.
  assert.deepEqual(m, { jose: 6, 'src/idp': 3, '(garbage collector)': 2, 'node internals': 1 });
});
