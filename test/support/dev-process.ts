// `keyward serve` in dev mode as a real child process (the bench and the whole-server tests): started from a config
// file, ready once it printed its bootstrap token and /readyz answers.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

export interface DevProcess {
  proc: ChildProcess;
  base: string;
  /** The bootstrap admin token it printed. */
  token: string;
  /** Everything it wrote to stderr so far (the dev banner, with the quickstart client). */
  stderr(): string;
  /** SIGTERM, resolved once it has exited. */
  stop(): Promise<void>;
}

export async function startDevProcess(opts: { config: string; cwd: string; base: string; env?: NodeJS.ProcessEnv }): Promise<DevProcess> {
  const proc = spawn(process.execPath, [MAIN, 'serve', '--config', opts.config], { cwd: opts.cwd, stdio: ['ignore', 'ignore', 'pipe'], env: opts.env ?? process.env });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  for (let i = 0; i < 200; i++) {
    await sleep(100);
    const token = /BOOTSTRAP ADMIN TOKEN[^\n]*\n\s*(\S+)/.exec(stderr)?.[1];
    if (token && (await fetch(`${opts.base}/readyz`).then((r) => r.ok, () => false))) {
      return { proc, base: opts.base, token, stderr: () => stderr, stop: () => (proc.kill('SIGTERM'), exited) };
    }
    if (proc.exitCode !== null) break;
  }
  proc.kill('SIGKILL');
  throw new Error(`keyward serve (${opts.config}) did not become ready:\n${stderr}`);
}
