// Authentication stage entry points.
import { preflightError } from '../core/preflight.ts';
import type { Authenticator, AuthnRequest, Principal } from './types.ts';
import { authenticatorDescriptor, authnMembers, authnPreflight, type AuthnConfig, type AuthnMember, type LeafAuthnConfig } from './config.ts';
import type { AuthnDeps } from './descriptor.ts';
import { BootstrapTokenAuthenticator, type BootstrapTokenOptions } from './bootstrap-token.ts';
import { ChainAuthenticator } from './chain.ts';
import { hasAnyCredentialHeader } from './credentials.ts';
import { authError, missingCredential } from './errors.ts';

export { authnConfigSchema, authnMembers, authnPreflight, authnProductionProblems, authnTlsRequirements, AUTHENTICATORS } from './config.ts';
export type { AuthnDeps } from './descriptor.ts';
export { missingCredential, authError } from './errors.ts';
export { generateBootstrapToken } from './bootstrap-token.ts';
export { fingerprint } from './fingerprint.ts';

async function createMember({ config, at }: AuthnMember, deps: AuthnDeps): Promise<Authenticator> {
  const d = authenticatorDescriptor(config.type);
  if (d.devOnly && deps.mode !== 'dev') throw new Error(`${at}.type: ${config.type} is refused unless the server runs in dev mode`);
  return d.create(config, deps, at);
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

/**
 * Startup validation errors throw a plain Error naming the field, variable, file or URL: first every member's
 * preflight (all its problems at once), then each factory. `before` are members the server adds in front of the
 * configured ones (dev mode's bootstrap token), named by their position in that list.
 */
export async function createAuthenticator(cfg: AuthnConfig | undefined, deps: AuthnDeps, before: LeafAuthnConfig[] = []): Promise<Authenticator> {
  const members = [...before.map((config, i) => ({ config, at: `authn (built-in member ${i})` })), ...(cfg ? authnMembers(cfg) : [])];
  if (members.length === 0) throw new Error('authn: no authentication configured');
  const problems = authnPreflight(members, { env: deps.env, production: deps.mode === 'production' });
  if (problems.length > 0) throw preflightError('authn', problems);
  if (members.length === 1 && cfg?.type !== 'chain') return new TopLevel(await createMember(members[0]!, deps));
  const made: Authenticator[] = [];
  try {
    for (const m of members) made.push(await createMember(m, deps));
  } catch (err) {
    await Promise.allSettled(made.map((m) => m.close?.()));
    throw err;
  }
  return new TopLevel(new ChainAuthenticator(made));
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
