// A private PostgreSQL server for tests that must stop and start the database (outage tests): initdb in a temp
// directory, its own free port on 127.0.0.1 and its socket in the temp directory, so the shared server at
// 127.0.0.1:5432 is never touched. Run as user postgres when the tests run as root (PostgreSQL refuses root).
// A watchdog process stops the server and removes the directory if the test process dies without cleaning up.
// Missing binaries skip the test locally and fail it under CI (see pg.ts).
import { execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../../harness/net.ts';
import { skipMissing } from './missing.ts';

const run = promisify(execFile);

export interface PrivatePg {
  port: number;
  /** TCP URL of the `postgres` database, user postgres (trust). */
  url: string;
  /** pg_ctl stop with this shutdown mode; resolves once the server is down. */
  stop(mode: 'smart' | 'fast' | 'immediate'): Promise<void>;
  /** pg_ctl start; resolves once the server accepts connections (after crash recovery, if any). */
  start(): Promise<void>;
  /** Stops the server (immediate) and removes its directory. Also registered with t.after. */
  close(): Promise<void>;
}

/** The directory holding initdb and pg_ctl: KEYWARD_TEST_PG_BINDIR, the newest Debian layout, or PATH. */
function findBinDir(): string | undefined {
  const env = process.env.KEYWARD_TEST_PG_BINDIR;
  if (env) return existsSync(join(env, 'initdb')) ? env : undefined;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(debian, v, 'bin', 'initdb'))) return join(debian, v, 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  return undefined;
}

/** uid/gid of user postgres, read with `id` (no dependency on /etc/passwd parsing). */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

function skipOrFail(t: TestContext, what: string, reason: string): undefined {
  skipMissing(t, what, `cannot start a private PostgreSQL (${reason})`, 'Install the PostgreSQL server binaries or set KEYWARD_TEST_PG_BINDIR');
  return undefined;
}

/** Starts a private PostgreSQL for this test, or returns undefined after skipping it (failing under CI). */
export async function startPrivatePg(t: TestContext, what = 'this test'): Promise<PrivatePg | undefined> {
  const bin = findBinDir();
  if (!bin) return skipOrFail(t, what, 'initdb not found');
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? await postgresUser() : undefined;
  if (asRoot && !owner) return skipOrFail(t, what, 'running as root and there is no user postgres to run the server as');

  const dir = mkdtempSync(join(tmpdir(), 'keyward-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  // As root, every PostgreSQL binary runs as postgres; otherwise as ourselves.
  const cmd = (file: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, file), ...args]) : run(join(bin, file), args));

  let watchdog: ReturnType<typeof spawn> | undefined;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await cmd('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
    if (watchdog?.pid) {
      try {
        process.kill(watchdog.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  t.after(close);

  try {
    await cmd('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '--no-instructions', '-E', 'UTF8']);
  } catch (e) {
    await close();
    return skipOrFail(t, what, `initdb failed: ${String((e as { stderr?: unknown }).stderr ?? e).trim().slice(0, 300)}`);
  }
  const port = await freePort();
  // Small, local only; the socket lives in the temp directory so nothing else collides with it.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c shared_buffers=16MB -c max_connections=30`;
  const start = async () => {
    await cmd('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', options, 'start']);
  };
  const stop = async (mode: 'smart' | 'fast' | 'immediate') => {
    await cmd('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
  };
  await start();

  // If this process dies without its after-hooks, the watchdog stops the server and removes the directory.
  const pgCtl = join(bin, 'pg_ctl');
  const stopCmd = asRoot ? `runuser -u postgres -- ${pgCtl} -D ${data} -m immediate stop` : `${pgCtl} -D ${data} -m immediate stop`;
  watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${stopCmd} >/dev/null 2>&1; rm -rf ${dir}`], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();

  return { port, url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop, start, close };
}
