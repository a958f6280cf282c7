// A private three-node NATS JetStream cluster for tests: three `nats-server` processes (Debian's package) on free
// 127.0.0.1 ports, each with `-js`, its own server_name, store directory and `cluster { name, listen, routes }`
// block, in one temp directory. The shared NATS at 127.0.0.1:4222 is never touched. Nodes can be killed (SIGKILL,
// a crash) and started again on the same ports and store. close() stops them all and removes the directory; it
// is registered with t.after, an exit handler kills what is left if the test process exits without it, and a
// watchdog does the same if the process is killed. When nats-server is missing the test is skipped, except under
// CI, where it fails.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { freePort } from '../../harness/net.ts';
import { skipMissing } from './missing.ts';

export const NATS_SERVER_BIN = process.env.KEYWARD_TEST_NATS_SERVER ?? '/usr/sbin/nats-server';

export interface NatsNode {
  /** server_name, as JetStream reports it (stream leader, peers). */
  readonly name: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly url: string;
  running(): boolean;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** Every node's client URL, comma-separated (the form a sink's `url` takes). */
  readonly url: string;
  /** The running nodes' client URLs. */
  runningUrls(): string[];
  /** Kills node i with SIGKILL (a crash: no goodbye to its peers) and waits until it has exited. */
  kill(i: number): Promise<void>;
  /** Starts node i again on its ports and store; resolves once it accepts clients. */
  start(i: number): Promise<void>;
  /** Resolves once the running nodes have a JetStream meta leader (the cluster answers JetStream API calls). */
  waitJetStream(timeoutMs?: number): Promise<void>;
  /** The server_name leading `stream` now, or undefined while it has none. */
  streamLeader(stream: string): Promise<string | undefined>;
  /** Index of the node with this server_name. */
  indexOf(name: string): number;
  close(): Promise<void>;
}

const CLUSTER_NAME = 'keyward-test';

/** Processes still running, killed when the test process exits whatever happened to the test. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

class Node implements NatsNode {
  readonly name: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly url: string;
  readonly #conf: string;
  readonly #pidFile: string;
  #proc: ChildProcess | undefined;
  #output = '';

  constructor(dir: string, index: number, port: number, clusterPort: number, routes: number[]) {
    this.name = `n${index + 1}`;
    this.port = port;
    this.clusterPort = clusterPort;
    this.url = `nats://127.0.0.1:${port}`;
    this.#conf = join(dir, `${this.name}.conf`);
    this.#pidFile = join(dir, `${this.name}.pid`);
    writeFileSync(
      this.#conf,
      [
        `server_name: ${this.name}`,
        `listen: 127.0.0.1:${port}`,
        `pid_file: "${this.#pidFile}"`,
        `jetstream { store_dir: "${join(dir, this.name)}" }`,
        'cluster {',
        `  name: ${CLUSTER_NAME}`,
        `  listen: 127.0.0.1:${clusterPort}`,
        `  routes: [${routes.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}]`,
        '}',
      ].join('\n') + '\n',
    );
  }

  running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running()) return;
    // -js as asked on the command line too, so a config without the block could never start a plain server.
    const proc = spawn(NATS_SERVER_BIN, ['-js', '-c', this.#conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#proc = proc;
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    const keep = (d: Buffer) => (this.#output = (this.#output + d.toString()).slice(-4000));
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    const deadline = Date.now() + 15_000;
    while (!(await portOpen(this.port))) {
      if (!this.running()) throw new Error(`nats-server ${this.name} exited (${proc.exitCode ?? proc.signalCode}): ${this.log()}`);
      if (Date.now() > deadline) throw new Error(`nats-server ${this.name} did not listen on ${this.port} within 15 s: ${this.log()}`);
      await sleep(50);
    }
  }

  async kill(): Promise<void> {
    const proc = this.#proc;
    if (!proc || !this.running()) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGKILL');
    await exited;
    // A crashed server leaves its pid file; the watchdog must never signal whatever process gets that pid next.
    rmSync(this.#pidFile, { force: true });
  }

  log(): string {
    return this.#output.trim().split('\n').slice(-5).join(' | ');
  }
}

async function startOnce(): Promise<{ dir: string; nodes: Node[]; watchdog: ChildProcess }> {
  const dir = mkdtempSync(join(tmpdir(), 'kw-nats-cluster-'));
  const ports = await Promise.all([0, 1, 2].map(() => freePort()));
  const clusterPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  const nodes = [0, 1, 2].map((i) => new Node(dir, i, ports[i]!, clusterPorts[i]!, clusterPorts.filter((_, j) => j !== i)));
  // If this process dies without its after-hooks, the watchdog kills the servers named by their pid files and
  // removes the directory.
  const watchdog = spawn(
    'sh',
    ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; for f in ${dir}/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")"; done 2>/dev/null; rm -rf ${dir}`],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (e) {
    await Promise.all(nodes.map((n) => n.kill()));
    if (watchdog.pid) process.kill(watchdog.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { dir, nodes, watchdog };
}

/**
 * A fresh three-node cluster with a JetStream meta leader, stopped when the test (or suite, with the `t` of a
 * before hook) ends; undefined after skipping the test when nats-server is not installed (under CI this throws).
 */
