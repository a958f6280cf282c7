// The doctor's HTTP(S) client for the running deployment: plain node:http/https, so that it can trust a private CA
// (--ca), present a client certificate (--cert/--key) and report the certificate the server presented.
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface ProbeOptions {
  /** Base URL of the deployment, e.g. https://keyward.example:8200 */
  url: string;
  token?: string | undefined;
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  timeoutMs: number;
}

export interface ProbeResponse {
  status: number;
  contentType: string;
  text: string;
  /** The certificate the server presented (https only). */
  peerCertificate?: X509Certificate | undefined;
  /** Parsed JSON, when the body is JSON. */
  json?: unknown;
}

const MAX_BODY = 4 << 20;

/** One request; rejects on a network or TLS error (including an untrusted certificate) or a timeout. */
export function probe(opts: ProbeOptions, method: 'GET' | 'POST', path: string, body?: unknown, withToken = false): Promise<ProbeResponse> {
  const url = new URL(path, opts.url.endsWith('/') ? opts.url : opts.url + '/');
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { accept: 'application/json, text/plain;q=0.9, */*;q=0.1', 'user-agent': 'keyward-doctor' };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (withToken && opts.token) headers['authorization'] = `Bearer ${opts.token}`;
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(
      url,
      {
        method,
        headers,
        signal: AbortSignal.timeout(opts.timeoutMs),
        agent: false,
        ...(secure ? { ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.cert ? { cert: opts.cert } : {}), ...(opts.key ? { key: opts.key } : {}) } : {}),
      },
      (res) => {
        const peer = secure ? (res.socket as TLSSocket).getPeerX509Certificate?.() : undefined;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const contentType = String(res.headers['content-type'] ?? '');
          let json: unknown;
          if (/json/.test(contentType)) {
            try {
              json = JSON.parse(text);
            } catch {
              // not JSON after all
            }
          }
          resolve({ status: res.statusCode ?? 0, contentType, text, peerCertificate: peer, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** What went wrong with a request, in a few words (never a token). */
export function describeNetworkError(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { cause?: unknown };
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return 'no answer in time';
  return err?.code ? `${err.code}${err.message && !err.message.includes(err.code) ? `: ${err.message}` : ''}` : String(err?.message ?? e);
}
