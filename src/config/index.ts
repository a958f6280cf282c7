// Root configuration: composes each module's fragment, then checks cross-field contradictions.
import { z } from 'zod';
import { auditConfigSchema } from '../audit/config.ts';
import { authnConfigSchema } from '../authn/config.ts';
import { authzConfigSchema } from '../authz/config.ts';
import { idpConfigSchema } from '../idp/config.ts';
import { storageConfigSchema } from '../store/open.ts';
import {
  keysConfigSchema,
  loggingConfigSchema,
  sealConfigSchema,
  serverConfigSchema,
  spirlConfigSchema,
} from './schema.ts';

const rootShape = {
    /** dev: auto-unseal from a local file, bootstrap token printed, insecure options allowed. production: none of that. */
    mode: z.enum(['dev', 'production']).default('production'),
    server: serverConfigSchema.default(serverConfigSchema.parse({})),
    storage: storageConfigSchema.prefault({ type: 'sqlite', path: './data/keyward.db' }),
    seal: sealConfigSchema.default(sealConfigSchema.parse({})),
    keys: keysConfigSchema.default(keysConfigSchema.parse({})),
    spirl: spirlConfigSchema.default(spirlConfigSchema.parse({})),
    logging: loggingConfigSchema.default(loggingConfigSchema.parse({})),
    authn: authnConfigSchema.optional(),
    authz: authzConfigSchema.default(authzConfigSchema.parse({})),
    audit: auditConfigSchema.optional(),
    idp: idpConfigSchema.optional(),
};

/** Top-level section names; KEYWARD_<SECTION>__... environment variables override them. */
export const CONFIG_SECTIONS: ReadonlySet<string> = new Set(Object.keys(rootShape));

export const configSchema = z
  .strictObject(rootShape)
  .superRefine((cfg, ctx) => {
    if (cfg.mode === 'production' && cfg.authn === undefined) {
      ctx.addIssue({ code: 'custom', path: ['authn'], message: 'production mode requires an authn section' });
    }
    if (cfg.server.tls === undefined && usesMtls(cfg.authn)) {
      ctx.addIssue({ code: 'custom', path: ['server', 'tls'], message: 'authn type mtls requires server.tls (cert_file, key_file, client_ca_file)' });
    }
  });

function usesMtls(authn: unknown): boolean {
  if (authn === null || typeof authn !== 'object') return false;
  const a = authn as { type?: string; authenticators?: unknown[]; require_mtls?: boolean };
  if (a.type === 'mtls' || a.require_mtls === true) return true;
  return Array.isArray(a.authenticators) && a.authenticators.some(usesMtls);
}

export type KeywardConfig = z.output<typeof configSchema>;
export type KeywardConfigInput = z.input<typeof configSchema>;
