// Root configuration: composes each module's fragment, then checks cross-field contradictions.
import { z } from 'zod';
import { auditConfigSchema } from '../audit/config.ts';
import { authnConfigSchema, authnTlsRequirements } from '../authn/config.ts';
import { authzConfigSchema } from '../authz/config.ts';
import { idpSectionSchema } from '../idp/config.ts';
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
    idp: idpSectionSchema.optional(),
};

/** Top-level section names; KEYWARD_<SECTION>__... environment variables override them. */
export const CONFIG_SECTIONS: ReadonlySet<string> = new Set(Object.keys(rootShape));

export const configSchema = z
  .strictObject(rootShape)
  .superRefine((cfg, ctx) => {
    if (cfg.mode === 'production' && cfg.authn === undefined) {
      ctx.addIssue({ code: 'custom', path: ['authn'], message: 'production mode requires an authn section' });
    }
    if (cfg.server.tls === undefined && cfg.authn !== undefined && authnTlsRequirements(cfg.authn).requestClientCert) {
      ctx.addIssue({ code: 'custom', path: ['server', 'tls'], message: 'authn type mtls requires server.tls (cert_file, key_file, client_ca_file)' });
    }
    const providers = cfg.keys.providers as Record<string, unknown>;
    if (cfg.keys.default_provider !== 'software' && providers[cfg.keys.default_provider] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['keys', 'default_provider'], message: `${cfg.keys.default_provider} is not configured under keys.providers` });
    }
    if (cfg.seal.type !== 'shamir' && providers[cfg.seal.type] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['seal', 'type'], message: `seal type ${cfg.seal.type} wraps the root key with a key in that HSM: configure keys.providers.${cfg.seal.type}` });
    }
    // The identity provider creates its keys with the default provider; an EC-P256 key cannot live in the KMIP one.
    const idpOn = cfg.idp?.enabled ?? cfg.mode === 'dev';
    if (idpOn && cfg.keys.default_provider === 'kmip') {
      ctx.addIssue({
        code: 'custom',
        path: ['keys', 'default_provider'],
        message: 'the identity provider creates an EC-P256 (ES256) signing key with the default provider, and the KMIP provider holds RSA and AES keys only: use pkcs11 or software as the default (keys can still name kmip)',
      });
    }
  });

export type KeywardConfig = z.output<typeof configSchema>;
export type KeywardConfigInput = z.input<typeof configSchema>;
