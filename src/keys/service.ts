// The key service: lifecycle and crypto operations over sealed key material. It sees no HTTP; every operation
// and every refusal is recorded in the audit trail before its result is handed back, and a write whose event
// cannot be recorded is rolled back (CommitGuard).
import { type JsonWebKey, type KeyObject, createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import type { AuditEventInput, AuditRecorder } from '../audit/types.ts';
import type { Clock } from '../core/clock.ts';
import { ProblemError, badRequest, isProblem } from '../core/problem.ts';
import { type KeyRepository as StoredKeyRepository, InvalidCursorError, StoreConflictError } from '../store/types.ts';
import { type CommitGuard, type KeyRecord, type KeyRepository, type KeyVersionRecord, type Page, typedKeyRepository } from './records.ts';
import type { OperationContext } from '../authn/context.ts';
import * as families from './families/index.ts';
import {
  sealedProblem,
  concurrentModification,
  invalidKeyId,
  invalidTransition,
  keyExists,
  keyNotFound,
  keyStateRefused,
  systemKeyRefused,
  usageMismatch,
  versionNotFound,
} from './errors.ts';
import { KeyCache, type LoadTicket } from './key-cache.ts';
import { ExternalKeyChecks } from './external-checks.ts';
import {
  type ExternalStatus,
  type HeldKey,
  type HsmProviderName,
  type KeyProvider,
  type ProviderHealth,
  type ProviderName,
  type ProviderOperation,
  ProviderKeyUnusable,
  ProviderSet,
  externalRevoked,
  providerMissing,
  providerUnsupported,
} from './providers/index.ts';
import { randomBytes } from './random.ts';
import {
  type EcdsaFormat,
  type HashAlgorithm,
  type KeyState,
  type KeyType,
  type KeyUsage,
  type Labels,
  type RsaPadding,
  LABEL_KEY_RE,
  LABEL_VALUE_MAX,
  isPrintableText,
  isValidLabelValue,
  isSystemKeyId,
  isValidKeyId,
  SYSTEM_KEY_PREFIX,
} from './types.ts';

/** The part of the seal the key service needs. */
export interface Sealer {
  readonly sealed: boolean;
  wrap(aad: string, plaintext: Buffer): Buffer;
  unwrap(aad: string, blob: Buffer): Buffer;
  onSealChange(listener: (sealed: boolean) => void): () => void;
}

export interface KeyMetrics {
  keyOperation(operation: string, keyType: string, outcome: 'success' | 'denied' | 'error'): void;
}

export interface KeyServiceConfig {
  releaseGraceMs: number;
  cacheTtlMs: number;
  allowOverwrite: boolean;
  maxPayloadBytes: number;
  /** Where keys go when a request names no provider (default software). */
  defaultProvider?: ProviderName;
}

export interface KeyServiceDeps {
  keys: StoredKeyRepository;
  seal: Sealer;
  audit: AuditRecorder;
  clock: Clock;
  config: KeyServiceConfig;
  metrics?: KeyMetrics;
  /** The HSM providers this instance runs (none by default: software keys only). */
  providers?: ProviderSet;
}

/** What sys/status says about providers: which are configured, the default, and each one's health. */
export interface ProviderStatus {
  default: ProviderName;
  configured: ProviderName[];
  health: Record<string, ProviderHealth>;
}

/** Hold-your-own-key: a key Keyward did not create, named by its owner's HSM's identifier. */
export interface ExternalKeyRequest {
  id: string;
  type: KeyType;
  provider: HsmProviderName;
  externalId: string;
  /** KMIP key pairs: the public key's unique identifier (KMIP servers need not link the two). */
  externalPublicId?: string | undefined;
  labels?: Labels | undefined;
  description?: string | null | undefined;
  overwrite?: boolean | undefined;
}

/** Where a usable key version's private half is: unsealed here (software) or inside an HSM. */
type KeyHandle = { kind: 'software'; key: KeyObject } | { kind: 'hsm'; provider: KeyProvider; held: HeldKey };

/** A version a provider holds: its material is in the HSM, so a version is live until destroyed. */
const hasMaterial = (v: KeyVersionRecord) => v.destroyedAt === null && (v.sealedMaterial !== null || v.providerRef !== null);

export interface KeyView {
  record: KeyRecord;
  versions: KeyVersionRecord[];
}

export type SignRequest = {
  message?: Buffer | undefined;
  digest?: Buffer | undefined;
  hashAlgorithm?: HashAlgorithm | undefined;
  rsaPadding?: RsaPadding | undefined;
  signatureFormat?: EcdsaFormat | undefined;
  /**
   * Sign with this version instead of the newest: for Keyward's own components only (the identity provider signs with
   * the version relying parties already know while the newest is still being published ahead). Audited as used.
   */
  version?: number | undefined;
};

/**
 * Restricts an operation to keys carrying these labels (every one, with the same value) and, when `types` is given,
 * of one of those types. A key outside the scope is answered as unknown: a surface such as the SPIRL webhook sees
 * only the keys it manages.
 */
export type KeyScope = { labels: Labels; types?: readonly KeyType[] };

const inScope = (view: KeyView, scope: KeyScope | undefined) =>
  scope === undefined ||
  (Object.entries(scope.labels).every(([k, v]) => view.record.labels[k] === v) && (scope.types === undefined || scope.types.includes(view.record.type)));

const WRITE_ATTEMPTS = 32;

const materialAad = (id: string, version: number) => `keyward:key:${id}:v${version}`;

export class KeyService {
  readonly #d: Omit<KeyServiceDeps, 'keys' | 'providers'> & { keys: KeyRepository; providers: ProviderSet };
  readonly #cache: KeyCache;
  readonly #loads = new Map<string, { ticket: LoadTicket; promise: Promise<KeyView> }>();
  readonly #external: ExternalKeyChecks;
  readonly #listeners = new Set<(keyId: string) => void>();

  constructor(deps: KeyServiceDeps) {
    this.#d = { ...deps, keys: typedKeyRepository(deps.keys), providers: deps.providers ?? ProviderSet.none() };
    this.#cache = new KeyCache(deps.config.cacheTtlMs);
    this.#external = new ExternalKeyChecks(deps.config.cacheTtlMs, () => deps.clock.now().getTime());
    deps.seal.onSealChange((sealed) => {
      if (sealed) this.#cache.dropAllMaterial();
    });
  }

  /**
   * Called after every committed write to a key on this instance, and for writes another instance announced
   * (`changedElsewhere`); without announcements, other instances' writes show within the cache TTL.
   */
  onKeyChange(listener: (keyId: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Another instance committed a write to this key (undefined: to any key, announcements were missed): the cached
   * view is dropped, so the next use reads the stored state.
   */
  changedElsewhere(id: string | undefined): void {
    if (id === undefined) {
      this.#cache.dropAllMaterial();
      return;
    }
    this.#cache.invalidate(id);
    this.#changed(id);
  }

  #changed(id: string): void {
    for (const l of this.#listeners) {
      try {
        l(id);
      } catch {
        // A listener's failure is its own; the write has committed.
      }
    }
  }

  // ---------------------------------------------------------------- lifecycle

  async create(ctx: OperationContext, req: { id?: string | undefined; type: KeyType; labels?: Labels | undefined; description?: string | null | undefined; overwrite?: boolean | undefined; provider?: ProviderName | undefined }): Promise<KeyView> {
    const id = req.id ?? generatedKeyId();
    const providerName = req.provider ?? this.#d.config.defaultProvider ?? 'software';
    return this.#op(ctx, 'key.create', 'kms:CreateKey', { type: 'Key', id }, req.type, async () => {
      this.#checkId(id);
      this.#ownKeysOnly(ctx, id, 'creating a key under the reserved prefix');
      const labels = checkLabels(req.labels);
      const k = { id, type: req.type, labels, description: checkDescription(req.description), origin: 'generated' as const, overwrite: req.overwrite === true, provider: providerName };
      if (providerName === 'software') {
        const view = await this.#insert(ctx, 'key.create', 'kms:CreateKey', k, await this.#sealedVersion(req.type, id, 1));
        return { result: view, audited: true, keyType: req.type };
      }
      const provider = this.#d.providers.require(providerName);
      this.#assertProviderCan(provider, req.type, { op: 'generate' });
      await this.#overwriteAllowed(k);
      const made = await provider.generate(req.type, hsmLabel(id, 1));
      const view = await this.#insert(ctx, 'key.create', 'kms:CreateKey', k, this.#hsmVersion(req.type, providerName, made), () => this.#discard(provider, id, 1, req.type, made));
      return { result: view, audited: true, keyType: req.type };
    });
  }

  /**
   * Hold-your-own-key: a key whose material stays in its owner's HSM (a PKCS#11 object or KMIP key Keyward did not
   * create). Keyward keeps a reference and the public key; the owner can revoke it at any time, after which every
   * use is refused (key.external_revoked) within keys.cache_ttl. Keyward never destroys it.
   */
  async importExternal(ctx: OperationContext, req: ExternalKeyRequest): Promise<KeyView> {
    return this.#op(ctx, 'key.import', 'kms:ImportKey', { type: 'Key', id: req.id }, req.type, async () => {
      this.#checkId(req.id);
      this.#ownKeysOnly(ctx, req.id, 'importing a key under the reserved prefix');
      const labels = checkLabels(req.labels);
      const provider = this.#d.providers.require(req.provider);
      this.#assertProviderCan(provider, req.type, { op: 'adopt' });
      const k = { id: req.id, type: req.type, labels, description: checkDescription(req.description), origin: 'external' as const, overwrite: req.overwrite === true, provider: req.provider };
      await this.#overwriteAllowed(k);
      const found = await provider.adopt(req.type, { id: req.externalId, publicId: req.externalPublicId });
      const view = await this.#insert(ctx, 'key.import', 'kms:ImportKey', k, this.#hsmVersion(req.type, req.provider, found));
      return { result: view, audited: true, keyType: req.type };
    });
  }

  async import(ctx: OperationContext, req: { id: string; type: KeyType; pem?: string | undefined; jwk?: JsonWebKey | undefined; rawBase64?: string | undefined; labels?: Labels | undefined; description?: string | null | undefined; overwrite?: boolean | undefined }): Promise<KeyView> {
    return this.#op(ctx, 'key.import', 'kms:ImportKey', { type: 'Key', id: req.id }, req.type, async () => {
      this.#checkId(req.id);
      this.#ownKeysOnly(ctx, req.id, 'importing a key under the reserved prefix');
      const labels = checkLabels(req.labels);
      const material = families.importKey(req.type, { pem: req.pem, jwk: req.jwk, raw_base64: req.rawBase64 });
      const view = await this.#insert(ctx, 'key.import', 'kms:ImportKey', {
        id: req.id, type: req.type, labels, description: checkDescription(req.description), origin: 'imported', overwrite: req.overwrite === true, provider: 'software',
      }, this.#sealMaterial(req.type, req.id, 1, material));
      return { result: view, audited: true, keyType: req.type };
    });
  }

  async #insert(
    ctx: OperationContext,
    eventType: string,
    action: string,
    k: { id: string; type: KeyType; labels: Labels; description: string | null; origin: 'generated' | 'imported' | 'external'; overwrite: boolean; provider: ProviderName },
    version: { publicKeySpki: Buffer | null; fingerprint: string; sealedMaterial: Buffer | null; providerRef: string | null },
    /** Undoes what was made outside the database (an HSM object) when the write does not happen. */
    discard?: () => Promise<void>,
  ): Promise<KeyView> {
    const now = this.#d.clock.now();
    let record: KeyRecord;
    try {
      if (k.overwrite && !this.#d.config.allowOverwrite) {
        throw new ProblemError({ code: 'key.overwrite_disabled', detail: 'overwriting keys is disabled by configuration' });
      }
      const metadata = { fingerprint: version.fingerprint, overwrite: k.overwrite, ...(k.provider !== 'software' ? { provider: k.provider } : {}), ...(k.origin === 'external' ? { external: true } : {}) };
      record = await this.#d.keys.create(
        { id: k.id, type: k.type, labels: k.labels, description: k.description, origin: k.origin, provider: k.provider, createdAt: now },
        { ...version, createdAt: now },
        { overwrite: k.overwrite, guard: this.#guard(ctx, eventType, action, metadata) },
      );
    } catch (e) {
      await discard?.().catch(() => undefined);
      if (e instanceof StoreConflictError && e.reason === 'key_exists') throw keyExists(k.id);
      throw e;
    }
    this.#cache.invalidate(k.id);
    this.#external.forget(k.id);
    this.#changed(k.id);
    return this.describe(record.id);
  }

  /** Fresh software material for version `version`, sealed under the root key. */
  async #sealedVersion(type: KeyType, id: string, version: number) {
    return this.#sealMaterial(type, id, version, await families.generateKey(type));
  }

  #sealMaterial(type: KeyType, id: string, version: number, material: families.GeneratedKey) {
    try {
      const fingerprint = families.fingerprint(type, material.publicKeySpki, material.material);
      return { publicKeySpki: material.publicKeySpki, fingerprint, sealedMaterial: this.#d.seal.wrap(materialAad(id, version), material.material), providerRef: null };
    } finally {
      material.material.fill(0);
    }
  }

  /** A version held by an HSM: its reference instead of sealed material. */
  #hsmVersion(type: KeyType, provider: HsmProviderName, made: { ref: string; publicKeySpki: Buffer | null }) {
    // Symmetric keys have no public half to fingerprint; the reference identifies them and reveals nothing.
    const fingerprint = made.publicKeySpki ? families.fingerprint(type, made.publicKeySpki, Buffer.alloc(0)) : `sha256:${createHash('sha256').update(`keyward-hsm:${provider}:${made.ref}`).digest('hex')}`;
    return { publicKeySpki: made.publicKeySpki, fingerprint, sealedMaterial: null, providerRef: made.ref };
  }

  /** Removes an HSM object whose version was never stored (a failed write). Best effort: the caller's error wins. */
  async #discard(provider: KeyProvider, keyId: string, version: number, type: KeyType, made: { ref: string; publicKeySpki: Buffer | null }): Promise<void> {
    await provider.destroy({ keyId, version, type, ref: made.ref, publicKeySpki: made.publicKeySpki, external: false });
  }

  /**
   * Overwriting a key whose material an HSM holds would orphan its objects there: destroy it first (which removes
   * them). External keys are only references, and software keys are replaced with their row.
   */
  async #overwriteAllowed(k: { id: string; overwrite: boolean }): Promise<void> {
    if (!k.overwrite) return;
    // Checked before anything is made in an HSM (and again by #insert, for every provider).
    if (!this.#d.config.allowOverwrite) {
      throw new ProblemError({ code: 'key.overwrite_disabled', detail: 'overwriting keys is disabled by configuration' });
    }
    const existing = await this.#d.keys.get(k.id);
    if (existing && existing.state !== 'destroyed' && existing.provider !== 'software' && existing.origin !== 'external') {
      throw new ProblemError({
        code: 'key.overwrite_refused',
        detail: `key ${k.id} is held by the ${existing.provider} provider; destroy it first (that removes its objects from the HSM), then create it again`,
      });
    }
  }

  #assertProviderCan(provider: KeyProvider, type: KeyType, operation: ProviderOperation): void {
    const why = provider.refusal(type, operation);
    if (why !== undefined) throw providerUnsupported(provider.name, why);
  }

  async list(ctx: OperationContext, q: { cursor?: string | undefined; limit?: number | undefined; state?: KeyState | undefined; labels?: Labels | undefined; provider?: ProviderName | undefined }): Promise<Page<KeyView>> {
    return this.#op(ctx, 'key.list', 'kms:ListKeys', { type: 'Namespace', id: 'keys' }, undefined, async () => {
      // Keyward's own keys are not listed to outside callers: nothing about them but their public keys is theirs to read.
      const excludeIdPrefix = ctx.component === undefined ? SYSTEM_KEY_PREFIX : undefined;
      const page = await this.#d.keys.list({ cursor: q.cursor, limit: Math.min(Math.max(q.limit ?? 100, 1), 1000), state: q.state, labels: q.labels, excludeIdPrefix, provider: q.provider }).catch((e: unknown) => {
        throw e instanceof InvalidCursorError ? badRequest('request.invalid_cursor', 'the cursor is not one this server handed out') : e;
      });
      const items = await Promise.all(page.items.map(async (r) => ({ record: r, versions: await this.#d.keys.versions(r.id) })));
      return { result: { items, nextCursor: page.nextCursor } };
    });
  }

  /** Metadata and versions without auditing: for authorization lookups and internal use. */
  async describe(id: string): Promise<KeyView> {
    if (!isValidKeyId(id)) throw invalidKeyId();
    const nowMs = this.#d.clock.now().getTime();
    const hit = this.#cache.getMeta(id, nowMs);
    if (hit) return hit;
    // One load per key at a time: when a hot key's entry expires or is invalidated, the requests in flight share
    // one read of the key and its versions instead of each reading them (a load no invalidation overtook is as
    // fresh as a cache hit would be).
    const pending = this.#loads.get(id);
    if (pending && !this.#cache.overtaken(id, pending.ticket)) return pending.promise;
    const ticket = this.#cache.ticket();
    const promise = (async () => {
      const record = await this.#d.keys.get(id);
      if (!record) throw keyNotFound(id);
      const versions = await this.#d.keys.versions(id);
      const entry = { record, versions, loadedAt: nowMs };
      this.#cache.putMeta(entry, ticket);
      return entry;
    })();
    const load = { ticket, promise };
    this.#loads.set(id, load);
    try {
      return await promise;
    } finally {
      if (this.#loads.get(id) === load) this.#loads.delete(id);
    }
  }

  /**
   * Like describe, but undefined when the id is unknown or malformed (authorization needs metadata, not errors).
   * Other failures (the database unreachable) propagate: a PDP must not decide on metadata it could not read.
   */
  async peek(id: string): Promise<KeyRecord | undefined> {
    try {
      return (await this.describe(id)).record;
    } catch (e) {
      if (isProblem(e) && (e.code === 'key.not_found' || e.code === 'key.invalid_id')) return undefined;
      throw e;
    }
  }

  async get(ctx: OperationContext, id: string): Promise<KeyView> {
    return this.#op(ctx, 'key.describe', 'kms:DescribeKey', { type: 'Key', id }, undefined, async () => {
      this.#ownKeysOnly(ctx, id, 'reading its metadata');
      return { result: await this.describe(id) };
    });
  }

  async publicKey(ctx: OperationContext, id: string, version?: number): Promise<{ record: KeyRecord; version: KeyVersionRecord }> {
    return this.#op(ctx, 'key.public', 'kms:GetPublicKey', { type: 'Key', id }, undefined, async () => {
      const view = await this.describe(id);
      if (!families.familyWith(view.record.type, 'sign_verify')) throw usageMismatch(id, view.record.type, 'public keys');
      if (view.record.state === 'destroyed') throw keyStateRefused(id, 'destroyed', 'reading the public key');
      const v = pickVersion(view, version);
      return { result: { record: view.record, version: v } };
    });
  }

  /** Public JWKS of every version not destroyed, kid = fingerprint + version. */
  async jwks(ctx: OperationContext, id: string): Promise<{ keys: JsonWebKey[] }> {
    return this.#op(ctx, 'key.jwks', 'kms:GetPublicKey', { type: 'Key', id }, undefined, async () => {
      const view = await this.describe(id);
      if (!families.familyWith(view.record.type, 'sign_verify')) throw usageMismatch(id, view.record.type, 'JWKS');
      const live = view.versions.filter((v) => v.destroyedAt === null && v.publicKeySpki !== null);
      return { result: families.jwks(live.map((v) => ({ type: view.record.type, spki: v.publicKeySpki!, kid: families.jwtKid(v.fingerprint, v.version) }))) };
    });
  }

  async rotate(ctx: OperationContext, id: string): Promise<KeyView> {
    return this.#rotate(ctx, id, 'kms:RotateKey', () => this.#ownKeysOnly(ctx, id, 'rotation'));
  }

  /**
   * Rotates one of Keyward's own keys (isSystemKeyId). The caller has been authorized for sys:RotateSystemKey, a
   * permission no wildcard grants; the identity provider starts signing with the new version on its next refresh.
   */
  async rotateSystemKey(ctx: OperationContext, id: string): Promise<KeyView> {
    return this.#rotate(ctx, id, 'sys:RotateSystemKey', () => {
      if (!isSystemKeyId(id)) throw keyNotFound(id);
    });
  }

  async #rotate(ctx: OperationContext, id: string, action: string, check: () => void): Promise<KeyView> {
    return this.#op(ctx, 'key.rotate', action, { type: 'Key', id }, undefined, async () => {
      check();
      // Generated once, after the first state check; only the wrapping depends on the version number, which a
      // retry may change. An HSM object is made once too, and removed again if no version ends up naming it.
      let fresh: { material: families.GeneratedKey; fp: string } | undefined;
      let made: { provider: KeyProvider; object: { ref: string; publicKeySpki: Buffer | null }; type: KeyType } | undefined;
      let stored = false;
      try {
        const record = await this.#retrying(async () => {
          const view = await this.#fresh(id);
          if (view.record.state !== 'enabled' && view.record.state !== 'disabled') throw keyStateRefused(id, view.record.state, 'rotation');
          const next = view.record.currentVersion + 1;
          let version: { publicKeySpki: Buffer | null; fingerprint: string; sealedMaterial: Buffer | null; providerRef: string | null };
          if (view.record.provider === 'software') {
            if (!fresh) {
              const material = await families.generateKey(view.record.type);
              fresh = { material, fp: families.fingerprint(view.record.type, material.publicKeySpki, material.material) };
            }
            version = { publicKeySpki: fresh.material.publicKeySpki, fingerprint: fresh.fp, sealedMaterial: this.#d.seal.wrap(materialAad(id, next), fresh.material.material), providerRef: null };
          } else {
            if (view.record.origin === 'external') throw externalImmutable(id);
            if (!made) {
              const provider = this.#provider(view.record);
              this.#assertProviderCan(provider, view.record.type, { op: 'generate' });
              made = { provider, type: view.record.type, object: await provider.generate(view.record.type, hsmLabel(id, next)) };
            }
            version = this.#hsmVersion(view.record.type, made.provider.name, made.object);
          }
          const fp = version.fingerprint;
          return this.#mutate(id, () =>
            this.#d.keys.addVersion(id, view.record.revision, { ...version, createdAt: this.#d.clock.now() },
              this.#guard(ctx, 'key.rotate', action, { version: next, fingerprint: fp })),
          );
        });
        stored = true;
        // The answer is the state this rotation made: a concurrent rotation (here or on another instance) may
        // already have added a later version, which is that caller's to report.
        const view = await this.describe(record.id);
        const own = view.record.currentVersion === record.currentVersion ? view : { ...view, record, versions: view.versions.filter((v) => v.version <= record.currentVersion) };
        return { result: own, audited: true, keyType: record.type };
      } finally {
        fresh?.material.material.fill(0);
        if (made && !stored) await this.#discard(made.provider, id, 0, made.type, made.object).catch(() => undefined);
      }
    });
  }

  async disable(ctx: OperationContext, id: string) {
    return this.#transition(ctx, id, 'key.disable', 'kms:DisableKey', ['enabled'], 'disabled', () => null);
  }

  async enable(ctx: OperationContext, id: string) {
    return this.#transition(ctx, id, 'key.enable', 'kms:EnableKey', ['disabled'], 'enabled', () => null);
  }

  /** SPIRL semantics: no new signatures from now; destroyed when the grace period ends unless cancelled. */
  async release(ctx: OperationContext, id: string, scope?: KeyScope) {
    // Not from disabled: cancelling would then re-enable a key an operator had switched off.
    return this.#transition(ctx, id, 'key.release', 'kms:ReleaseKey', ['enabled', 'released'], 'released', (r) =>
      r.state === 'released' && r.destroyAt ? r.destroyAt : new Date(this.#d.clock.now().getTime() + this.#d.config.releaseGraceMs),
    scope);
  }

  async cancelRelease(ctx: OperationContext, id: string) {
    return this.#transition(ctx, id, 'key.cancel_release', 'kms:CancelKeyRelease', ['released'], 'enabled', () => null);
  }

  async destroy(ctx: OperationContext, id: string): Promise<KeyView> {
    return this.#op(ctx, 'key.destroy', 'kms:DestroyKey', { type: 'Key', id }, undefined, async () => {
      this.#ownKeysOnly(ctx, id, 'destruction');
      const record = await this.#retrying(async () => {
        const view = await this.#fresh(id);
        if (view.record.state === 'destroyed') throw keyStateRefused(id, 'destroyed', 'destruction');
        // The HSM's objects go first: a destroy that cannot reach the HSM is refused (503) and changes nothing, so
        // Keyward never says destroyed while the material lives on. If the write is refused after (the audit trail
        // down), the key's objects are gone already and repeating the destroy completes it.
        await this.#destroyHeld(view);
        return this.#mutate(id, () => this.#d.keys.destroy(id, view.record.revision, this.#d.clock.now(), this.#guard(ctx, 'key.destroy', 'kms:DestroyKey', {})));
      });
      return { result: await this.describe(record.id), audited: true, keyType: record.type };
    });
  }

  /** Removes the objects of an HSM-held key's versions; an external key's belong to its owner and stay. */
  async #destroyHeld(view: KeyView): Promise<void> {
    if (view.record.provider === 'software' || view.record.origin === 'external') return;
    const provider = this.#provider(view.record);
    for (const v of view.versions) {
      if (v.providerRef !== null) await provider.destroy(this.#held(view.record, v));
    }
  }

  /** Destroys released keys whose grace period has ended. Returns the ids destroyed. */
  async sweepReleased(ctx: OperationContext): Promise<string[]> {
    const due = await this.#d.keys.dueForDestruction(this.#d.clock.now(), 100);
    const done: string[] = [];
    for (const k of due) {
      try {
        await this.destroy(ctx, k.id);
        done.push(k.id);
      } catch (e) {
        // Another instance may have destroyed or cancelled it meanwhile; the next sweep looks again.
        if (!isProblem(e)) throw e;
      }
    }
    return done;
  }

  async #transition(
    ctx: OperationContext,
    id: string,
    eventType: string,
    action: string,
    from: KeyState[],
    to: KeyState,
    destroyAt: (r: KeyRecord) => Date | null,
    scope?: KeyScope,
  ): Promise<KeyView> {
    return this.#op(ctx, eventType, action, { type: 'Key', id }, undefined, async () => {
      this.#ownKeysOnly(ctx, id, `a state change (${eventType.slice(4)})`);
      const record = await this.#retrying(async () => {
        const view = await this.#fresh(id);
        if (!inScope(view, scope)) throw keyNotFound(id);
        const r = view.record;
        if (r.state === 'destroyed') throw keyStateRefused(id, 'destroyed', eventType.slice(4));
        if (!from.includes(r.state)) throw invalidTransition(id, r.state, eventType.slice(4), from);
        const at = destroyAt(r);
        return this.#mutate(id, () =>
          this.#d.keys.setState(id, r.revision, { state: to, destroyAt: at, updatedAt: this.#d.clock.now() },
            this.#guard(ctx, eventType, action, at ? { destroy_at: at.toISOString() } : {})),
        );
      });
      return { result: await this.describe(record.id), audited: true, keyType: record.type };
    });
  }

  // ---------------------------------------------------------------- crypto

  async sign(ctx: OperationContext, id: string, req: SignRequest, scope?: KeyScope): Promise<{ signature: Buffer; version: number; fingerprint: string; algorithm: string; keyType: KeyType }> {
    return this.#op(ctx, 'key.sign', 'kms:Sign', { type: 'Key', id }, undefined, async () => {
      this.#ownKeysOnly(ctx, id, 'signing');
      this.#chosenVersionAllowed(ctx, req.version);
      if (req.message) this.#checkPayload(req.message);
      const { view, version, handle } = await this.#usable(id, 'sign_verify', 'signing', ['enabled'], scope, req.version);
      const type = view.record.type;
      const request = { input: signInput(req), hashAlgorithm: req.hashAlgorithm, rsaPadding: req.rsaPadding, ecdsaFormat: req.signatureFormat };
      let signature: Buffer;
      if (handle.kind === 'software') {
        signature = await families.sign({ keyObject: handle.key, type, ...request });
      } else {
        const plan = families.signaturePlan(type, request);
        this.#assertProviderCan(handle.provider, type, { op: 'sign', plan });
        signature = await this.#inHsm(handle, (p, held) => p.sign(held, plan));
      }
      return {
        result: { signature, version: version.version, fingerprint: version.fingerprint, algorithm: families.signatureAlgorithm(type, { hashAlgorithm: req.hashAlgorithm, rsaPadding: req.rsaPadding }), keyType: type },
        resourceVersion: version.version,
        keyType: type,
        metadata: { input: req.digest ? 'digest' : 'message', hash_algorithm: req.hashAlgorithm, ...providerMeta(view.record) },
      };
    });
  }

  async verify(ctx: OperationContext, id: string, req: SignRequest & { signature: Buffer; version?: number | undefined }): Promise<{ valid: boolean; version: number }> {
    return this.#op(ctx, 'key.verify', 'kms:Verify', { type: 'Key', id }, undefined, async () => {
      if (req.message) this.#checkPayload(req.message);
      const { view } = await this.#readable(id, 'sign_verify', 'verification');
      const candidates = candidateVersions(view, req.version);
      let valid = false;
      let matched = candidates[0]?.version ?? view.record.currentVersion;
      for (const v of candidates) {
        if (v.destroyedAt !== null || v.publicKeySpki === null) continue;
        // An external key's owner decides about every use, verification included.
        if (view.record.origin === 'external') await this.#externalUsable(view.record, v);
        const pub = families.loadPublicKey(v.publicKeySpki);
        // Only the public key is needed, whichever provider holds the private one.
        if (await families.verify({ keyObject: pub, publicKey: pub, type: view.record.type, input: signInput(req), hashAlgorithm: req.hashAlgorithm, rsaPadding: req.rsaPadding, ecdsaFormat: req.signatureFormat, signature: req.signature })) {
          valid = true;
          matched = v.version;
          break;
        }
      }
      return { result: { valid, version: matched }, resourceVersion: matched, keyType: view.record.type, metadata: { valid } };
    });
  }

  async encrypt(ctx: OperationContext, id: string, req: { plaintext: Buffer; aad?: Buffer | undefined }): Promise<{ ciphertext: Buffer; version: number }> {
    return this.#op(ctx, 'key.encrypt', 'kms:Encrypt', { type: 'Key', id }, undefined, async () => {
      this.#ownKeysOnly(ctx, id, 'encryption');
      this.#checkPayload(req.plaintext);
      const { view, version, handle, family } = await this.#usable(id, 'encrypt_decrypt', 'encryption', ['enabled']);
      const ciphertext = await this.#encryptWith(handle, family, version.version, req.plaintext, req.aad);
      return { result: { ciphertext, version: version.version }, resourceVersion: version.version, keyType: view.record.type, metadata: providerMeta(view.record) };
    });
  }

  async decrypt(ctx: OperationContext, id: string, req: { ciphertext: Buffer; aad?: Buffer | undefined }): Promise<{ plaintext: Buffer; version: number }> {
    return this.#op(ctx, 'key.decrypt', 'kms:Decrypt', { type: 'Key', id }, undefined, async () => {
      this.#ownKeysOnly(ctx, id, 'decryption');
      this.#checkPayload(req.ciphertext);
      const { view, family } = await this.#readable(id, 'encrypt_decrypt', 'decryption');
      const wanted = families.ciphertextVersion(req.ciphertext);
      const ver = view.versions.find((x) => x.version === wanted);
      if (view.record.provider === 'software') {
        const out = family.decrypt((v) => {
          const x = view.versions.find((y) => y.version === v);
          return x && x.destroyedAt === null && x.sealedMaterial ? this.#keyObject(view.record, x) : undefined;
        }, req.ciphertext, req.aad);
        return { result: out, resourceVersion: wanted, keyType: view.record.type };
      }
      if (!ver || !hasMaterial(ver)) throw badRequest('crypto.key_version_unavailable', `key version ${wanted} is not available`);
      const handle = await this.#hsmHandle(view.record, ver, { op: 'decrypt' });
      const { version, header, iv, body, tag } = families.splitCiphertext(req.ciphertext);
      const plaintext = await this.#inHsm(handle, (p, held) => p.decrypt(held, { iv, ciphertext: body, tag }, families.headerAad(header, req.aad)));
      return { result: { plaintext, version }, resourceVersion: wanted, keyType: view.record.type, metadata: providerMeta(view.record) };
    });
  }

  async generateDataKey(ctx: OperationContext, id: string, req: { bytes: 16 | 32 | 64; aad?: Buffer | undefined }): Promise<{ plaintext: Buffer; ciphertext: Buffer; version: number }> {
    return this.#op(ctx, 'key.generate_data_key', 'kms:GenerateDataKey', { type: 'Key', id }, undefined, async () => {
      this.#ownKeysOnly(ctx, id, 'data key generation');
      const { view, version, handle, family } = await this.#usable(id, 'encrypt_decrypt', 'data key generation', ['enabled']);
      let dk: { plaintext: Buffer; ciphertext: Buffer };
      if (handle.kind === 'software') {
        dk = family.generateDataKey(handle.key, version.version, req.bytes, req.aad);
      } else {
        if (!(families.DATA_KEY_SIZES as readonly number[]).includes(req.bytes)) throw badRequest('crypto.data_key_length', `data keys are ${families.DATA_KEY_SIZES.join(', ')} bytes`);
        // The data key comes from this process's CSPRNG, as with software keys; only its wrapping happens in the HSM.
        const plaintext = nodeRandomBytes(req.bytes);
        dk = { plaintext, ciphertext: await this.#encryptWith(handle, family, version.version, plaintext, req.aad) };
      }
      return { result: { ...dk, version: version.version }, resourceVersion: version.version, keyType: view.record.type, metadata: { bytes: req.bytes, ...providerMeta(view.record) } };
    });
  }

  async mac(ctx: OperationContext, id: string, req: { message: Buffer }): Promise<{ mac: Buffer; version: number }> {
    return this.#op(ctx, 'key.mac', 'kms:GenerateMac', { type: 'Key', id }, undefined, async () => {
      this.#ownKeysOnly(ctx, id, 'MAC generation');
      this.#checkPayload(req.message);
      const { view, version, handle, family } = await this.#usable(id, 'mac', 'MAC generation', ['enabled']);
      // No HSM provider holds MAC keys (they are refused at creation); a stored one would be refused here too.
      if (handle.kind !== 'software') throw providerUnsupported(handle.provider.name, 'MAC keys are not held by HSM providers');
      return { result: { mac: family.mac(handle.key, req.message), version: version.version }, resourceVersion: version.version, keyType: view.record.type };
    });
  }

  async verifyMac(ctx: OperationContext, id: string, req: { message: Buffer; mac: Buffer; version?: number | undefined }): Promise<{ valid: boolean; version: number }> {
    return this.#op(ctx, 'key.verify_mac', 'kms:VerifyMac', { type: 'Key', id }, undefined, async () => {
      this.#ownKeysOnly(ctx, id, 'MAC verification');
      this.#checkPayload(req.message);
      const { view, family } = await this.#readable(id, 'mac', 'MAC verification');
      if (view.record.provider !== 'software') throw providerUnsupported(view.record.provider, 'MAC keys are not held by HSM providers');
      const candidates = candidateVersions(view, req.version);
      for (const v of candidates) {
        if (v.destroyedAt !== null || !v.sealedMaterial) continue;
        if (family.verifyMac(this.#keyObject(view.record, v), req.message, req.mac)) {
          return { result: { valid: true as boolean, version: v.version }, resourceVersion: v.version, keyType: view.record.type, metadata: { valid: true } };
        }
      }
      return { result: { valid: false, version: view.record.currentVersion }, keyType: view.record.type, metadata: { valid: false } };
    });
  }

  async signJwt(ctx: OperationContext, id: string, req: { payload: Record<string, unknown>; typ?: string | undefined; rsaPadding?: RsaPadding | undefined; version?: number | undefined }): Promise<{ jwt: string; kid: string; version: number; algorithm: string }> {
    return this.#op(ctx, 'key.sign_jwt', 'kms:SignJwt', { type: 'Key', id }, undefined, async () => {
      this.#ownKeysOnly(ctx, id, 'JWT signing');
      this.#chosenVersionAllowed(ctx, req.version);
      // Claims first: sizing them stringifies them, which a deeply nested object would make throw.
      families.checkJwtClaims(req.payload);
      this.#checkPayload(Buffer.from(JSON.stringify(req.payload)));
      const { view, version, handle } = await this.#usable(id, 'sign_verify', 'JWT signing', ['enabled'], undefined, req.version);
      const type = view.record.type;
      const kid = families.jwtKid(version.fingerprint, version.version);
      const opts = { rsaPadding: req.rsaPadding, typ: req.typ };
      const jwt = handle.kind === 'software'
        ? await families.signJwt(handle.key, type, kid, req.payload, opts)
        : await families.signJwtWith(async (signingInput, choice) => {
          const plan = families.signaturePlan(type, { input: { message: signingInput }, ...choice });
          this.#assertProviderCan(handle.provider, type, { op: 'sign', plan });
          return this.#inHsm(handle, (p, held) => p.sign(held, plan));
        }, type, kid, req.payload, opts);
      return {
        result: { jwt, kid, version: version.version, algorithm: families.jwsAlgorithm(type, req.rsaPadding) },
        resourceVersion: version.version,
        keyType: type,
        metadata: providerMeta(view.record),
      };
    });
  }

  async random(ctx: OperationContext, bytes: number): Promise<Buffer> {
    return this.#op(ctx, 'key.random', 'kms:GenerateRandom', { type: 'Namespace', id: 'keys' }, undefined, async () => ({
      result: randomBytes(bytes),
      metadata: { bytes },
    }));
  }

  // ---------------------------------------------------------------- internals

  #checkId(id: string): void {
    if (!isValidKeyId(id)) throw invalidKeyId();
  }

  /**
   * Keyward's own keys (the identity provider's token signing and secrets keys) serve Keyward's components alone:
   * an outside caller who could sign with them could mint tokens for anyone. Outside callers may read their public
   * keys (public-key, jwks, verify), which the identity provider publishes anyway; rotation has its own permission.
   */
  #ownKeysOnly(ctx: OperationContext, id: string, operation: string): void {
    if (ctx.component === undefined && isSystemKeyId(id)) throw systemKeyRefused(id, operation);
  }

  /** Only Keyward's components choose the version they sign with; everyone else signs with the newest. */
  #chosenVersionAllowed(ctx: OperationContext, version: number | undefined): void {
    if (version !== undefined && ctx.component === undefined) throw badRequest('key.version_not_selectable', 'signing uses the newest version of a key');
  }

  #checkPayload(b: Buffer): void {
    if (b.length > this.#d.config.maxPayloadBytes) {
      throw badRequest('crypto.payload_too_large', `payloads are limited to ${this.#d.config.maxPayloadBytes} bytes`);
    }
  }

  #requireUnsealed(): void {
    if (this.#d.seal.sealed) throw sealedProblem();
  }

  /** Writes must start from the stored revision, not a cached one. */
  async #fresh(id: string): Promise<KeyView> {
    this.#checkId(id);
    this.#cache.invalidate(id);
    return this.describe(id);
  }

  /**
   * Optimistic writes lose to a concurrent change of the same key now and then (twenty rotations at once, say). Each
   * attempt re-reads the key and re-checks its preconditions, so a retry is a fresh decision; only after
   * WRITE_ATTEMPTS losses does the caller get 409 key.concurrent_modification.
   */
  async #retrying<T>(attempt: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (e) {
        if (i >= WRITE_ATTEMPTS || !isProblem(e) || e.code !== 'key.concurrent_modification') throw e;
        // A little jitter so the losers of one round do not collide again in the next.
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 2 * i)));
      }
    }
  }

  /** Runs a write; whatever its outcome the cached view of the key is stale, and listeners hear of a success. */
  async #mutate(id: string, write: () => Promise<KeyRecord>): Promise<KeyRecord> {
    let record: KeyRecord;
    try {
      record = await write();
    } catch (e) {
      if (e instanceof StoreConflictError && (e.reason === 'revision_mismatch' || e.reason === 'not_found')) {
        throw e.reason === 'not_found' ? keyNotFound(id) : concurrentModification(id);
      }
      throw e;
    } finally {
      this.#cache.invalidate(id);
    }
    this.#changed(id);
    return record;
  }

  /**
   * A key for verifying or decrypting: any state but destroyed, since a disabled or released key still reads what
   * it wrote (KeyRack semantics).
   */
  async #readable<U extends KeyUsage>(id: string, usage: U, operation: string) {
    const view = await this.describe(id);
    const family = families.familyWith(view.record.type, usage);
    if (!family) throw usageMismatch(id, view.record.type, operation);
    if (view.record.state === 'destroyed') throw keyStateRefused(id, 'destroyed', operation);
    return { view, family };
  }

  async #usable<U extends KeyUsage>(id: string, usage: U, operation: string, states: KeyState[], scope?: KeyScope, chosen?: number) {
    const view = await this.describe(id);
    if (!inScope(view, scope)) throw keyNotFound(id);
    const family = families.familyWith(view.record.type, usage);
    if (!family) throw usageMismatch(id, view.record.type, operation);
    if (!states.includes(view.record.state)) throw keyStateRefused(id, view.record.state as Exclude<KeyState, 'enabled'>, operation);
    const want = chosen ?? view.record.currentVersion;
    // A destroyed version has no material left: it is as absent as one that never existed.
    const version = view.versions.find((v) => v.version === want);
    if (!version || !hasMaterial(version)) throw versionNotFound(id, want);
    const handle: KeyHandle = view.record.provider === 'software'
      ? { kind: 'software', key: this.#keyObject(view.record, version) }
      : await this.#hsmHandle(view.record, version, usage === 'sign_verify' ? undefined : usage === 'mac' ? { op: 'mac' } : { op: 'encrypt' });
    return { view, version, handle, family };
  }

  /** The provider of an HSM-held key; one this instance does not run fails closed (503). */
  #provider(record: KeyRecord): KeyProvider {
    const name = record.provider as HsmProviderName;
    const p = this.#d.providers.get(name);
    if (!p) throw providerMissing(name);
    return p;
  }

  #held(record: KeyRecord, v: KeyVersionRecord): HeldKey {
    return { keyId: record.id, version: v.version, type: record.type, ref: v.providerRef!, publicKeySpki: v.publicKeySpki, external: record.origin === 'external' };
  }

  /**
   * An HSM-held version, ready to use: the provider can do `operation` with its type (signatures are checked once
   * their plan is known), and an external key's owner still allows its use.
   */
  async #hsmHandle(record: KeyRecord, v: KeyVersionRecord, operation: ProviderOperation | undefined): Promise<KeyHandle & { kind: 'hsm' }> {
    const provider = this.#provider(record);
    if (operation) this.#assertProviderCan(provider, record.type, operation);
    const held = this.#held(record, v);
    if (held.external) await this.#externalUsable(record, v);
    return { kind: 'hsm', provider, held };
  }

  /** Hold-your-own-key: refused (key.external_revoked) when the owner's last word, at most cache_ttl old, is no. */
  async #externalUsable(record: KeyRecord, v: KeyVersionRecord): Promise<void> {
    const held = this.#held(record, v);
    const status: ExternalStatus = await this.#external.status(held, this.#provider(record));
    if (!status.usable) throw externalRevoked(record.id, record.provider, status.reason, status.detail);
  }

  /** Runs an HSM operation; an external key found unusable is refused, and remembered as such for cache_ttl. */
  async #inHsm<T>(handle: KeyHandle & { kind: 'hsm' }, fn: (p: KeyProvider, held: HeldKey) => Promise<T>): Promise<T> {
    try {
      return await fn(handle.provider, handle.held);
    } catch (e) {
      if (e instanceof ProviderKeyUnusable && handle.held.external) {
        const detail = e.detail ?? e.reason;
        this.#external.refused(handle.held, { usable: false, reason: e.reason, detail });
        throw externalRevoked(handle.held.keyId, handle.provider.name, e.reason, detail);
      }
      throw e;
    }
  }

  /** The Keyward ciphertext (format v1, header bound as AAD) whoever holds the key. */
  async #encryptWith(handle: KeyHandle, family: families.FamilyWith<'encrypt_decrypt'>, keyVersion: number, plaintext: Buffer, aad: Buffer | undefined): Promise<Buffer> {
    if (handle.kind === 'software') return family.encrypt(handle.key, keyVersion, plaintext, aad);
    const header = families.ciphertextHeader(keyVersion);
    const parts = await this.#inHsm(handle, (p, held) => p.encrypt(held, plaintext, families.headerAad(header, aad)));
    return families.joinCiphertext(header, parts.iv, parts.ciphertext, parts.tag);
  }

  /** Configured providers, the default, and each one's health (probed now). */
  async providerStatus(): Promise<ProviderStatus> {
    return {
      default: this.#d.config.defaultProvider ?? 'software',
      configured: ['software', ...this.#d.providers.configured],
      health: { software: { ok: true, detail: { sealed: this.#d.seal.sealed } }, ...(await this.#d.providers.health()) },
    };
  }

  #keyObject(record: KeyRecord, v: KeyVersionRecord): KeyObject {
    const cached = this.#cache.getObject(record.id, v.version, v.fingerprint);
    if (cached) return cached;
    const material = this.#d.seal.unwrap(materialAad(record.id, v.version), v.sealedMaterial!);
    try {
      const obj = families.loadPrivateKey(record.type, material);
      this.#cache.putObject(record.id, v.version, v.fingerprint, obj);
      return obj;
    } finally {
      material.fill(0);
    }
  }

  #event(ctx: OperationContext, eventType: string, action: string, resource: { type: string; id?: string | undefined; version?: number | undefined }, outcome: AuditEventInput['outcome'], extra: Partial<AuditEventInput> = {}): AuditEventInput {
    return {
      event_type: eventType,
      action,
      principal: ctx.principal ? { id: ctx.principal.id, type: ctx.principal.type, auth_method: ctx.principal.authMethod } : null,
      resource,
      outcome,
      request_id: ctx.requestId,
      source_ip: ctx.sourceIp,
      user_agent: ctx.userAgent,
      ...extra,
    };
  }

  /** The audit record of a successful write, taken inside the write's transaction. */
  #guard(ctx: OperationContext, eventType: string, action: string, metadata: Record<string, unknown>): CommitGuard {
    return (record) =>
      this.#d.audit.record(
        this.#event(ctx, eventType, action, { type: 'Key', id: record.id, version: record.currentVersion }, 'success', {
          metadata: { key_type: record.type, state: record.state, ...metadata },
        }),
      );
  }

  /**
   * Runs an operation and records its outcome. Successful reads are audited here before the result is returned;
   * successful writes were audited inside their transaction (`audited`). Refusals are audited with their code.
   */
  async #op<T>(
    ctx: OperationContext,
    eventType: string,
    action: string,
    resource: { type: string; id?: string | undefined },
    keyTypeHint: string | undefined,
    fn: () => Promise<{ result: T; audited?: boolean; resourceVersion?: number | undefined; keyType?: string | undefined; metadata?: Record<string, unknown> | undefined }>,
  ): Promise<T> {
    const opName = eventType.slice(eventType.indexOf('.') + 1);
    let out;
    try {
      // Sealed means no key service, reads included (as with Vault); the refusal is audited like any other.
      this.#requireUnsealed();
      out = await fn();
    } catch (e) {
      const code = isProblem(e) ? e.code : 'internal.error';
      const outcome = isProblem(e) && (e.status === 401 || e.status === 403) ? 'denied' : 'error';
      this.#d.metrics?.keyOperation(opName, keyTypeHint ?? 'unknown', outcome);
      // Record the refusal unless the refusal is the audit trail itself being down.
      if (code !== 'audit.unavailable') {
        await this.#d.audit.record(this.#event(ctx, eventType, action, resource, outcome, { error_code: code, metadata: keyTypeHint ? { key_type: keyTypeHint } : undefined }));
      }
      throw e;
    }
    if (!out.audited) {
      try {
        await this.#d.audit.record(
          this.#event(ctx, eventType, action, { ...resource, version: out.resourceVersion }, 'success', {
            metadata: { ...(out.keyType ? { key_type: out.keyType } : {}), ...(out.metadata ?? {}) },
          }),
        );
      } catch (e) {
        this.#d.metrics?.keyOperation(opName, out.keyType ?? keyTypeHint ?? 'unknown', 'error');
        throw e;
      }
    }
    this.#d.metrics?.keyOperation(opName, out.keyType ?? keyTypeHint ?? 'unknown', 'success');
    return out.result;
  }
}

