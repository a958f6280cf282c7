// What production mode refuses. Each problem names the field to fix; warnings are for the operator's log.
import { existsSync } from 'node:fs';
import { auditProductionProblems } from '../audit/config.ts';
import { authnProductionProblems } from '../authn/config.ts';
import { authzProductionProblems } from '../authz/config.ts';
import { directoryProductionProblems } from '../idp/directories/index.ts';
import type { KeywardConfig } from './index.ts';

export function productionProblems(cfg: KeywardConfig): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (cfg.mode !== 'production') return { errors, warnings };
  if (cfg.authn) errors.push(...authnProductionProblems(cfg.authn));
  errors.push(...authzProductionProblems(cfg.authz));
  if (cfg.idp) errors.push(...directoryProductionProblems(cfg.idp));
  if (!cfg.audit) errors.push('audit: production mode requires an audit section with a durable sink and a signing key');
  else errors.push(...auditProductionProblems(cfg.audit));
  // A dev unseal file next to production data means the root of trust sits in the clear on disk.
  if (existsSync(cfg.seal.dev_unseal_file)) {
    errors.push(`seal.dev_unseal_file: ${cfg.seal.dev_unseal_file} exists; dev auto-unseal is refused in production mode (remove it, or run with mode: dev)`);
  }
  if (cfg.storage.type === 'sqlite') warnings.push('storage: SQLite is fine for one node; use PostgreSQL to run several instances');
  if (!cfg.server.tls) warnings.push('server.tls: serving plain HTTP; terminate TLS in front of Keyward or configure server.tls');
  return { errors, warnings };
}
