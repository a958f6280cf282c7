// Load generator, run as its own process so it never shares an event loop with the server under test.
// argv[2] is JSON: { url, method, headers, body, connections, duration, rate? }; prints one JSON result line.
import autocannon from 'autocannon';

const o = JSON.parse(process.argv[2]!) as { url: string; method: string; headers: Record<string, string>; body?: string; connections: number; duration: number; rate?: number };
const result = await autocannon({
  url: o.url,
  method: o.method as 'POST',
  headers: o.headers,
  ...(o.body !== undefined ? { body: o.body } : {}),
  connections: o.connections,
  duration: o.duration,
  ...(o.rate ? { overallRate: o.rate } : {}),
});
process.stdout.write(
  JSON.stringify({
    rps: result.requests.average,
    total: result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  }) + '\n',
);
