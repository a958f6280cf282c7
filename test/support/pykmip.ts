// A private PyKMIP server for tests (Debian python3-pykmip, `pykmip-server`): its own port on 127.0.0.1, its own
// certificates, SQLite database, policy directory and log in a temp dir. It runs in its own process group (PyKMIP
// forks a multiprocessing manager and a policy monitor), and stop() kills that whole group, so nothing outlives the
// test, also when the test fails or the runner exits. When pykmip-server is missing the test is skipped, except
// under CI, where it fails.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestPki } from './certs.ts';
import { freePort } from '../../harness/net.ts';
import { skipMissing, whenMissing } from './missing.ts';

export const PYKMIP_SERVER = process.env.KEYWARD_TEST_PYKMIP_SERVER ?? '/usr/bin/pykmip-server';

/** Process groups still running, killed on exit whatever happens to the test. */
const running = new Set<number>();
process.on('exit', () => {
  for (const pgid of running) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export interface PykmipClientCredentials {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export class PykmipServer {
  readonly dir: string;
  readonly port: number;
  readonly #pki: TestPki;
  #proc: ChildProcess | undefined;

  private constructor(pki: TestPki, port: number) {
    this.#pki = pki;
    this.dir = pki.dir;
    this.port = port;
  }

  /** Certificates, config and database in a fresh temp dir; the server is not started yet. */
  static async create(): Promise<PykmipServer> {
    const pki = new TestPki();
    const server = new PykmipServer(pki, await freePort());
    pki.ca('ca');
    server.#leaf('server', 'kmip-server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    server.#leaf('client', 'keyward', 'extendedKeyUsage=clientAuth\n');
    // A second identity: PyKMIP's default policy lets only an object's owner (certificate CN) use it.
    server.#leaf('other', 'other-tenant', 'extendedKeyUsage=clientAuth\n');
    // PyKMIP refuses client certificates without the clientAuth extended key usage.
    server.#leaf('noauth', 'keyward-no-eku', 'basicConstraints=CA:FALSE\n');
    mkdirSync(join(pki.dir, 'policies'));
    writeFileSync(
      join(pki.dir, 'server.conf'),
      [
        '[server]',
        'hostname=127.0.0.1',
        `port=${server.port}`,
        `certificate_path=${pki.path('server.pem')}`,
        `key_path=${pki.path('server.key')}`,
        `ca_path=${pki.path('ca.pem')}`,
        'auth_suite=TLS1.2',
        `policy_path=${join(pki.dir, 'policies')}`,
        'enable_tls_client_auth=True',
        'logging_level=INFO',
        `database_path=${pki.path('pykmip.db')}`,
        '',
      ].join('\n'),
    );
    return server;
  }

  #leaf(name: string, cn: string, ext: string) {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    writeFileSync(this.#pki.path(`${name}.ext`), ext);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
  }

  /** TLS material for a client: 'client' (the owner identity), 'other' (another identity) or 'noauth' (no clientAuth EKU). */
  credentials(who: 'client' | 'other' | 'noauth' = 'client'): PykmipClientCredentials {
    return { ca: readFileSync(this.#pki.path('ca.pem')), cert: readFileSync(this.#pki.path(`${who}.pem`)), key: readFileSync(this.#pki.path(`${who}.key`)) };
  }

  get running(): boolean {
    return this.#proc !== undefined;
  }

  /** Starts the server (again, with the same database, after stop()) and waits until it accepts connections. */
  async start(timeoutMs = 30000): Promise<void> {
    if (this.#proc) return;
    const proc = spawn(PYKMIP_SERVER, ['-f', join(this.dir, 'server.conf'), '-l', join(this.dir, 'server.log')], {
      cwd: this.dir,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const pid = proc.pid;
    if (pid === undefined) throw new Error(`could not start ${PYKMIP_SERVER}`);
    running.add(pid);
    this.#proc = proc;
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    let exited = false;
    proc.once('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exited) {
        this.#forget();
        throw new Error(`pykmip-server exited during start-up: ${stderr.trim()}\n${this.logTail()}`);
      }
      if (await this.#accepts()) return;
      await sleep(100);
    }
    await this.stop();
    throw new Error(`pykmip-server did not accept connections on 127.0.0.1:${this.port} within ${timeoutMs} ms\n${this.logTail()}`);
  }

  /** Kills the server's whole process group and waits for the server process to exit. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    if (!proc || proc.pid === undefined) return;
    const exited = proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => proc.once('exit', () => r()));
    try {
      // SIGKILL rather than SIGTERM: PyKMIP's orderly shutdown joins each session thread for up to 10 s.
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // the group is already gone
    }
    await exited;
    this.#forget();
    // The forked helpers die with the group; wait until the port is free again so a restart can bind it.
    for (let i = 0; i < 50 && (await this.#accepts()); i++) await sleep(100);
  }

  /** Stops the server and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  logTail(lines = 30): string {
    const path = join(this.dir, 'server.log');
    return existsSync(path) ? readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n') : '(no server log)';
  }

  #forget() {
    if (this.#proc?.pid !== undefined) running.delete(this.#proc.pid);
    this.#proc = undefined;
  }

  #accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port: this.port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  }
}

const MISSING = `${PYKMIP_SERVER} not found`;

/**
 * True when pykmip-server is installed. Otherwise skips the test and returns false, or throws under CI, where a
 * missing server must fail the run.
 */
export function requirePykmip(t: TestContext, what = 'KMIP tests'): boolean {
  if (existsSync(PYKMIP_SERVER)) return true;
  skipMissing(t, what, MISSING, 'Debian package python3-pykmip');
  return false;
}

/** A started PyKMIP server of this test alone, removed after it; undefined when the test was skipped. */
export async function startPykmip(t: TestContext, what = 'KMIP tests'): Promise<PykmipServer | undefined> {
  if (!requirePykmip(t, what)) return undefined;
  const server = await PykmipServer.create();
  t.after(() => server.dispose());
  await server.start();
  return server;
}

/**
 * A started server for a whole suite (from a before hook, which cannot skip): undefined when pykmip-server is missing,
 * and the suite's tests then skip themselves; under CI a missing server throws instead. The caller disposes of it.
 */
export async function pykmipForSuite(what: string): Promise<PykmipServer | undefined> {
  if (!existsSync(PYKMIP_SERVER)) {
    whenMissing(what, MISSING, 'Debian package python3-pykmip');
    return undefined;
  }
  const server = await PykmipServer.create();
  await server.start();
  return server;
}
