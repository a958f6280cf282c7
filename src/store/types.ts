// The repository interfaces the services depend on. Implementations live beside this file and work on
// both SQLite (node:sqlite) and PostgreSQL; services never see SQL.
import type { Kysely } from 'kysely';
import type { KeyState, Labels } from '../core/keys.ts';
import type { ChangeFeed } from './changes.ts';

export interface KeyRecord {
  id: string;
  type: string;
  state: KeyState;
  labels: Labels;
  description: string | null;
  /** Newest version; signing and encryption use it. */
  currentVersion: number;
  /** Bumped by every write; the optimistic-concurrency token. */
  revision: number;
  createdAt: Date;
  updatedAt: Date;
  /** Set while released: when the key is destroyed unless the release is cancelled. */
  destroyAt: Date | null;
  /** 'generated', 'imported' (BYOK) or 'external' (HYOK: a reference to a key its owner holds in their HSM). */
  origin: 'generated' | 'imported' | 'external';
  /** Where the material lives: 'software' (sealed in this database), 'pkcs11' or 'kmip'. */
  provider: string;
}

export interface KeyVersionRecord {
  keyId: string;
  version: number;
  /** DER SubjectPublicKeyInfo; null for symmetric keys. */
  publicKeySpki: Buffer | null;
  /** `sha256:` + hex of the SPKI (asymmetric) or of a keyed digest (symmetric); never reveals material. */
  fingerprint: string;
  /** AES-256-GCM sealed private/secret material (software keys); null once destroyed and for HSM-held keys. */
  sealedMaterial: Buffer | null;
  /** The provider's reference to the object holding the material (HSM-held keys); opaque JSON text. */
  providerRef: string | null;
  createdAt: Date;
  destroyedAt: Date | null;
}

export interface NewKey {
  id: string;
  type: string;
  labels: Labels;
  description: string | null;
  origin: 'generated' | 'imported' | 'external';
  /** Default 'software'. */
  provider?: string;
  createdAt: Date;
}

/** Exactly one of sealed material (software) and a provider reference (HSM) is set. */
export interface NewKeyVersion {
  publicKeySpki: Buffer | null;
  fingerprint: string;
  sealedMaterial: Buffer | null;
  providerRef?: string | null;
  createdAt: Date;
}

