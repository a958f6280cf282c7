// OpenLDAP for tests: a private slapd (Debian's package) with its own slapd.conf, mdb database and schema includes
// in a temporary directory, listening on a free 127.0.0.1 port, base dc=example,dc=com with a root DN. It never
// touches the system's configuration or /var/lib/ldap. Stopped in teardown, and killed with the test process if
// that dies first. When slapd is not installed the test is skipped, except under CI, where it fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Client } from 'ldapts';
import { freePort } from '../../harness/net.ts';
import { resume, suspend } from './suspend.ts';
import { skipMissing } from './missing.ts';

export const SLAPD_BIN = process.env.KEYWARD_TEST_SLAPD ?? '/usr/sbin/slapd';
const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';

export const BASE_DN = 'dc=example,dc=com';
export const ROOT_DN = 'cn=admin,dc=example,dc=com';
export const ROOT_PASSWORD = 'slapd-test-root-password';

export interface SlapdTls {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface Slapd {
  /** ldap:// (StartTLS available when started with TLS). */
  url: string;
  port: number;
  /** ldaps:// when started with TLS. */
  ldapsUrl?: string;
  baseDn: string;
  rootDn: string;
  rootPassword: string;
  /** Runs ldapadd (ldap-utils) as the root DN with `ldif` on stdin. */
  ldapadd(ldif: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs ldapmodify as the root DN with `ldif` on stdin. */
  ldapmodify(ldif: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Sets a user's password with ldappasswd (the password modify extended operation: slapd stores a salted hash). */
  ldappasswd(dn: string, password: string): Promise<void>;
  /** Stops the slapd process (connections refused) but keeps its data; `restart` brings it back on the same port. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a directory that accepts connections and never answers (timeouts), then answers again. Resolves once slapd is stopped. */
  pause(): Promise<void>;
  resume(): void;
  /** Stops slapd (SIGTERM, then SIGKILL) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}


function missingReason(): string | null {
  if (!existsSync(SLAPD_BIN)) return `${SLAPD_BIN} not found (apt-get install slapd ldap-utils)`;
  if (!existsSync(join(SCHEMA_DIR, 'inetorgperson.schema'))) return `${SCHEMA_DIR}/inetorgperson.schema not found`;
  if (!existsSync('/usr/bin/ldapadd')) return 'ldapadd not found (apt-get install ldap-utils)';
  return null;
}

function config(dir: string, tls: SlapdTls | undefined, opts: SlapdOptions): string {
  const lines = [
    ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include ${SCHEMA_DIR}/${s}.schema`),
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
  ];
  // Debian builds the mdb backend as a module; other builds have it compiled in.
  if (existsSync(join(MODULE_DIR, 'back_mdb.so'))) lines.push(`modulepath ${MODULE_DIR}`, 'moduleload back_mdb');
  if (tls) lines.push(`TLSCACertificateFile ${tls.caFile}`, `TLSCertificateFile ${tls.certFile}`, `TLSCertificateKeyFile ${tls.keyFile}`);
  // Like servers that accept a DN with an empty password as an unauthenticated bind (RFC 4513 §5.1.2).
  if (opts.allowUnauthenticatedBind) lines.push('allow bind_anon_dn');
  lines.push(
    'database mdb',
    `suffix "${BASE_DN}"`,
    `rootdn "${ROOT_DN}"`,
    `rootpw ${ROOT_PASSWORD}`,
    `directory ${join(dir, 'db')}`,
    'maxsize 33554432',
    'index objectClass eq',
    'index uid,cn,mail eq',
  );
  return lines.join('\n') + '\n';
}

function run(cmd: string, args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    // A tool that reads no input (ldappasswd) may exit before it is written: the exit code tells the outcome.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

async function waitReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`slapd exited (${child.exitCode ?? child.signalCode}): ${log()}`);
    const c = new Client({ url, timeout: 1000, connectTimeout: 1000 });
    try {
      await c.bind(ROOT_DN, ROOT_PASSWORD);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`slapd did not answer on ${url} within 15 s: ${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      await c.unbind().catch(() => {});
    }
  }
}

export interface SlapdOptions {
  tls?: SlapdTls;
  allowUnauthenticatedBind?: boolean;
}

async function startOnce(opts: SlapdOptions): Promise<Slapd> {
  const tls = opts.tls;
  const dir = mkdtempSync(join(tmpdir(), 'kw-slapd-'));
  const conf = join(dir, 'slapd.conf');
  writeFileSync(conf, config(dir, tls, opts));
  mkdirSync(join(dir, 'db'));
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = tls ? `ldaps://127.0.0.1:${await freePort()}` : undefined;
  const listen = [`${url}/`, ...(ldapsUrl ? [`${ldapsUrl}/`] : [])].join(' ');
  let output = '';
  let child!: ChildProcess;
  const kill = () => child.kill('SIGKILL');
  const spawnSlapd = () => {
    // `-d 0` keeps slapd in the foreground, so this process owns it and can stop it.
    child = spawn(SLAPD_BIN, ['-f', conf, '-h', listen, '-d', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (output = (output + d).slice(-4000)));
    child.stderr!.on('data', (d) => (output = (output + d).slice(-4000)));
  };
  const killProcess = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  spawnSlapd();
  process.once('exit', kill);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      process.off('exit', kill);
      await killProcess();
      rmSync(dir, { recursive: true, force: true });
    })());
  const log = () => output.trim().split('\n').slice(-5).join(' | ');
  try {
    await waitReady(url, child, log);
    const c = new Client({ url, timeout: 5000 });
    try {
      await c.bind(ROOT_DN, ROOT_PASSWORD);
      await c.add(BASE_DN, { objectClass: ['top', 'dcObject', 'organization'], dc: 'example', o: 'Example' });
    } finally {
      await c.unbind().catch(() => {});
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const auth = ['-x', '-H', url, '-D', ROOT_DN, '-w', ROOT_PASSWORD];
  const tool = (name: string) => (ldif: string) => run(`/usr/bin/${name}`, auth, ldif);
  return {
    url,
    port,
    ...(ldapsUrl ? { ldapsUrl } : {}),
    baseDn: BASE_DN,
    rootDn: ROOT_DN,
    rootPassword: ROOT_PASSWORD,
    ldapadd: tool('ldapadd'),
    ldapmodify: tool('ldapmodify'),
    async ldappasswd(dn, password) {
      const r = await run('/usr/bin/ldappasswd', [...auth, '-s', password, dn], '');
      if (r.code !== 0) throw new Error(`ldappasswd ${dn}: ${r.stderr}`);
    },
    kill: killProcess,
    async restart() {
      await killProcess();
      spawnSlapd();
      await waitReady(url, child, log);
    },
    pause: () => suspend(child),
    resume: () => resume(child),
    stop,
  };
}

/**
 * A fresh slapd holding only the base entry (with `tls`, also answering StartTLS and ldaps:// with that certificate), stopped when the test (or suite, with `t` of a before hook) ends;
 * undefined after skipping the test when slapd is not installed (under CI this throws instead).
 */
export async function startSlapd(t: TestContext, what = 'OpenLDAP tests', opts: SlapdOptions = {}): Promise<Slapd | undefined> {
  const reason = missingReason();
  if (reason !== null) {
    skipMissing(t, what, reason);
    return undefined;
  }
  // The port is free when chosen but another process can take it before slapd binds: try again on another.
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const s = await startOnce(opts);
      t.after(() => s.stop());
      return s;
    } catch (e) {
      last = e;
    }
  }
  throw last;
}
