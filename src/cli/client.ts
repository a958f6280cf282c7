// A small HTTP client for the CLI commands that talk to a running server.
import type { CliIo } from './io.ts';
import { EXIT } from './io.ts';

export interface ClientOptions {
  addr: string;
  token: string | undefined;
}

export function clientOptions(flags: { addr?: string | undefined; token?: string | undefined }, io: CliIo): ClientOptions {
  return {
    addr: (flags.addr ?? io.env['KEYWARD_ADDR'] ?? 'http://127.0.0.1:8200').replace(/\/$/, ''),
    token: flags.token ?? io.env['KEYWARD_TOKEN'],
  };
}

export class ApiError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, body: Record<string, unknown>) {
    super(String(body['detail'] ?? body['title'] ?? `HTTP ${status}`));
    this.status = status;
    this.body = body;
  }
}

export async function call(opts: ClientOptions, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(opts.addr + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

/** Maps a failure to an exit code and a one-line message (problem code first: scripts grep for it). */
export function reportError(e: unknown, io: CliIo): number {
  if (e instanceof ApiError) {
    io.err(`error: ${String(e.body['code'] ?? e.status)}: ${e.message}`);
    if (e.status === 401 || e.status === 403) return EXIT.denied;
    if (e.status === 503) return EXIT.unavailable;
    return EXIT.failure;
  }
  // fetch reports every network-level failure as a TypeError with the reason as its cause.
  if (e instanceof TypeError && (e as { cause?: unknown }).cause !== undefined) {
    const cause = (e as { cause: { code?: string; message?: string } }).cause;
    io.err(`error: cannot reach the server (${cause.code ?? cause.message ?? 'network error'}); set --addr or KEYWARD_ADDR`);
    return EXIT.unavailable;
  }
  io.err(`error: ${(e as Error).message}`);
  return EXIT.failure;
}
