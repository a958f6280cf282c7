// Load from wrk (Debian package `wrk`), a C load generator: on a 2-vCPU machine a Node generator takes a whole core
// from the server it measures. Closed loop by default; with `rate`, an even open-loop schedule (see wrk.lua).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface Load { rps: number; total: number; p50: number; p99: number; max: number; non2xx: number; errors: number; timeouts: number; late: number }

const SCRIPT = join(import.meta.dirname, 'wrk.lua');

export function assertWrk(): void {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (e) {
    // wrk --version prints its usage and exits 1; only a missing binary is an error.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('npm run bench needs wrk on the PATH: apt-get install wrk');
  }
}

export function wrk(opts: { url: string; headers: Record<string, string>; body: string; connections: number; duration: number; rate?: number }): Load {
  const env = {
    ...process.env,
    WRK_BODY: opts.body,
    WRK_HEADERS: Object.entries(opts.headers).map(([k, v]) => `${k}: ${v}`).join('\n'),
    WRK_RATE: String(opts.rate ?? 0),
  };
  const out = execFileSync('wrk', ['-t1', `-c${opts.connections}`, `-d${opts.duration}s`, '-s', SCRIPT, opts.url], { env, encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as Load;
  if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0) console.error(`  (warning: ${r.non2xx} non-2xx, ${r.errors} socket errors, ${r.timeouts} timeouts)`);
  if (opts.rate && r.late > 0) console.error(`  (warning: ${r.late} of ${r.total} requests went out late: every connection was busy, so latency understates queueing)`);
  return r;
}
