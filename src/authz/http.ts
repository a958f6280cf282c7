// The external PDP over HTTP (KeyRack JSON contract). Fail closed: unreachable, timeout, non-2xx or a
// malformed reply throw 503 authz.pdp_unavailable; Forbid and Indeterminate deny.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isLocalUrl } from '../authn/config-fields.ts';
import { unreadable } from '../core/preflight.ts';
import type { PdpDescriptor } from './descriptor.ts';
import type { AuthzDecision, AuthzRequest, Pdp } from './types.ts';
import { pdpResponseSchema, toPdpRequest } from './contract.ts';
import { pdpUnavailable } from './errors.ts';

const MAX_REPLY = 1 << 20;

export const httpPdpConfigSchema = z
  .object({
    type: z.literal('http'),
    endpoint: z.url({ protocol: /^https?$/ }),
    timeout_ms: z.number().int().min(1).max(60_000).default(5000),
    ca_file: z.string().min(1).optional(),
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
  })
  .strict()
  .refine((c) => (c.cert_file === undefined) === (c.key_file === undefined), {
    message: 'cert_file and key_file go together',
    path: ['cert_file'],
  });
export type HttpPdpConfig = z.infer<typeof httpPdpConfigSchema>;

export interface HttpPdpOptions {
  endpoint: string;
  timeoutMs: number;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  logger?: Logger | undefined;
}

function readOrThrow(file: string, field: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`authz.pdp.${field}: cannot read ${file}: ${(err as Error).message}`);
  }
}

export class HttpPdp implements Pdp {
  readonly name = 'http';
  readonly #url: URL;
  readonly #timeoutMs: number;
  readonly #agent: http.Agent;
  readonly #logger: Logger | undefined;

  constructor(opts: HttpPdpOptions) {
    this.#url = new URL(opts.endpoint);
    this.#timeoutMs = opts.timeoutMs;
    this.#logger = opts.logger;
    if (this.#url.protocol === 'https:') {
      this.#agent = new https.Agent({
        keepAlive: true,
        ...(opts.caFile ? { ca: readOrThrow(opts.caFile, 'ca_file') } : {}),
        ...(opts.certFile ? { cert: readOrThrow(opts.certFile, 'cert_file') } : {}),
        ...(opts.keyFile ? { key: readOrThrow(opts.keyFile, 'key_file') } : {}),
      });
    } else {
      this.#agent = new http.Agent({ keepAlive: true });
    }
  }

  #post(body: string): Promise<{ status: number; text: string }> {
    const mod = this.#url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        this.#url,
        {
          method: 'POST',
          agent: this.#agent,
          headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
          signal: AbortSignal.timeout(this.#timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_REPLY) req.destroy(new Error('reply too large'));
            else chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  async decide(req: AuthzRequest): Promise<AuthzDecision> {
    const body = toPdpRequest(req);
    let reply: { status: number; text: string };
    try {
      reply = await this.#post(JSON.stringify(body));
    } catch (err) {
      this.#logger?.error({ err: (err as Error).message, request_id: req.requestId }, 'PDP unreachable');
      throw pdpUnavailable('the policy decision point is unreachable');
    }
    if (reply.status < 200 || reply.status > 299) {
      this.#logger?.error({ status: reply.status, request_id: req.requestId }, 'PDP answered with an error status');
      throw pdpUnavailable('the policy decision point failed');
    }
    let parsed;
    try {
      parsed = pdpResponseSchema.parse(JSON.parse(reply.text));
    } catch {
      this.#logger?.error({ request_id: req.requestId }, 'PDP reply is malformed');
      throw pdpUnavailable('the policy decision point gave a malformed reply');
    }
    if (parsed.request_id !== undefined && parsed.request_id !== body.request_id) {
      this.#logger?.error({ request_id: req.requestId }, 'PDP reply is for another request');
      throw pdpUnavailable('the policy decision point gave a malformed reply');
    }
    const reasons = parsed.reasons.map((r) => r.policy_id ?? r.reason_code ?? r.human_message ?? '').filter((s) => s !== '');
    if (parsed.decision === 'Indeterminate') this.#logger?.warn({ request_id: req.requestId, reasons }, 'PDP indeterminate: denying');
    // Keyward fulfils no obligations; a permit that depends on one it cannot carry out is no permit (XACML §7.18).
    if (parsed.decision === 'Permit' && parsed.obligations.length > 0) {
      this.#logger?.warn({ request_id: req.requestId, obligations: parsed.obligations.map((o) => o.obligation_id) }, 'PDP permit with obligations Keyward cannot fulfil: denying');
      return { allowed: false, reasons: [...reasons, 'unfulfillable_obligation'], policyVersion: parsed.policy_version };
    }
    return { allowed: parsed.decision === 'Permit', reasons, policyVersion: parsed.policy_version };
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}

export const httpPdpDescriptor: PdpDescriptor<HttpPdpConfig, z.input<typeof httpPdpConfigSchema>> = {
  type: 'http',
  title: 'an external PDP over HTTP (KeyRack JSON contract)',
  configSchema: httpPdpConfigSchema,
  create: async (cfg, deps) =>
    new HttpPdp({ endpoint: cfg.endpoint, timeoutMs: cfg.timeout_ms, caFile: cfg.ca_file, certFile: cfg.cert_file, keyFile: cfg.key_file, logger: deps.logger }),
  // The client reads its TLS files only for an https endpoint.
  preflight: (cfg) =>
    cfg.endpoint.startsWith('https:')
      ? [...unreadable(cfg.ca_file, 'authz.pdp.ca_file'), ...unreadable(cfg.cert_file, 'authz.pdp.cert_file'), ...unreadable(cfg.key_file, 'authz.pdp.key_file')]
      : [],
  production: (cfg) => (cfg.endpoint.startsWith('http:') && !isLocalUrl(cfg.endpoint) ? ['authz.pdp.endpoint: use https for a remote PDP'] : []),
};
