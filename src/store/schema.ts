// Row shapes as the drivers return them. Dates are timestamptz (Date) on PostgreSQL and ISO-8601 text on
// SQLite; labels are jsonb (parsed object) on PostgreSQL and JSON text on SQLite. The repositories convert.
export type DbDate = Date | string;

export interface KeysTable {
  id: string;
  type: string;
  state: string;
  labels: string | Record<string, string>;
  description: string | null;
  current_version: number;
  revision: number;
  created_at: DbDate;
  updated_at: DbDate;
  destroy_at: DbDate | null;
  origin: string;
  /** 'software', 'pkcs11' or 'kmip' (migration 0002). */
  provider: string;
}

export interface KeyVersionsTable {
  key_id: string;
  version: number;
  public_key_spki: Buffer | null;
  fingerprint: string;
  sealed_material: Buffer | null;
  /** The provider's reference to the object holding the material (JSON text); null for software keys. */
  provider_ref: string | null;
  created_at: DbDate;
  destroyed_at: DbDate | null;
}

export interface SealTable {
  /** Always 1: the fixed primary key makes a second init a unique violation, even under a race. */
  id: number;
  shares: number;
  threshold: number;
  wrapped_root_key: Buffer;
  /** JSON array of strings. */
  share_digests: string;
  created_at: DbDate;
  /** 'shamir', 'pkcs11' or 'kmip' (migration 0002). */
  kind: string;
  /** The root key encrypted by the HSM seal key (auto-unseal); null for a Shamir seal. */
  hsm_wrapped_root_key: Buffer | null;
  /** Which HSM key wraps it (JSON text); null for a Shamir seal. */
  hsm_key_ref: string | null;
}

export interface AuditChainHeadsTable {
  chain_id: string;
  /** bigint on PostgreSQL, which pg returns as a string. */
  sequence: number | string;
  hash: string;
}

export interface SettingsTable {
  name: string;
  value: string;
}

export interface Database {
  keys: KeysTable;
  key_versions: KeyVersionsTable;
  seal: SealTable;
  audit_chain_heads: AuditChainHeadsTable;
  settings: SettingsTable;
}
