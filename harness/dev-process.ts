// Keyward in dev mode as a real child process (the whole-server tests and the bench): `keyward serve --config FILE`
// with a dev configuration, or `keyward dev` with none; ready once it printed its bootstrap token and /readyz answers.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');

export interface DevProcess {
  proc: ChildProcess;
  base: string;
  /** The bootstrap admin token it printed. */
  token: string;
  /** Everything it wrote to stderr so far (the dev banner, with the quickstart client). */
  stderr(): string;
  /** Everything it wrote to stdout so far (the JSON log). */
  stdout(): string;
  /** A request to it with the bootstrap token, and a JSON body unless `body` is undefined. */
  request(method: string, path: string, body?: unknown): Promise<Response>;
  /** The identity provider's quickstart client from the banner. */
  devClient(): { id: string; secret: string; tokenUrl: string };
  /** SIGTERM, resolved once it has exited. */
  stop(): Promise<void>;
}

function devClientIn(banner: string): { id: string; secret: string; tokenUrl: string } {
  const m = /-u (\S+):(\S+) -d grant_type=client_credentials \\\n\s+(\S+)/.exec(banner);
  if (!m) throw new Error(`no quickstart client in the dev banner:\n${banner}`);
  return { id: m[1]!, secret: m[2]!, tokenUrl: m[3]! };
}

/** `config` given: `keyward serve --config FILE`; absent: `keyward dev` (its defaults; port from KEYWARD_SERVER__PORT). */
export async function startDevProcess(opts: { config?: string; cwd: string; base: string; env?: NodeJS.ProcessEnv }): Promise<DevProcess> {
  const args = opts.config !== undefined ? ['serve', '--config', opts.config] : ['dev'];
  const proc = spawn(process.execPath, [MAIN, ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  let stderr = '';
  let stdout = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  proc.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  for (let i = 0; i < 200; i++) {
    await sleep(100);
    const token = /BOOTSTRAP ADMIN TOKEN[^\n]*\n\s*(\S+)/.exec(stderr)?.[1];
    if (token && (await fetch(`${opts.base}/readyz`).then((r) => r.ok, () => false))) {
      const request = (method: string, path: string, body?: unknown) =>
        fetch(opts.base + path, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
      return { proc, base: opts.base, token, stderr: () => stderr, stdout: () => stdout, request, devClient: () => devClientIn(stderr), stop: () => (proc.kill('SIGTERM'), exited) };
    }
    if (proc.exitCode !== null) break;
  }
  proc.kill('SIGKILL');
  throw new Error(`keyward ${args.join(' ')} did not become ready:\n${stderr}`);
}
