// Open-loop load at a fixed rate: requests are sent on an even schedule (not in per-second bursts), and latency
// is measured from when each request was due, so a stalled server cannot hide its queueing (no coordinated
// omission). argv[2] is JSON: { url, headers, body, rate, duration, connections }; prints one JSON result line.
import http from 'node:http';
import { setImmediate as tick } from 'node:timers/promises';

const o = JSON.parse(process.argv[2]!) as { url: string; headers: Record<string, string>; body: string; rate: number; duration: number; connections: number };
const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
const url = new URL(o.url);
const latencies: number[] = [];
let errors = 0;
let non2xx = 0;

function send(due: number): void {
  const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { ...o.headers, 'content-length': Buffer.byteLength(o.body) } }, (res) => {
    res.resume();
    res.on('end', () => {
      if (res.statusCode! >= 300) non2xx++;
      latencies.push(performance.now() - due);
    });
  });
  req.on('error', () => errors++);
  req.end(o.body);
}

const total = o.rate * o.duration;
const start = performance.now() + 50;
let sent = 0;
while (sent < total) {
  const now = performance.now();
  while (sent < total && start + (sent * 1000) / o.rate <= now) send(start + (sent++ * 1000) / o.rate);
  await tick();
}
while (latencies.length + errors < total && performance.now() - start < (o.duration + 10) * 1000) await new Promise((r) => setTimeout(r, 10));
latencies.sort((a, b) => a - b);
const q = (p: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(2));
process.stdout.write(JSON.stringify({ rps: latencies.length / o.duration, total: latencies.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(0.9999), non2xx, errors, timeouts: 0 }) + '\n');
agent.destroy();
