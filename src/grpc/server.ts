// The gRPC transport: keyward.v1.KeyService (proto/keyward/v1/keys.proto) on its own port, with the TLS settings
// REST uses (server.tls and the mTLS authenticators' CAs). The composition root starts and stops it.
import { experimental, Server, ServerCredentials, setLogger } from '@grpc/grpc-js';
import { rootCertificates } from 'node:tls';
import { format } from 'node:util';
import { loadSync, type MethodDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { join } from 'node:path';
import type { KeyService } from '../keys/service.ts';
import { type CallDeps, tolerantDecoder } from './call.ts';
import { KEY_SERVICE, keyServiceImplementation } from './key-service.ts';

export const PROTO_FILE = join(import.meta.dirname, '..', '..', 'proto', 'keyward', 'v1', 'keys.proto');

/** keepCase: field names stay the REST JSON's snake_case; unset fields stay absent (REST: omitted). */
export const PROTO_OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: false } as const;

/** The TLS material REST serves with (src/app/listener.ts httpsOptions). */
export interface GrpcTls {
  key: Buffer;
  cert: Buffer;
  /** Client CAs: when present, clients may present a certificate (verified, then judged by the authenticators). */
  ca?: Buffer | undefined;
  /** Ask for a client certificate even without `ca` (then verified against Node's root CAs, as REST's TLS does). */
  requestCert?: boolean | undefined;
}

export interface GrpcServerOptions extends CallDeps {
  keys: KeyService;
  host: string;
  port: number;
  tls: GrpcTls | undefined;
  /** The largest message accepted, in bytes (REST's server.body_limit). */
  maxMessageBytes: number;
}

export interface GrpcServer {
  readonly port: number;
  /** Stops taking calls; those in flight finish (forced after `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/** Fixed material, handed to grpc-js on its next tick (it subscribes before it can receive an update). */
class StaticProvider implements experimental.CertificateProvider {
  readonly #update: { caCertificate: Buffer } | { certificate: Buffer; privateKey: Buffer };
  constructor(update: { caCertificate: Buffer } | { certificate: Buffer; privateKey: Buffer }) {
    this.#update = update;
  }
  addCaCertificateListener(l: (u: { caCertificate: Buffer }) => void) {
    if ('caCertificate' in this.#update) queueMicrotask(() => l(this.#update as { caCertificate: Buffer }));
  }
  removeCaCertificateListener() {}
  addIdentityCertificateListener(l: (u: { certificate: Buffer; privateKey: Buffer }) => void) {
    if ('certificate' in this.#update) queueMicrotask(() => l(this.#update as { certificate: Buffer; privateKey: Buffer }));
  }
  removeIdentityCertificateListener() {}
}

function credentials(tls: GrpcTls | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  // Not createSsl: asking for a client certificate there also makes it mandatory, which would refuse Bearer and API
  // key callers at the handshake. As REST does, ask for one without requiring it and let the authenticators decide.
  return experimental.createCertificateProviderServerCredentials(
    new StaticProvider({ certificate: tls.cert, privateKey: tls.key }),
    tls.ca || tls.requestCert ? new StaticProvider({ caCertificate: tls.ca ?? Buffer.from(rootCertificates.join('\n')) }) : null,
    false,
  );
}

/** grpc-js reports a failed bind in its message only; the errno code lets `keyward serve` exit as for REST's port. */
function bindError(err: Error, address: string): Error {
  const code = /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(err.message)?.[1];
  return Object.assign(new Error(`server.grpc: cannot listen on ${address}: ${code ?? err.message}`), code ? { code } : {});
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServer> {
  // grpc-js writes its own errors to stderr (process-wide); send them to the server log instead, where stdout/stderr
  // discipline (audit on stdout, one-line start errors) holds. Failures that matter are also reported by us.
  setLogger({ error: (...args: unknown[]) => opts.logger.warn({ grpc: format(...args) }, 'grpc-js') });
  const service = loadSync(PROTO_FILE, PROTO_OPTIONS)[KEY_SERVICE] as ServiceDefinition;
  const tolerant = Object.fromEntries(
    Object.entries(service).map(([name, m]: [string, MethodDefinition<object, object>]) => {
      const type = (m.requestType.type as { name?: string }).name;
      return [name, { ...m, requestDeserialize: tolerantDecoder(m.requestDeserialize, `keyward.v1.${type ?? 'message'}`) }];
    }),
  );
  const server = new Server({ 'grpc.max_receive_message_length': opts.maxMessageBytes });
  server.addService(tolerant as never, keyServiceImplementation(opts, opts.keys));
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${opts.port}`, credentials(opts.tls), (err, p) => (err ? reject(bindError(err, `${host}:${opts.port}`)) : resolve(p)));
  });
  let closing: Promise<void> | undefined;
  return {
    port,
    close(graceMs = 5000) {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}
