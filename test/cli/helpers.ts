// Shared by the CLI tests: run `main` in-process with captured streams, and small stand-in servers.
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { freePort } from '../../harness/net.ts';
import { main } from '../../src/cli/main.ts';
import type { CliIo } from '../../src/cli/io.ts';

export interface RunResult {
  code: number;
  out: string;
  err: string;
  /** What was written as raw bytes (io.write). */
  bytes: Buffer;
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv, extra: Partial<CliIo> = {}): Promise<RunResult> {
  const out: string[] = [];
  const err: string[] = [];
  const bytes: Buffer[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), write: (b) => bytes.push(Buffer.from(b)), env, ...extra });
  return { code, out: out.join('\n'), err: err.join('\n'), bytes: Buffer.concat(bytes) };
}

/** The tests' servers use this port range only (some environments open no other). */
const FIRST_PORT = 18460;
const LAST_PORT = 18480;

/** Calls listen on each port of the range until one is free; returns that port. */
export async function listenInRange(listen: (port: number) => Promise<unknown>): Promise<number> {
  for (let port = FIRST_PORT; port <= LAST_PORT; port++) {
    try {
      await listen(port);
      return port;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    }
  }
  throw new Error(`no free port in ${FIRST_PORT}-${LAST_PORT}`);
}

export function listenServer(server: Server): Promise<number> {
  return listenInRange(
    (port) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      }),
  );
}

export interface StubServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

export interface SilentServer extends StubServer {
  /** Settles when the next request's first bytes arrive (a connection that sends nothing is not a request). */
  nextRequest(): Promise<void>;
}

/** A plain TCP server: accepts connections and never answers (a stuck server or a black-holing proxy). */
export async function silentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  const waiting: Array<() => void> = [];
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('data', () => waiting.shift()?.());
  });
  server.unref(); // a failed test must not keep the process alive
  const port = await listenServer(server);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    nextRequest: () => new Promise((r) => waiting.push(r)),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** An HTTP server that is not Keyward (e.g. a reverse proxy answering for it). */
export async function httpServer(handler: RequestListener): Promise<StubServer> {
  const server = createHttpServer(handler);
  server.unref();
  const port = await listenServer(server);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/**
 * A port nothing listens on: one the kernel hands out at random and takes back. Not from the range above: every
 * server started there takes its lowest free port, which is this one, so the next server of this run or of another
 * run on the same machine answered where the test expected a refused connection.
 */
export const closedPort = freePort;

/** No stack trace: lines like "    at fn (file:1:2)" never belong in a user-facing error. */
export const STACK_LINE = /^\s+at .+[(:]/m;
