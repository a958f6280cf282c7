// gRPC load for the bench: `node bench/grpc-load.ts '<json>'` keeps `concurrency` Sign calls in flight on one channel
// for `duration` seconds (closed loop, like wrk's connections) and prints one line of JSON in wrk.ts's Load shape.
// A Node client costs more CPU than wrk: compare the server's CPU per request, which does not depend on it.
import { credentials, loadPackageDefinition, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { join } from 'node:path';

const args = JSON.parse(process.argv[2]!) as { port: number; token: string; keyId: string; message: string; concurrency: number; duration: number };
const proto = join(import.meta.dirname, '..', 'proto', 'keyward', 'v1', 'keys.proto');
const pkg = loadPackageDefinition(loadSync(proto, { keepCase: true, longs: Number, defaults: false })) as unknown as {
  keyward: { v1: { KeyService: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client & { Sign: Function } } };
};
const client = new pkg.keyward.v1.KeyService(`127.0.0.1:${args.port}`, credentials.createInsecure());
const md = new Metadata();
md.set('authorization', `Bearer ${args.token}`);
const request = { key_id: args.keyId, message: Buffer.from(args.message, 'base64') };

const latencies: number[] = [];
let errors = 0;
const end = performance.now() + args.duration * 1000;
const sign = () => new Promise<void>((resolve) => {
  const t0 = performance.now();
  client.Sign(request, md, (err: ServiceError | null) => {
    if (err) errors++;
    else latencies.push(performance.now() - t0);
    resolve();
  });
});
const worker = async () => {
  while (performance.now() < end) await sign();
};
const started = performance.now();
await Promise.all(Array.from({ length: args.concurrency }, worker));
const seconds = (performance.now() - started) / 1000;
client.close();

latencies.sort((a, b) => a - b);
const at = (q: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0).toFixed(2));
console.log(JSON.stringify({ rps: latencies.length / seconds, total: latencies.length + errors, p50: at(0.5), p99: at(0.99), max: at(1), non2xx: errors, errors: 0, timeouts: 0, late: 0 }));