export interface ListKeysQuery {
  /** Opaque cursor from a previous page. */
  cursor?: string | undefined;
  limit: number;
  state?: KeyState | undefined;
  /** Every given label must match exactly. */
  labels?: Labels | undefined;
  /** Leaves out keys whose id starts with this prefix (Keyward's own keys, for outside callers). */
  excludeIdPrefix?: string | undefined;
  /** Only keys of this provider. */
  provider?: string | undefined;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * Runs inside the write's transaction just before commit: if it throws, the write is rolled back and the
 * error propagates. The audit trail uses it so that an operation whose event cannot be recorded has no effect.
 */
export type CommitGuard = (record: KeyRecord) => Promise<void>;

export interface KeyRepository {
  /**
   * Creates the key and its version 1 atomically. If the id exists: throws StoreConflictError('key_exists')
   * unless `overwrite` is true, in which case the old key and every version are replaced in the same transaction.
   */
  create(key: NewKey, first: NewKeyVersion, opts: { overwrite: boolean; guard?: CommitGuard }): Promise<KeyRecord>;
  get(id: string): Promise<KeyRecord | undefined>;
  /** Every version, oldest first. */
  versions(id: string): Promise<KeyVersionRecord[]>;
  version(id: string, version: number): Promise<KeyVersionRecord | undefined>;
  list(q: ListKeysQuery): Promise<Page<KeyRecord>>;
  /**
   * Adds version currentVersion+1 if the key's revision still equals `expectedRevision`; otherwise throws
   * StoreConflictError('revision_mismatch') and writes nothing.
   */
  addVersion(id: string, expectedRevision: number, v: NewKeyVersion, guard?: CommitGuard): Promise<KeyRecord>;
  /** Changes state (and destroyAt) under the same revision check. */
  setState(
    id: string,
    expectedRevision: number,
    patch: { state: KeyState; destroyAt: Date | null; updatedAt: Date },
    guard?: CommitGuard,
  ): Promise<KeyRecord>;
  /**
   * Wipes the sealed material of every version and marks the key destroyed, under the revision check. Provider
   * references stay (they name objects that no longer exist), so a tombstone still says where the key lived.
   */
  destroy(id: string, expectedRevision: number, at: Date, guard?: CommitGuard): Promise<KeyRecord>;
  /** Released keys whose destroyAt is at or before `now`. */
  dueForDestruction(now: Date, limit: number): Promise<KeyRecord[]>;
}

/** The seal configuration: written by init, changed only by a seal migration. */
export interface SealRecord {
  shares: number;
  threshold: number;
  /**
   * The root key sealed under the key the Shamir shares split (AES-256-GCM, iv||tag||ciphertext): the unseal key
   * of a Shamir seal, the recovery key of an HSM seal.
   */
  wrappedRootKey: Buffer;
  /** SHA-256 of each share, so one wrong share is caught on its own without spending progress. */
  shareDigests: string[];
  createdAt: Date;
  /** 'shamir', 'pkcs11' or 'kmip'; records written before migration 0002 are 'shamir'. */
  kind?: string;
  /** HSM seals: the root key encrypted by the HSM seal key. */
  hsmWrappedRootKey?: Buffer | null;
  /** HSM seals: the seal key's reference (JSON text). */
  hsmKeyRef?: string | null;
}

export interface SealRepository {
  get(): Promise<SealRecord | undefined>;
  /** Throws StoreConflictError('already_initialized') if a record exists. */
  init(rec: SealRecord): Promise<void>;
  /**
   * Replaces how the root key is wrapped (a seal migration, or a recovery onto a new HSM key) if the stored record
   * still has `expected`'s wrapping; otherwise throws StoreConflictError('revision_mismatch'). Share digests,
   * counts and the creation time stay.
   */
  rewrap(expected: SealRecord, next: Pick<SealRecord, 'kind' | 'hsmWrappedRootKey' | 'hsmKeyRef'>): Promise<void>;
}

/** Persisted head of an audit chain, so the chain survives restarts. */
export interface AuditChainHead {
  chainId: string;
  sequence: number;
  hash: string;
}

export interface AuditChainRepository {
  get(chainId: string): Promise<AuditChainHead | undefined>;
  /** Upsert. */
  put(head: AuditChainHead): Promise<void>;
}

/** Generic small key-value table for instance-level settings (e.g. this instance's chain id). */
export interface SettingsRepository {
  get(name: string): Promise<string | undefined>;
  /** Sets the value only if absent; returns the value now stored. */
  putIfAbsent(name: string, value: string): Promise<string>;
  put(name: string, value: string): Promise<void>;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * The query builder itself, for a module that owns its tables and migrations (the identity provider) and
   * keeps them behind its own repositories (src/idp/store/repositories.ts, the only reader; an architecture test
   * holds that). Services never receive it.
   */
  readonly kysely: Kysely<any>;
  readonly keys: KeyRepository;
  readonly seal: SealRepository;
  readonly auditChain: AuditChainRepository;
  readonly settings: SettingsRepository;
  /**
   * PostgreSQL: what other instances on this database announce they changed (idle until started; the key writes
   * announce themselves). SQLite: none, one process owns the database.
   */
  readonly changes: ChangeFeed | undefined;
  /** Cheap round trip for readiness probes. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A list cursor this store did not hand out. */
export class InvalidCursorError extends Error {}

export class StoreConflictError extends Error {
  readonly reason: 'key_exists' | 'revision_mismatch' | 'already_initialized' | 'not_found';
  constructor(reason: StoreConflictError['reason'], message?: string) {
    super(message ?? reason);
    this.name = 'StoreConflictError';
    this.reason = reason;
  }
}
