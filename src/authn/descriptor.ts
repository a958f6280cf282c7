// What an authenticator is to the rest of Keyward. Each kind (jwt, api_key, mtls...) is one file exporting an
// AuthenticatorDescriptor (configuration schema, factory, start-up preflight, production rules) and one line in
// the registry (config.ts). The factory, `config check`, the production rules and the TLS listener ask the
// registry; nothing else names an authenticator type. AuthenticatorType is the registry's list of names.
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/types.ts';
import type { Clock } from '../core/clock.ts';
import type { ConfigProblem, PreflightContext } from '../core/preflight.ts';
import type { AuthenticatorType } from './config.ts';
import type { Authenticator } from './types.ts';


export interface AuthnDeps {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  clock: Clock;
  mode: 'dev' | 'production';
  audit?: AuditRecorder | undefined;
  /** authz.permission_prefix; default keyward. Used for the bootstrap and insecure principals' grants. */
  permissionPrefix?: string | undefined;
}

/**
 * One authenticator kind. `at` is where its configuration sits: `authn`, or `authn.authenticators.<i>` inside a
 * chain; every problem and start-up error names the field below it (`${at}.issued_at_env`).
 */
export interface AuthenticatorDescriptor<C extends { type: AuthenticatorType } = { type: AuthenticatorType }, I = unknown> {
  readonly type: C['type'];
  /** What it accepts, for documentation and the doctor: 'JWT bearer tokens', 'client certificates'. */
  readonly title: string;
  /** Its configuration (`type` is the literal of this kind); strict objects. */
  readonly configSchema: z.ZodType<C, I>;
  /** Development only: refused unless the server runs in dev mode (a production rule says so too). */
  readonly devOnly: boolean;
  /** Whether production accepts it as the only method (a bootstrap token, meant for first provisioning, is not). */
  readonly alone: boolean;
  /** Verifies callers without a long-lived shared secret (a signed token, a certificate): the checklist asks for one. */
  readonly strong: boolean;
  /** Startup errors throw a plain Error naming the field (`${at}.<field>: ...`); preflight has run before. */
  create(config: C, deps: AuthnDeps, at: string): Promise<Authenticator>;
  /** Start-up checks that need no network: secrets present, files readable (run by `serve` and `config check`). */
  preflight?(config: C, ctx: PreflightContext, at: string): ConfigProblem[];
  /** What production mode refuses in this configuration, each as "<path>: <message>". */
  production?(config: C, at: string): string[];
  /** What the REST listener must do for it: ask for client certificates, verified against these CAs. */
  tls?(config: C): { requestClientCert: boolean; caFiles: string[] };
}

/** Any kind's descriptor, as the registry lists them (its configuration typed by the caller). */
export type AnyAuthenticatorDescriptor = Omit<AuthenticatorDescriptor<any, any>, 'type'> & { readonly type: AuthenticatorType };