function signInput(req: SignRequest): { message: Buffer } | { digest: Buffer; hashAlgorithm: HashAlgorithm | undefined } {
  const hasMessage = req.message !== undefined;
  const hasDigest = req.digest !== undefined;
  if (hasMessage === hasDigest) throw badRequest('crypto.input_invalid', 'send exactly one of message or digest');
  // A missing hash algorithm is judged with the key type (Ed25519 takes no digest at all).
  if (hasDigest) return { digest: req.digest!, hashAlgorithm: req.hashAlgorithm };
  return { message: req.message! };
}

/** The version asked for, or else every version not destroyed, newest first. */
function candidateVersions(view: KeyView, version: number | undefined): KeyVersionRecord[] {
  return version !== undefined ? [pickVersion(view, version)] : view.versions.filter((v) => v.destroyedAt === null).reverse();
}

function pickVersion(view: KeyView, version: number | undefined): KeyVersionRecord {
  const want = version ?? view.record.currentVersion;
  const v = view.versions.find((x) => x.version === want);
  if (!v) throw versionNotFound(view.record.id, want);
  if (v.destroyedAt !== null) throw keyStateRefused(view.record.id, 'destroyed', `using version ${want}`);
  return v;
}

/** Descriptions are shown in terminals and UIs: control characters (escape sequences) are refused. */
function checkDescription(d: string | null | undefined): string | null {
  if (d !== undefined && d !== null && !isPrintableText(d)) throw badRequest('key.invalid_description', 'the description may not contain control characters or lone surrogates');
  return d ?? null;
}

