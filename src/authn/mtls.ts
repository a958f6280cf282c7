// mTLS: the TLS layer verified the client certificate against the configured CA; the identity is the
// SPIFFE ID in the URI SAN (preferred), else the subject CN.
import type { PeerCertificate } from 'node:tls';
import { z } from 'zod';
import { unreadable } from '../core/preflight.ts';
import { permissionList } from './config-fields.ts';
import type { AuthenticatorDescriptor } from './descriptor.ts';
import type { Authenticator, AuthnRequest, Principal } from './types.ts';
import { authError, clientNotAllowed } from './errors.ts';

export const mtlsConfigSchema = z
  .object({
    type: z.literal('mtls'),
    /** CA bundle the REST listener verifies client certificates against (the server loads it). */
    ca_file: z.string().min(1),
    identity_source: z.enum(['spiffe_then_cn', 'spiffe', 'cn']).default('spiffe_then_cn'),
    /** When set, only SPIFFE IDs from these trust domains are accepted (CN-only certificates are refused). */
    trust_domains: z.array(z.string().min(1)).min(1).optional(),
    /** Identity (SPIFFE ID or CN; a trailing * matches a prefix) → permissions. */
    identities: z.record(z.string(), permissionList).default({}),
    default_permissions: permissionList.default([]),
  })
  .strict();
export type MtlsConfig = z.infer<typeof mtlsConfigSchema>;

const SPIFFE_RE = /^spiffe:\/\/([a-z0-9._-]+)(\/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$/;

export interface CertIdentity {
  id: string;
  kind: 'spiffe' | 'cn';
  trustDomain?: string;
}

export function uriSans(cert: PeerCertificate): string[] {
  const san = cert.subjectaltname ?? '';
  const out: string[] = [];
  // Node quotes values that contain separators as JSON strings.
  for (const m of san.matchAll(/(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    const v = m[1]!;
    out.push(v.startsWith('"') ? (JSON.parse(v) as string) : v);
  }
  return out;
}

export function certCn(cert: PeerCertificate): string | undefined {
  const cn = (cert.subject as unknown as Record<string, string | string[]> | undefined)?.['CN'];
  return Array.isArray(cn) ? cn[0] : cn;
}

const hasCert = (c: PeerCertificate | undefined): c is PeerCertificate => !!c && !!c.raw && Object.keys(c).length > 0;

/** The certificate's identity per source preference; throws 401 when a SPIFFE ID is present but invalid. */
export function certIdentity(cert: PeerCertificate, source: MtlsConfig['identity_source']): CertIdentity | undefined {
  if (source !== 'cn') {
    const spiffe = uriSans(cert).filter((u) => u.toLowerCase().startsWith('spiffe://'));
    if (spiffe.length > 1) throw authError('auth.invalid_credential', 'the client certificate carries more than one SPIFFE ID');
    if (spiffe.length === 1) {
      const m = SPIFFE_RE.exec(spiffe[0]!);
      if (!m) throw authError('auth.invalid_credential', 'the client certificate SPIFFE ID is malformed');
      return { id: spiffe[0]!, kind: 'spiffe', trustDomain: m[1]! };
    }
    if (source === 'spiffe') return undefined;
  }
  const cn = certCn(cert);
  return cn ? { id: cn, kind: 'cn' } : undefined;
}

/** Identity-keyed permission map; keys ending in * match a prefix. */
export function mappedPermissions(map: Record<string, string[]>, id: string): string[] {
  const out = new Set<string>();
  for (const [k, perms] of Object.entries(map)) {
    if (k === id || (k.endsWith('*') && id.startsWith(k.slice(0, -1)))) for (const p of perms) out.add(p);
  }
  return [...out];
}

export class MtlsAuthenticator implements Authenticator {
  readonly name = 'mtls';
  readonly #cfg: MtlsConfig;

  constructor(cfg: MtlsConfig) {
    this.#cfg = cfg;
  }

  async authenticate(req: AuthnRequest): Promise<Principal | undefined> {
    const cert = req.peerCertificate;
    if (!hasCert(cert)) return undefined;
    if (req.peerAuthorized !== true) throw authError('auth.invalid_credential', 'the client certificate is not trusted');
    const ident = certIdentity(cert, this.#cfg.identity_source);
    if (ident === undefined) throw authError('auth.invalid_credential', 'the client certificate carries no usable identity');
    const tds = this.#cfg.trust_domains;
    if (tds && (ident.trustDomain === undefined || !tds.includes(ident.trustDomain))) {
      throw clientNotAllowed('the client certificate identity is outside the allowed trust domains');
    }
    const permissions = [...new Set([...this.#cfg.default_permissions, ...mappedPermissions(this.#cfg.identities, ident.id)])];
    return {
      id: ident.id,
      type: 'service',
      authMethod: 'mtls',
      permissions,
      attributes: ident.kind === 'spiffe' ? { spiffe_id: ident.id, trust_domain: ident.trustDomain } : { subject_cn: ident.id },
    };
  }
}

export const mtlsDescriptor: AuthenticatorDescriptor<MtlsConfig, z.input<typeof mtlsConfigSchema>> = {
  type: 'mtls',
  title: 'client certificates, identified by SPIFFE ID or CN',
  configSchema: mtlsConfigSchema,
  devOnly: false,
  alone: true,
  strong: true,
  async create(cfg) {
    return new MtlsAuthenticator(cfg);
  },
  preflight: (cfg, _ctx, at) => unreadable(cfg.ca_file, `${at}.ca_file`),
  tls: (cfg) => ({ requestClientCert: true, caFiles: [cfg.ca_file] }),
};
