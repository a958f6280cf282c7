// What a policy decision point is to the rest of Keyward. Each kind (builtin, cedar, http) is one file exporting a
// PdpDescriptor (configuration schema, factory, start-up preflight, production rules) and one line in the registry
// (config.ts). createPdp, `config check` and the production rules ask the registry; nothing else names a PDP type.
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { ConfigProblem, PreflightContext } from '../core/preflight.ts';
import type { PdpType } from './config.ts';
import type { Pdp } from './types.ts';


export interface PdpDeps {
  logger: Logger;
  /** For the preflight: where secrets would come from, and whether production's stricter checks apply. */
  env?: NodeJS.ProcessEnv | undefined;
  production?: boolean | undefined;
}

/** One PDP kind; its configuration is `authz.pdp`, and every problem names a field below it. */
export interface PdpDescriptor<C extends { type: PdpType } = { type: PdpType }, I = unknown> {
  readonly type: C['type'];
  /** What decides, for documentation and the doctor: 'embedded Cedar policies', 'an external PDP over HTTP'. */
  readonly title: string;
  readonly configSchema: z.ZodType<C, I>;
  /** Startup errors (unloadable policies, unreadable TLS files) throw a plain Error naming the field; preflight has run before. */
  create(config: C, deps: PdpDeps): Promise<Pdp>;
  /** Start-up checks that need no network: files readable (run by `serve` and `config check`). */
  preflight?(config: C, ctx: PreflightContext): ConfigProblem[];
  /** What production mode refuses in this configuration, each as "authz.pdp.<field>: <message>". */
  production?(config: C): string[];
}

/** Any kind's descriptor, as the registry lists them (its configuration typed by the caller). */
export type AnyPdpDescriptor = Omit<PdpDescriptor<any, any>, 'type'> & { readonly type: PdpType };
