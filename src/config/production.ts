// What production mode refuses. Each problem names the field to fix; warnings are for the operator's log.
import { existsSync } from 'node:fs';
import { auditProductionProblems } from '../audit/config.ts';
import { authnProductionProblems } from '../authn/config.ts';
import { authzProductionProblems } from '../authz/config.ts';
import { idpSettings } from '../idp/config.ts';
import { directoryProductionProblems } from '../idp/directories/index.ts';
import type { KeywardConfig } from './index.ts';

export function productionProblems(cfg: KeywardConfig): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (cfg.mode !== 'production') return { errors, warnings };
  if (cfg.authn) errors.push(...authnProductionProblems(cfg.authn));
  errors.push(...authzProductionProblems(cfg.authz));
  const idp = idpSettings(cfg.idp);
  if (idp) errors.push(...directoryProductionProblems(idp));
  if (!cfg.audit) errors.push('audit: production mode requires an audit section with a durable sink and a signing key');
  else errors.push(...auditProductionProblems(cfg.audit));
  // A dev unseal file next to production data means the root of trust sits in the clear on disk.
  if (existsSync(cfg.seal.dev_unseal_file)) {
    errors.push(`seal.dev_unseal_file: ${cfg.seal.dev_unseal_file} exists; dev auto-unseal is refused in production mode (remove it, or run with mode: dev)`);
  }
  warnings.push(...keysProductionWarnings(cfg));
  if (cfg.storage.type === 'sqlite') warnings.push('storage: SQLite is fine for one node; use PostgreSQL to run several instances');
  if (!cfg.server.tls) warnings.push('server.tls: serving plain HTTP; terminate TLS in front of Keyward or configure server.tls');
  if (cfg.server.grpc && !cfg.server.tls) warnings.push('server.grpc: serving gRPC without TLS; configure server.tls (it applies to gRPC too)');
  return { errors, warnings };
}

/** The KeyRack checklist's key items: an HSM provider for production crypto, and a cache TTL fit for the HYOK lockout. */
function keysProductionWarnings(cfg: KeywardConfig): string[] {
  const warnings: string[] = [];
  const hsm = Object.keys(cfg.keys.providers).filter((k) => (cfg.keys.providers as Record<string, unknown>)[k] !== undefined);
  if (hsm.length === 0) {
    warnings.push('keys.providers: no HSM provider is configured, so every key is a software key sealed in the database; configure pkcs11 or kmip for production crypto (KeyRack checklist)');
  } else if (cfg.keys.default_provider === 'software') {
    warnings.push(`keys.default_provider: software; keys created without a provider are sealed in the database rather than held by ${hsm.join(' or ')} (KeyRack checklist: HSM provider for production crypto)`);
  }
  if (hsm.length > 0 && cfg.keys.cache_ttl > 60_000) {
    warnings.push(`keys.cache_ttl: ${cfg.keys.cache_ttl / 1000}s is the lockout bound for external (HYOK) keys: that long after their owner revokes them, Keyward may still use them; keep it short (the default is 5s)`);
  }
  return warnings;
}
