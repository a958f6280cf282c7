// `keyward pdp serve`: the embedded Cedar engine as a standalone HTTP PDP speaking the KeyRack contract
// (POST /v1/authorize, GET /healthz), so one PDP can serve many Keyward instances.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ProblemError, problemBody, type ProblemCode } from '../http/problem.ts';
import { CedarEngine } from './cedar-engine.ts';
import { pdpRequestSchema, type PdpResponseBody } from './contract.ts';

export interface PdpServerOptions {
  policiesPath: string;
  schemaPath?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  watch?: boolean | undefined;
  logger?: Logger | undefined;
}

export interface PdpServer {
  url: string;
  engine: CedarEngine;
  close(): Promise<void>;
}

const MAX_BODY = 256 * 1024;

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function problem(res: http.ServerResponse, code: Extract<ProblemCode, `pdp.${string}`>, detail: string): void {
  const p = new ProblemError({ code, detail });
  send(res, p.status, problemBody(p, undefined), 'application/problem+json');
}

export async function startPdpServer(opts: PdpServerOptions): Promise<PdpServer> {
  const engine = await CedarEngine.load({ policiesPath: opts.policiesPath, schemaPath: opts.schemaPath, watch: opts.watch ?? true, logger: opts.logger });
  const log = opts.logger;

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, { status: 'ok', policy_version: engine.policyVersion });
    if (path !== '/v1/authorize') return problem(res, 'pdp.not_found', 'not found');
    if (req.method !== 'POST') return problem(res, 'pdp.method_not_allowed', 'use POST');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        problem(res, 'pdp.request_too_large', 'request body too large');
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      let body;
      try {
        body = pdpRequestSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        return problem(res, 'pdp.malformed_request', 'the request does not follow the PDP contract');
      }
      let reply: PdpResponseBody;
      try {
        const r = engine.evaluate(body);
        reply = {
          request_id: body.request_id,
          decision: r.allowed ? 'Permit' : 'Forbid',
          reasons: r.allowed
            ? r.policyIds.map((id) => ({ policy_id: id, reason_code: 'permit', human_message: `permitted by ${id}` }))
            : r.policyIds.length > 0
              ? r.policyIds.map((id) => ({ policy_id: id, reason_code: 'forbid', human_message: `forbidden by ${id}` }))
              : [{ reason_code: 'no_permit', human_message: 'no policy permits this request' }],
          obligations: [],
          policy_version: r.policyVersion,
        };
        if (r.errors.length > 0) log?.warn({ request_id: body.request_id, errors: r.errors }, 'cedar policy errors (skipped policies)');
      } catch (err) {
        log?.error({ request_id: body.request_id, err: (err as Error).message }, 'cedar evaluation failed');
        reply = {
          request_id: body.request_id,
          decision: 'Indeterminate',
          reasons: [{ reason_code: 'evaluation_error', human_message: 'the request could not be evaluated' }],
          obligations: [],
          policy_version: engine.policyVersion,
        };
      }
      log?.info({ request_id: body.request_id, action: body.action, principal: body.principal.id, decision: reply.decision }, 'pdp decision');
      send(res, 200, reply);
    });
  });
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8181, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    engine,
    close: async () => {
      await engine.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
