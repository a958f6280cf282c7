// What a tool working offline on the identity provider's store (the idp and migrate commands) reads of a
// configuration file: the idp and storage sections, without loading the provider.
import { idpSectionSchema, idpSettings, type IdpConfig } from './config.ts';
import { devIdpConfig } from './dev.ts';
import { storageConfigSchema, type StoreConfig } from '../store/open.ts';

/** Where reading a configuration file's idp or storage section failed: the section and zod's issues. */
export interface IdpStoreSectionsProblem {
  section: 'idp' | 'storage';
  issues: Array<{ path: PropertyKey[]; message: string; code?: string }>;
}

/**
 * The two sections a tool working offline on the identity provider's store reads of a configuration file (the
 * server validates the rest). Dev mode runs its identity provider without an idp section (realm keyward).
 */
export function idpStoreSections(raw: Record<string, any>): { idp: IdpConfig; storage: StoreConfig } | IdpStoreSectionsProblem {
  const section = raw.idp === undefined && raw.mode === 'dev'
    ? { success: true as const, data: devIdpConfig('http://127.0.0.1', String(raw.authz?.permission_prefix ?? 'keyward')) }
    : idpSectionSchema.safeParse(raw.idp);
  if (!section.success) return { section: 'idp', issues: section.error.issues };
  const idp = idpSettings(section.data);
  if (!idp) return { section: 'idp', issues: [{ path: ['enabled'], message: 'the identity provider is switched off (idp: { enabled: false }): this configuration has no realms' }] };
  const storage = storageConfigSchema.safeParse(raw.storage ?? { type: 'sqlite' });
  if (!storage.success) return { section: 'storage', issues: storage.error.issues };
  return { idp, storage: storage.data };
}