export async function startNatsCluster(t: TestContext, what = 'NATS cluster tests'): Promise<NatsCluster | undefined> {
  if (!existsSync(NATS_SERVER_BIN)) {
    const reason = `${NATS_SERVER_BIN} not found (apt-get install nats-server)`;
    skipMissing(t, what, reason);
    return undefined;
  }
  // A port free when chosen can be taken before the server binds it: try again with other ports.
  let started: Awaited<ReturnType<typeof startOnce>> | undefined;
  let last: unknown;
  for (let attempt = 0; attempt < 3 && !started; attempt++) {
    try {
      started = await startOnce();
    } catch (e) {
      last = e;
    }
  }
  if (!started) throw last;
  const { dir, nodes, watchdog } = started;
  let closed: Promise<void> | undefined;
  const cluster: NatsCluster = {
    nodes,
    url: nodes.map((n) => n.url).join(','),
    runningUrls: () => nodes.filter((n) => n.running()).map((n) => n.url),
    kill: (i) => nodes[i]!.kill(),
    start: (i) => nodes[i]!.start(),
    async waitJetStream(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const nc = await connect({ servers: cluster.runningUrls(), timeout: 2000, reconnect: false }).catch(() => undefined);
        try {
          // Account info needs the meta leader: it answers once the cluster has one.
          if (nc && (await jetstreamManager(nc, { timeout: 2000 }).then((jsm) => jsm.getAccountInfo()).then(() => true, () => false))) return;
        } finally {
          await nc?.close().catch(() => {});
        }
        if (Date.now() > deadline) throw new Error(`no JetStream meta leader within ${timeoutMs} ms: ${nodes.map((n) => `${n.name}: ${n.log()}`).join(' || ')}`);
        await sleep(200);
      }
    },
    async streamLeader(stream) {
      const nc = await connect({ servers: cluster.runningUrls(), timeout: 2000, reconnect: false }).catch(() => undefined);
      if (!nc) return undefined;
      try {
        const info = await jetstreamManager(nc, { timeout: 2000 }).then((jsm) => jsm.streams.info(stream)).catch(() => undefined);
        return info?.cluster?.leader || undefined;
      } finally {
        await nc.close().catch(() => {});
      }
    },
    indexOf(name) {
      const i = nodes.findIndex((n) => n.name === name);
      if (i < 0) throw new Error(`no node named ${name}`);
      return i;
    },
    close: () =>
      (closed ??= (async () => {
        await Promise.all(nodes.map((n) => n.kill()));
        if (watchdog.pid) {
          try {
            process.kill(watchdog.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
  t.after(() => cluster.close());
  try {
    await cluster.waitJetStream();
  } catch (e) {
    await cluster.close();
    throw e;
  }
  return cluster;
}
