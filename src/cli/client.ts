// A small HTTP client for the CLI commands that talk to a running server.
import type { CliIo } from './io.ts';
import { EXIT } from './io.ts';
import { UsageError, usageError } from './args.ts';

export interface ClientOptions {
  addr: string;
  token: string | undefined;
  timeoutSeconds: number;
}

/** Options every client command accepts (merged into each command's own). */
export const CLIENT_OPTIONS = {
  addr: { type: 'string' },
  token: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const CLIENT_USAGE =
  'common options: --addr URL (KEYWARD_ADDR, default http://127.0.0.1:8200)  --token T (KEYWARD_TOKEN)\n' +
  '                --timeout SECONDS (KEYWARD_TIMEOUT, default 30)  --json (machine-readable output)  -h, --help';

const DEFAULT_ADDR = 'http://127.0.0.1:8200';
const DEFAULT_TIMEOUT_SECONDS = 30;

export function clientOptions(
  flags: { addr?: string | undefined; token?: string | undefined; timeout?: string | undefined },
  io: CliIo,
): ClientOptions {
  const addrFrom = flags.addr !== undefined ? '--addr' : 'KEYWARD_ADDR';
  const addr = flags.addr ?? (io.env['KEYWARD_ADDR'] || DEFAULT_ADDR);
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    throw new UsageError(`${addrFrom} is not a URL: ${JSON.stringify(addr)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${addrFrom} must be an http:// or https:// URL, not ${JSON.stringify(addr)}`);
  const timeoutFrom = flags.timeout !== undefined ? '--timeout' : 'KEYWARD_TIMEOUT';
  const timeout = flags.timeout ?? (io.env['KEYWARD_TIMEOUT'] || String(DEFAULT_TIMEOUT_SECONDS));
  const timeoutSeconds = Number(timeout);
  // AbortSignal.timeout takes at most a 32-bit millisecond count; a day is far beyond any sane wait.
  if (!/^\d+(\.\d+)?$/.test(timeout.trim()) || !(timeoutSeconds > 0) || timeoutSeconds > 86_400) {
    throw new UsageError(`${timeoutFrom} must be a number of seconds between 0 and 86400, not ${JSON.stringify(timeout)}`);
  }
  return { addr: addr.replace(/\/$/, ''), token: flags.token ?? io.env['KEYWARD_TOKEN'], timeoutSeconds };
}

export class ApiError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, body: Record<string, unknown>) {
    const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    super(text(body['detail']) ?? text(body['title']) ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Something answered, but not with Keyward's JSON (a proxy's error page, another service on the port). */
export class NotKeywardError extends Error {
  readonly status: number;
  constructor(status: number, addr: string, contentType: string) {
    super(`HTTP ${status} from ${addr} is not a Keyward response (${contentType})`);
    this.status = status;
  }
}

export class ClientTimeoutError extends Error {
  constructor(seconds: number) {
    super(`the server did not answer within ${seconds} s`);
  }
}

export async function call(opts: ClientOptions, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  let text: string;
  // One deadline for the whole exchange: a server that accepts and then stalls mid-body is as stuck as one that
  // never answers. A plain timer rather than AbortSignal.timeout: the tests' fake clock drives it.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new ClientTimeoutError(opts.timeoutSeconds)), opts.timeoutSeconds * 1000);
  try {
    res = await fetch(opts.addr + path, { method, headers, signal: deadline.signal, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    text = await res.text();
  } catch (e) {
    if (deadline.signal.aborted) throw deadline.signal.reason;
    throw e;
  } finally {
    clearTimeout(timer);
  }
  const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  let json: Record<string, unknown> = {};
  if (text) {
    const notKeyward = new NotKeywardError(res.status, opts.addr, contentType || 'no content type');
    if (!/[/+]json$/i.test(contentType)) throw notKeyward;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw notKeyward;
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw notKeyward;
  }
  // Every Keyward error is a problem document with a string code; an error without one (an empty 502 from a proxy,
  // another service's JSON) is not Keyward's, and is reported as such rather than as "500: HTTP 500".
  if (!res.ok && typeof json['code'] !== 'string') throw new NotKeywardError(res.status, opts.addr, contentType || 'no content type');
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

/** Node's codes for a server certificate the client cannot verify: the server answered, so "set --addr" misleads. */
const UNTRUSTED_CERTIFICATE = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']);

/**
 * Maps a failure to an exit code and a one-line message on stderr (problem code first: scripts grep for it); with
 * --json also {"ok":false,"error":{…}} on stdout, so a script reading stdout gets one JSON document on every path.
 */
export function reportError(e: unknown, io: CliIo, json = false): number {
  const fail = (exit: number, message: string, detail: { code?: string; status?: number } = {}) => {
    io.err(`error: ${detail.code !== undefined ? `${detail.code}: ` : ''}${message}`);
    if (json) io.out(JSON.stringify({ ok: false, error: { ...detail, message } }));
    return exit;
  };
  if (e instanceof ApiError) {
    const code = typeof e.body['code'] === 'string' ? e.body['code'] : String(e.status);
    const exit = e.status === 401 || e.status === 403 ? EXIT.denied : e.status === 503 ? EXIT.unavailable : EXIT.failure;
    return fail(exit, e.message, { code, status: e.status });
  }
  // A 5xx page usually means a proxy could not reach Keyward: the same situation as an unreachable server.
  if (e instanceof NotKeywardError) return fail(e.status >= 500 ? EXIT.unavailable : EXIT.failure, e.message, { status: e.status });
  if (e instanceof ClientTimeoutError) return fail(EXIT.unavailable, e.message);
  // fetch reports every network-level failure as a TypeError with the reason as its cause.
  if (e instanceof TypeError && (e as { cause?: unknown }).cause !== undefined) {
    const cause = (e as { cause: { code?: string; message?: string } }).cause;
    if (cause.code && UNTRUSTED_CERTIFICATE.has(cause.code)) {
      return fail(EXIT.unavailable, `cannot verify the server's TLS certificate (${cause.code}); if a private CA signed it, run with NODE_EXTRA_CA_CERTS=CA.pem`);
    }
    return fail(EXIT.unavailable, `cannot reach the server (${cause.code ?? cause.message ?? 'network error'}); set --addr or KEYWARD_ADDR`);
  }
  return fail(EXIT.failure, (e as Error).message);
}

/**
 * Runs a client command body: argument problems found while building the request are usage errors (exit 2,
 * with the command's usage); anything else is reported by reportError.
 */
export async function runClient(io: CliIo, usage: string, body: () => Promise<number>, json = false): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) return usageError(io, usage, e.message);
    return reportError(e, io, json);
  }
}
