// Configuration fragment for authentication. No secret has a default: secrets live in environment
// variables named here (hash_env, token_hash_env), as sha256:<hex> fingerprints.
import { z } from 'zod';
import { parseDurationMs } from '../core/duration.ts';

/** Seconds as a number, or "500ms", "60s", "10m", "1h" (the one duration syntax of src/config/duration.ts), in seconds. */
export const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  const ms = parseDurationMs(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: 'a duration like 60s, 10m or 1h' });
    return z.NEVER;
  }
  return ms / 1000;
});

/** Asymmetric JWS algorithms only; `none` and HS* cannot even be written here. */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const;
const ENV_NAME = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
const permissionList = z.array(z.string().min(1).max(512));

export const jwtConfigSchema = z
  .object({
    type: z.literal('jwt'),
    /** Compared exactly with the token's iss (and with the discovery document's issuer). */
    issuer: z.string().min(1),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    discovery_url: z.url({ protocol: /^https?$/ }).optional(),
    jwks_url: z.url({ protocol: /^https?$/ }).optional(),
    algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default(['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']),
    /** Keys are refetched this often (periodic refresh) and considered stale after it. */
    jwks_cache_ttl: duration.default(600),
    /**
     * How long past jwks_cache_ttl the last keys stay in use while the JWKS cannot be fetched; after that every
     * token is refused with 503 auth.jwks_unavailable (fail closed), cached verifications included.
     */
    jwks_max_stale: duration.default(300),
    /** An unknown kid triggers at most one JWKS fetch per this interval. */
    jwks_min_refresh_interval: duration.default(30),
    /** Fetch the JWKS at start; off when the issuer is this very server, which is not listening yet then. */
    jwks_fetch_at_start: z.boolean().default(true),
    http_timeout_ms: z.number().int().min(100).max(60_000).default(5000),
    leeway: duration.refine((s) => s <= 300, 'leeway is at most 5 minutes').default(60),
    required_claims: z.array(z.string().min(1)).default([]),
    /** Accepted `typ` header values; untyped tokens and id+jwt are refused. */
    token_types: z.array(z.enum(['JWT', 'at+jwt'])).min(1).default(['JWT', 'at+jwt']),
    /** When set, azp (else client_id) must be listed. */
    allowed_clients: z.array(z.string().min(1)).min(1).optional(),
    permissions_claim: z.string().min(1).default('permissions'),
    scope_claim: z.string().min(1).default('scope'),
    /** IdP scope/role name → permission(s); unmapped scopes pass through unchanged. */
    scope_map: z.record(z.string(), z.union([z.string().min(1), permissionList])).default({}),
    groups_claim: z.string().min(1).default('groups'),
    max_token_bytes: z.number().int().min(256).max(65_536).default(16_384),
    /** Verified tokens are cached (by SHA-256) until exp. */
    cache_size: z.number().int().min(0).max(1_000_000).default(10_000),
  })
  .strict()
  .refine((c) => (c.discovery_url === undefined) !== (c.jwks_url === undefined), {
    message: 'set exactly one of discovery_url or jwks_url',
    path: ['discovery_url'],
  });

export const apiKeyConfigSchema = z
  .object({
    type: z.literal('api_key'),
    keys: z
      .array(
        z
          .object({
            id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/),
            /** Variable holding sha256:<64 hex> of the raw key. */
            hash_env: ENV_NAME.optional(),
            /** Or a file holding it (e.g. a mounted secret), re-read on SIGHUP and POST /v1/sys/reload. */
            hash_file: z.string().min(1).optional(),
            scopes: permissionList.default([]),
          })
          .strict()
          .refine((k) => (k.hash_env === undefined) !== (k.hash_file === undefined), { message: 'set exactly one of hash_env or hash_file', path: ['hash_env'] }),
      )
      .min(1)
      .refine((ks) => new Set(ks.map((k) => k.id)).size === ks.length, 'API key ids must be unique'),
  })
  .strict();

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

export const bootstrapTokenConfigSchema = z
  .object({
    type: z.literal('bootstrap_token'),
    /** Variable holding sha256:<64 hex> of the token. */
    token_hash_env: ENV_NAME,
    max_age: duration.default(900),
    /** Variable holding when the token was issued (ISO 8601 or Unix seconds); else process start. */
    issued_at_env: ENV_NAME.optional(),
  })
  .strict();

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

