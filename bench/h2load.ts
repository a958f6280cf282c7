// gRPC load from h2load (Debian package `nghttp2-client`), a C HTTP/2 load generator, as wrk is for REST: a Node
// gRPC client needs more CPU per call than the server it measures, and on a 2-vCPU machine that halved the gRPC
// rate. h2load sends one unary call body (the gRPC length-prefixed message) over `streams` concurrent streams on one
// connection, which is what a gRPC channel does. It sees HTTP statuses, not gRPC statuses (those are in trailers):
// the caller checks the server's keyward_grpc_requests_total instead (see grpcCallsOk).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { Load } from './wrk.ts';

const PROTO = join(import.meta.dirname, '..', 'proto', 'keyward', 'v1', 'keys.proto');

export function assertH2load(): void {
  try {
    execFileSync('h2load', ['--version'], { stdio: 'ignore' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('the gRPC section of npm run bench needs h2load on the PATH: apt-get install nghttp2-client');
    throw e;
  }
}

/** The HTTP/2 body of one unary call: a 5-byte prefix (not compressed, length) and the protobuf message. */
export function grpcFrame(messageType: string, value: Record<string, unknown>): Buffer {
  const type = protobuf.loadSync(PROTO).lookupType(messageType);
  const bytes = type.encode(type.fromObject(value)).finish();
  const frame = Buffer.alloc(5 + bytes.length);
  frame.writeUInt32BE(bytes.length, 1);
  frame.set(bytes, 5);
  return frame;
}

/** Closed loop for `duration` seconds: `streams` calls in flight on one connection. */
export function h2load(opts: { url: string; headers: Record<string, string>; frame: Buffer; streams: number; duration: number }): Load {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-h2load-'));
  try {
    const body = join(dir, 'call.bin');
    const log = join(dir, 'requests.log');
    writeFileSync(body, opts.frame);
    const headers = Object.entries({ 'content-type': 'application/grpc', te: 'trailers', ...opts.headers }).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
    const out = execFileSync('h2load', ['-D', String(opts.duration), '-c1', `-m${opts.streams}`, '-d', body, '--log-file', log, ...headers, opts.url], { encoding: 'utf8' });
    const seconds = Number(/finished in ([\d.]+)s/.exec(out)?.[1] ?? NaN);
    const m = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
    if (!m || !Number.isFinite(seconds)) throw new Error(`h2load printed no summary:\n${out}`);
    // The log: one line per request, "<start µs>\t<HTTP status>\t<duration µs>".
    const latencies = readFileSync(log, 'utf8').trim().split('\n').map((l) => Number(l.split('\t')[2]) / 1000).sort((a, b) => a - b);
    const at = (q: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0).toFixed(2));
    const r: Load = { rps: Number(m[3]) / seconds, total: Number(m[2]), p50: at(0.5), p99: at(0.99), max: at(1), non2xx: Number(m[4]), errors: Number(m[5]), timeouts: Number(m[6]), late: 0 };
    if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0) console.error(`  (warning: ${r.non2xx} failed, ${r.errors} errored, ${r.timeouts} timed out HTTP/2 requests)`);
    return r;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The server's count of gRPC calls of `method` that ended OK, from /metrics. */
export async function grpcCallsOk(base: string, method: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`keyward_grpc_requests_total{method="${method}",code="OK"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}
