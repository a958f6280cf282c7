// Identity asserted by a trusted reverse proxy in request headers. Only configured proxy addresses may
// send those headers; from anywhere else they fail the request rather than being ignored.
import { BlockList, isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import { attempt } from '../core/preflight.ts';
import { permissionList } from './config-fields.ts';
import type { AuthenticatorDescriptor } from './descriptor.ts';
import type { Authenticator, AuthnRequest, Principal } from './types.ts';
import { authError } from './errors.ts';
import { certIdentity, mappedPermissions } from './mtls.ts';

export const forwardedIdentityConfigSchema = z
  .object({
    type: z.literal('forwarded_identity'),
    /** Proxy addresses or CIDRs; identity headers from anywhere else fail the request. */
    trusted_proxies: z.array(z.string().min(1)).min(1),
    id_header: z.string().min(1).default('x-forwarded-user'),
    type_header: z.string().min(1).optional(),
    permissions_header: z.string().min(1).optional(),
    groups_header: z.string().min(1).optional(),
    identities: z.record(z.string(), permissionList).default({}),
    group_permissions: z.record(z.string(), permissionList).default({}),
    /** Also require the proxy's own connection to be mTLS-verified. */
    require_mtls: z.boolean().default(false),
    /** With require_mtls: the proxy certificate's SPIFFE ID or CN must be one of these. */
    proxy_identities: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();
export type ForwardedIdentityConfig = z.infer<typeof forwardedIdentityConfigSchema>;

export function buildBlockList(entries: string[], field: string): BlockList {
  const bl = new BlockList();
  for (const raw of entries) {
    const e = raw.trim();
    const [addr, bits] = e.split('/') as [string, string | undefined];
    const fam = isIP(addr);
    if (fam === 0 || (bits !== undefined && !/^\d+$/.test(bits))) throw new Error(`${field}: ${e} is not an address or CIDR`);
    const type = fam === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) bl.addAddress(addr, type);
    else {
      const n = Number(bits);
      if (n > (fam === 4 ? 32 : 128)) throw new Error(`${field}: ${e} has an invalid prefix length`);
      bl.addSubnet(addr, n, type);
    }
  }
  return bl;
}

export function addressIn(bl: BlockList, ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const addr = mapped ? mapped[1]! : ip;
  const fam = isIP(addr);
  if (fam === 0) return false;
  return bl.check(addr, fam === 4 ? 'ipv4' : 'ipv6');
}

const header = (h: IncomingHttpHeaders, name: string) => {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v.join(',') : v;
};
const list = (v: string | undefined) => (v ?? '').split(/[\s,]+/).filter((s) => s !== '');

export class ForwardedIdentityAuthenticator implements Authenticator {
  readonly name = 'forwarded_identity';
  readonly #cfg: ForwardedIdentityConfig;
  readonly #trusted: BlockList;
  readonly #logger: Logger;
  readonly #headers: string[];

  constructor(cfg: ForwardedIdentityConfig, deps: { logger: Logger }, at = 'authn') {
    this.#cfg = cfg;
    this.#trusted = buildBlockList(cfg.trusted_proxies, `${at}.trusted_proxies`);
    this.#logger = deps.logger;
    this.#headers = [cfg.id_header, cfg.type_header, cfg.permissions_header, cfg.groups_header].filter((h): h is string => h !== undefined);
  }

  async authenticate(req: AuthnRequest): Promise<Principal | undefined> {
    if (!this.#headers.some((h) => header(req.headers, h) !== undefined)) return undefined;
    if (!addressIn(this.#trusted, req.sourceIp)) {
      this.#logger.warn({ source_ip: req.sourceIp }, 'forwarded identity headers from an untrusted address');
      throw authError('auth.invalid_credential', 'identity headers are only accepted from a trusted proxy');
    }
    if (this.#cfg.require_mtls) {
      const cert = req.peerCertificate;
      if (!cert || !cert.raw || req.peerAuthorized !== true) throw authError('auth.invalid_credential', 'the proxy must connect with a verified client certificate');
      if (this.#cfg.proxy_identities) {
        const ident = certIdentity(cert, 'spiffe_then_cn');
        if (!ident || !this.#cfg.proxy_identities.includes(ident.id)) throw authError('auth.invalid_credential', 'the proxy certificate is not a trusted proxy identity');
      }
    }
    const id = header(req.headers, this.#cfg.id_header)?.trim();
    if (!id || id.length > 256 || /[\x00-\x1f\x7f]/.test(id)) throw authError('auth.malformed_credential', `the ${this.#cfg.id_header} header is missing or malformed`);
    const t = this.#cfg.type_header ? header(req.headers, this.#cfg.type_header)?.trim().toLowerCase() : undefined;
    const groups = this.#cfg.groups_header ? list(header(req.headers, this.#cfg.groups_header)) : [];
    const permissions = new Set<string>([
      ...(this.#cfg.permissions_header ? list(header(req.headers, this.#cfg.permissions_header)) : []),
      ...mappedPermissions(this.#cfg.identities, id),
      ...groups.flatMap((g) => this.#cfg.group_permissions[g] ?? []),
    ]);
    return {
      id,
      type: t === 'service' ? 'service' : 'user',
      authMethod: 'forwarded_identity',
      permissions: [...permissions],
      attributes: { groups, proxy: req.sourceIp },
    };
  }
}

/** A proxy range so wide that it is not a statement about proxies (0.0.0.0/0 however spelt, 0.0.0.0/1, ::/0...). */
function tooWide(entry: string): boolean {
  const [addr, bits] = entry.trim().split('/') as [string, string | undefined];
  if (bits === undefined || !/^\d+$/.test(bits)) return false;
  return Number(bits) < (addr.includes(':') ? 16 : 8);
}

export const forwardedIdentityDescriptor: AuthenticatorDescriptor<ForwardedIdentityConfig, z.input<typeof forwardedIdentityConfigSchema>> = {
  type: 'forwarded_identity',
  title: 'identity headers from a trusted reverse proxy',
  configSchema: forwardedIdentityConfigSchema,
  devOnly: false,
  alone: true,
  strong: false,
  async create(cfg, deps, at) {
    return new ForwardedIdentityAuthenticator(cfg, deps, at);
  },
  preflight: (cfg, _ctx, at) => attempt(`${at}.trusted_proxies`, () => buildBlockList(cfg.trusted_proxies, `${at}.trusted_proxies`)),
  production: (cfg, at) =>
    cfg.trusted_proxies.some(tooWide) ? [`${at}.trusted_proxies: ranges wider than /8 (IPv4) or /16 (IPv6) let almost anyone assert an identity`] : [],
  tls: (cfg) => ({ requestClientCert: cfg.require_mtls, caFiles: [] }),
};