function checkLabels(labels: Labels | undefined): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (!LABEL_KEY_RE.test(k) || !isValidLabelValue(v)) {
      throw badRequest('key.invalid_label', `label ${JSON.stringify(k)} is invalid: keys are [a-z0-9._/-] up to 63 characters, values strings up to ${LABEL_VALUE_MAX} printable characters`);
    }
    out[k] = v;
  }
  if (Object.keys(out).length > 64) throw badRequest('key.invalid_label', 'at most 64 labels');
  return out;
}

/** Operators see this label on the HSM's object: which key and version it is; the random tail keeps it unique. */
function hsmLabel(keyId: string, version: number): string {
  return `kw:${keyId.slice(0, 96)}:v${version}:${nodeRandomBytes(4).toString('hex')}`;
}

/** Audit metadata naming the provider of a key held outside the software provider. */
function providerMeta(record: KeyRecord): Record<string, unknown> {
  return record.provider === 'software' ? {} : { provider: record.provider, ...(record.origin === 'external' ? { external: true } : {}) };
}

/** External keys are their owner's: Keyward makes no new versions of them. */
const externalImmutable = (id: string) =>
  new ProblemError({
    code: 'key.external_immutable',
    detail: `key ${id} references a key its owner holds; its owner rotates it, and the new one is imported as a key of its own`,
  });

export function generatedKeyId(): string {
  return `key-${crypto.randomUUID()}`;
}