export const insecureConfigSchema = z
  .object({
    type: z.literal('insecure'),
    /** What the anonymous caller may do; default everything (<prefix>.*). Dev mode only. */
    permissions: permissionList.optional(),
  })
  .strict();

const leafSchemas = [
  jwtConfigSchema,
  apiKeyConfigSchema,
  mtlsConfigSchema,
  bootstrapTokenConfigSchema,
  forwardedIdentityConfigSchema,
  insecureConfigSchema,
] as const;

export const leafAuthnConfigSchema = z.discriminatedUnion('type', [...leafSchemas]);

export const chainConfigSchema = z
  .object({ type: z.literal('chain'), authenticators: z.array(leafAuthnConfigSchema).min(1) })
  .strict();

export const authnConfigSchema = z.discriminatedUnion('type', [...leafSchemas, chainConfigSchema]);

export type AuthnConfig = z.infer<typeof authnConfigSchema>;
export type AuthnConfigInput = z.input<typeof authnConfigSchema>;
export type LeafAuthnConfig = z.infer<typeof leafAuthnConfigSchema>;
export type JwtConfig = z.infer<typeof jwtConfigSchema>;
export type ApiKeyConfig = z.infer<typeof apiKeyConfigSchema>;
export type MtlsConfig = z.infer<typeof mtlsConfigSchema>;
export type BootstrapTokenConfig = z.infer<typeof bootstrapTokenConfigSchema>;
export type ForwardedIdentityConfig = z.infer<typeof forwardedIdentityConfigSchema>;
export type InsecureConfig = z.infer<typeof insecureConfigSchema>;

const leaves = (cfg: AuthnConfig): LeafAuthnConfig[] => (cfg.type === 'chain' ? cfg.authenticators : [cfg]);
const isLocal = (u: string) => /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(u);

/** What production mode refuses or warns about; empty when the configuration is fit for production. */
export function authnProductionProblems(cfg: AuthnConfig): string[] {
  const problems: string[] = [];
  const ls = leaves(cfg);
  if (ls.some((l) => l.type === 'insecure')) problems.push('authn: insecure authentication is for development only');
  if (ls.every((l) => l.type === 'bootstrap_token')) {
    problems.push('authn: bootstrap_token is the only method; configure jwt, mtls, api_key or forwarded_identity');
  }
  for (const l of ls) {
    if (l.type === 'bootstrap_token') {
      if (l.max_age > 3600) problems.push('authn.bootstrap_token.max_age: long-lived bootstrap tokens (over 1h) are refused in production');
      if (l.issued_at_env === undefined) problems.push('authn.bootstrap_token.issued_at_env: without it the token lifetime restarts with every process start');
    }
    if (l.type === 'jwt') {
      for (const u of [l.discovery_url, l.jwks_url]) {
        if (u !== undefined && u.startsWith('http:') && !isLocal(u)) problems.push(`authn.jwt: ${u} must use https`);
      }
    }
    if (l.type === 'forwarded_identity' && l.trusted_proxies.some(tooWide)) {
      problems.push('authn.forwarded_identity.trusted_proxies: ranges wider than /8 (IPv4) or /16 (IPv6) let almost anyone assert an identity');
    }
  }
  return problems;
}

/** A proxy range so wide that it is not a statement about proxies (0.0.0.0/0 however spelt, 0.0.0.0/1, ::/0...). */
function tooWide(entry: string): boolean {
  const [addr, bits] = entry.trim().split('/') as [string, string | undefined];
  if (bits === undefined || !/^\d+$/.test(bits)) return false;
  return Number(bits) < (addr.includes(':') ? 16 : 8);
}

/** What the REST listener must do for this configuration (mTLS needs client certificates against these CAs). */
export function authnTlsRequirements(cfg: AuthnConfig): { requestClientCert: boolean; caFiles: string[] } {
  const ls = leaves(cfg);
  const caFiles = ls.flatMap((l) => (l.type === 'mtls' ? [l.ca_file] : []));
  const fwdMtls = ls.some((l) => l.type === 'forwarded_identity' && l.require_mtls);
  return { requestClientCert: caFiles.length > 0 || fwdMtls, caFiles };
}
