// Authentication stage entry points.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/types.ts';
import type { Clock } from '../core/clock.ts';
import type { Authenticator, AuthnRequest, Principal } from './types.ts';
import type { AuthnConfig, LeafAuthnConfig } from './config.ts';
import { JwtAuthenticator } from './jwt.ts';
import { ApiKeyAuthenticator } from './api-key.ts';
import { MtlsAuthenticator } from './mtls.ts';
import { BootstrapTokenAuthenticator, bootstrapFromConfig, type BootstrapTokenOptions } from './bootstrap-token.ts';
import { ForwardedIdentityAuthenticator } from './forwarded-identity.ts';
import { ChainAuthenticator } from './chain.ts';
import { InsecureAuthenticator } from './insecure.ts';
import { hasAnyCredentialHeader } from './credentials.ts';
import { authError, missingCredential } from './errors.ts';

export { authnConfigSchema, authnProductionProblems, authnTlsRequirements } from './config.ts';
export { missingCredential, authError } from './errors.ts';
export { generateBootstrapToken } from './bootstrap-token.ts';
export { fingerprint } from './fingerprint.ts';

export interface AuthnDeps {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  clock: Clock;
  mode: 'dev' | 'production';
  audit?: AuditRecorder | undefined;
  /** authz.permission_prefix; default keyward. Used for the bootstrap and insecure principals' grants. */
  permissionPrefix?: string | undefined;
}

async function createLeaf(cfg: LeafAuthnConfig, deps: AuthnDeps): Promise<Authenticator> {
  const prefix = deps.permissionPrefix ?? 'keyward';
  switch (cfg.type) {
    case 'jwt':
      return JwtAuthenticator.create(cfg, deps);
    case 'api_key':
      return new ApiKeyAuthenticator(cfg, deps);
    case 'mtls':
      try {
        readFileSync(cfg.ca_file);
      } catch (err) {
        throw new Error(`authn.mtls.ca_file: cannot read ${cfg.ca_file}: ${(err as Error).message}`);
      }
      return new MtlsAuthenticator(cfg);
    case 'bootstrap_token':
      return bootstrapFromConfig(cfg, { ...deps, permissionPrefix: prefix });
    case 'forwarded_identity':
      return new ForwardedIdentityAuthenticator(cfg, deps);
    case 'insecure':
      if (deps.mode !== 'dev') throw new Error('authn.type: insecure is refused unless the server runs in dev mode');
      deps.logger.warn('authentication is DISABLED (insecure): every caller is anonymous');
      return new InsecureAuthenticator(cfg.permissions ?? [`${prefix}.*`]);
  }
}

/**
 * A credential that is present but that no configured authenticator recognises is malformed, not missing
 * (e.g. Basic auth, or an opaque token when only JWTs are accepted).
 */
class TopLevel implements Authenticator {
  readonly inner: Authenticator;
  readonly name: string;

  constructor(inner: Authenticator) {
    this.inner = inner;
    this.name = inner.name;
  }

  async authenticate(req: AuthnRequest): Promise<Principal | undefined> {
    const p = await this.inner.authenticate(req);
    if (p === undefined && hasAnyCredentialHeader(req.headers)) {
      throw authError('auth.malformed_credential', 'the credential is not of a kind this server accepts');
    }
    return p;
  }

  async reload(): Promise<void> {
    await this.inner.reload?.();
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}

/** Startup validation errors throw a plain Error naming the field, variable, file or URL. */
export async function createAuthenticator(cfg: AuthnConfig, deps: AuthnDeps): Promise<Authenticator> {
  if (cfg.type !== 'chain') return new TopLevel(await createLeaf(cfg, deps));
  const members: Authenticator[] = [];
  try {
    for (const c of cfg.authenticators) members.push(await createLeaf(c, deps));
  } catch (err) {
    await Promise.allSettled(members.map((m) => m.close?.()));
    throw err;
  }
  return new TopLevel(new ChainAuthenticator(members));
}

/**
 * For the dev server: a bootstrap-token authenticator from a hash it generated (see generateBootstrapToken).
 * Use it alone, or put it in front of the configured one with chainAuthenticators([bootstrap, configured]).
 */
export function createBootstrapTokenAuthenticator(opts: BootstrapTokenOptions): Authenticator {
  return new TopLevel(new BootstrapTokenAuthenticator(opts));
}

/** An ordered chain of already-built authenticators (first recogniser decides, no fall-through). */
export function chainAuthenticators(members: Authenticator[]): Authenticator {
  return new TopLevel(new ChainAuthenticator(members.map((m) => (m instanceof TopLevel ? m.inner : m))));
}

/** authenticate, with "no credential at all" turned into 401 auth.missing_credential. */
export async function authenticateRequest(authenticator: Authenticator, req: AuthnRequest): Promise<Principal> {
  const p = await authenticator.authenticate(req);
  if (p === undefined) throw missingCredential();
  return p;
}
