// Development only: every caller is anonymous, with the configured permissions (default everything).
import { z } from 'zod';
import { permissionList } from './config-fields.ts';
import type { AuthenticatorDescriptor } from './descriptor.ts';
import type { Authenticator, Principal } from './types.ts';

export const insecureConfigSchema = z
  .object({
    type: z.literal('insecure'),
    /** What the anonymous caller may do; default everything (<prefix>.*). Dev mode only. */
    permissions: permissionList.optional(),
  })
  .strict();
export type InsecureConfig = z.infer<typeof insecureConfigSchema>;

export class InsecureAuthenticator implements Authenticator {
  readonly name = 'insecure';
  readonly #principal: Principal;

  constructor(permissions: string[]) {
    this.#principal = Object.freeze({ id: 'anonymous', type: 'anonymous', authMethod: 'insecure', permissions: Object.freeze([...permissions]) as string[], attributes: Object.freeze({}) });
  }

  async authenticate(): Promise<Principal> {
    return this.#principal;
  }
}

export const insecureDescriptor: AuthenticatorDescriptor<InsecureConfig, z.input<typeof insecureConfigSchema>> = {
  type: 'insecure',
  title: 'no authentication (development)',
  configSchema: insecureConfigSchema,
  devOnly: true,
  alone: true,
  strong: false,
  async create(cfg, deps) {
    deps.logger.warn('authentication is DISABLED (insecure): every caller is anonymous');
    return new InsecureAuthenticator(cfg.permissions ?? [`${deps.permissionPrefix ?? 'keyward'}.*`]);
  },
};
