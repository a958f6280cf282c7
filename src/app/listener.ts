// The server's socket, bound before anything else happens at start: a second instance whose port is taken stops
// before it opens the store or the audit trail, so a refused start changes nothing. Until the app is ready,
// requests get 503 system.not_ready; then Fastify (given this server through serverFactory) takes them.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { authnTlsRequirements } from '../authn/index.ts';
import type { KeywardConfig } from '../config/index.ts';
import { COMMON_HEADERS } from '../http/errors.ts';
import { problemBody, problemHeaders, unavailable } from '../http/problem.ts';

export interface Listener {
  readonly server: http.Server;
  /** `http://127.0.0.1:8200`, as Fastify's listen() would report it. */
  readonly address: string;
  /** For Fastify's `serverFactory`: keeps Fastify's handler for `serve()`. */
  factory(handler: RequestListener): http.Server;
  /** From now on, requests go to the handler Fastify registered. */
  serve(): void;
  /** Stops accepting connections and closes idle ones; resolves when the last connection has ended. */
  close(): Promise<void>;
}

/** TLS options for the server, from server.tls and the mTLS authenticators' CAs. */
export function httpsOptions(config: KeywardConfig) {
  const tls = config.server.tls;
  if (!tls) return undefined;
  // Client certificates are verified against every CA the configuration names (server.tls.client_ca_file and the
  // mtls authenticators' ca_file).
  const needs = config.authn ? authnTlsRequirements(config.authn) : { requestClientCert: false, caFiles: [] };
  const caFiles = [...(tls.client_ca_file ? [tls.client_ca_file] : []), ...needs.caFiles];
  return {
    key: readFileSync(tls.key_file),
    cert: readFileSync(tls.cert_file),
    ...(caFiles.length > 0 ? { ca: Buffer.concat(caFiles.map((f) => readFileSync(f))) } : {}),
    // Ask for a client certificate but let the authenticators decide, so a missing or wrong certificate gets a
    // problem+json answer rather than a TLS alert.
    requestCert: caFiles.length > 0 || needs.requestClientCert,
    rejectUnauthorized: false,
  };
}

function notReady(_req: IncomingMessage, res: ServerResponse): void {
  const requestId = randomUUID();
  const problem = unavailable('system.not_ready', 'starting');
  const body = JSON.stringify(problemBody(problem, requestId));
  // The headers any problem gets (Retry-After only as the registry says), as Fastify will send them once ready.
  res.writeHead(503, { ...COMMON_HEADERS, ...problemHeaders(problem), 'content-type': 'application/problem+json', 'x-request-id': requestId, connection: 'close' });
  res.end(body);
}

/** Binds host:port; rejects with the listen error (EADDRINUSE…) having opened nothing else. */
export async function bindListener(config: KeywardConfig): Promise<Listener> {
  const tls = httpsOptions(config);
  let handler: RequestListener = notReady;
  let fastifyHandler: RequestListener | undefined;
  const dispatch: RequestListener = (req, res) => handler(req, res);
  const server = tls ? https.createServer(tls, dispatch) : http.createServer(dispatch);
  // What Fastify sets on a server it creates itself, with its defaults.
  server.keepAliveTimeout = 72_000;
  server.requestTimeout = 0;
  server.setTimeout(0);
  const { host, port } = config.server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const address = `${tls ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  let closing: Promise<void> | undefined;
  return {
    server,
    address,
    factory(h) {
      fastifyHandler = h;
      return server;
    },
    serve() {
      if (!fastifyHandler) throw new Error('the app was not built on this listener');
      handler = fastifyHandler;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
