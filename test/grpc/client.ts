// A real grpc-js client of keyward.v1.KeyService, built from the published .proto, over TLS (optionally with a client
// certificate). Calls resolve with the response or reject with the ServiceError; `problem` reads a refusal.
import { credentials, loadPackageDefinition, Metadata, type ServiceError, type Client } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const PROTO = join(import.meta.dirname, '..', '..', 'proto', 'keyward', 'v1', 'keys.proto');

type Ctor = new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client;
const definition = loadPackageDefinition(loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: false }));
const KeyServiceClient = (definition.keyward as unknown as { v1: { KeyService: Ctor } }).v1.KeyService;

export interface KeyClient {
  call<T = any>(method: string, request: Record<string, unknown>, metadata?: Record<string, string>): Promise<T>;
  close(): void;
}

/** `ca`: the server's CA (PEM file); `cert`/`key`: the client certificate for mTLS; no `tls`: plaintext. */
export function keyClient(port: number, tls: { ca: string; cert?: string; key?: string } | undefined, defaults: Record<string, string> = {}): KeyClient {
  const creds = tls ? credentials.createSsl(readFileSync(tls.ca), tls.key ? readFileSync(tls.key) : null, tls.cert ? readFileSync(tls.cert) : null) : credentials.createInsecure();
  const client = new KeyServiceClient(`127.0.0.1:${port}`, creds) as Client & Record<string, Function>;
  return {
    call(method, request, metadata = {}) {
      const md = new Metadata();
      for (const [k, v] of Object.entries({ ...defaults, ...metadata })) md.add(k, v);
      return new Promise((resolve, reject) => {
        client[method]!.call(client, request, md, (err: ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res as never)));
      });
    },
    close: () => client.close(),
  };
}

/** Asserts the call was refused with `status` and the problem `code` in trailing metadata; returns the error. */
export async function refused(p: Promise<unknown>, status: number, code: string): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    const err = e as ServiceError;
    assert.equal(err.code, status, `expected gRPC status ${status} ${code}, got ${err.code} ${err.details} ${err.metadata?.get('keyward-problem-code')}`);
    assert.deepEqual(err.metadata.get('keyward-problem-code'), [code], err.details);
    assert.equal(err.metadata.get('x-request-id').length, 1);
    return err;
  }
  assert.fail(`expected a refusal with ${code}`);
}
