// The seal: Keyward's root of trust. A random root key wraps every key's material; the root key itself is
// stored only sealed under an unseal key, and the unseal key exists only as Shamir shares held by operators.
// While sealed the root key is not in memory and wrap/unwrap refuse with 503 system.sealed.
//
// HSM seals (auto-unseal, seal.type pkcs11 | kmip): the root key is also stored encrypted by an AES key inside the
// HSM, so an instance opens it at start without anyone's shares. The Shamir shares remain as recovery shares: they
// still open the root key, and when the configured seal differs from how the root key is wrapped (Shamir to HSM,
// HSM to Shamir, or a lost HSM key replaced by a new one), unsealing once with them re-wraps it for the
// configured seal. That is the whole migration: change seal.type, restart, unseal once with the shares.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { combine, split } from 'shamir-secret-sharing';
import { ProblemError, badRequest, conflict } from '../../core/problem.ts';
import type { Clock } from '../../core/clock.ts';
import { StoreConflictError } from '../../store/types.ts';
import type { SealRecord, SealRepository } from '../../store/types.ts';
import { sealedProblem } from '../errors.ts';
import type { SealKeyWrapper } from '../providers/types.ts';
import { GCM_KEY_BYTES, gcmOpen, gcmSeal } from './envelope.ts';

/** AAD binding the sealed root key to its purpose and format version. */
export const ROOT_KEY_AAD = 'keyward:root-key:v1';
/** First byte of every blob produced by wrap(); lets the format evolve. */
export const WRAP_FORMAT_V1 = 0x01;
export const MAX_SHARES = 16;
/** A share is the 32-byte unseal-key polynomial evaluation plus its one-byte x coordinate. */
export const SHARE_BYTES = GCM_KEY_BYTES + 1;

export type SealState = 'UNINITIALIZED' | 'SEALED' | 'UNSEALED';
export type SealKind = 'shamir' | 'pkcs11' | 'kmip';

export interface SealStatus {
  state: SealState;
  initialized: boolean;
  sealed: boolean;
  /** Valid shares held in the current unseal round (0 once unsealed). */
  progress: number;
  /** null until initialized. */
  threshold: number | null;
  /** Total number of shares; null until initialized. */
  shares: number | null;
  /** How the stored root key is wrapped (the configured seal until initialized). HSM seals' shares are recovery shares. */
  type: SealKind;
  /** The configured seal: differs from `type` until a migration completes (an unseal with the shares). */
  configuredType: SealKind;
}

export interface InitResult {
  /** Base64 shares (HSM seals: recovery shares). Returned exactly once: Keyward keeps only their digests. */
  shares: string[];
  status: SealStatus;
}

/** AAD of the HSM-wrapped root key (the Shamir-wrapped one uses ROOT_KEY_AAD as text). */
const HSM_ROOT_KEY_AAD = Buffer.from('keyward:root-key:hsm:v1', 'utf8');

export type SealListener = (sealed: boolean) => void;

const sha256hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const STRICT_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes a share; undefined if it is not canonical base64 of exactly SHARE_BYTES bytes. */
function decodeShare(text: unknown): Buffer | undefined {
  if (typeof text !== 'string') return undefined;
  const s = text.trim();
  if (s.length === 0 || s.length % 4 !== 0 || !STRICT_BASE64.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64');
  if (bytes.byteLength !== SHARE_BYTES || bytes.toString('base64') !== s) {
    bytes.fill(0);
    return undefined;
  }
  return bytes;
}

function notInitialized(): ProblemError {
  return conflict('seal.not_initialized', 'The seal has not been initialized.');
}


function materialCorrupt(): ProblemError {
  return new ProblemError({
    code: 'seal.material_corrupt',
    detail: 'Stored key material could not be opened.',
  });
}

export class SealManager {
  readonly #repo: SealRepository;
  readonly #clock: Clock;
  /** The configured HSM seal, if any. */
  readonly #hsm: SealKeyWrapper | undefined;
  #record: SealRecord | undefined;
  #digests = new Set<string>();
  #rootKey: Buffer | undefined;
  /** Shares accepted in the current round, by digest. */
  #held = new Map<string, Buffer>();
  /** Set while the threshold has been reached and the combine is running. */
  #unsealing: Promise<SealStatus> | undefined;
  /** Bumped by seal() so a combine still running when the system is sealed does not unseal it afterwards. */
  #epoch = 0;
  #initInFlight = false;
  readonly #listeners = new Set<SealListener>();

  constructor(deps: { repo: SealRepository; clock: Clock; hsm?: SealKeyWrapper | undefined }) {
    this.#repo = deps.repo;
    this.#clock = deps.clock;
    this.#hsm = deps.hsm;
  }

  /** Whether the configured seal is an HSM seal (auto-unseal). */
  get hsmSeal(): boolean {
    return this.#hsm !== undefined;
  }

  /** Reads the seal record at start; the system starts sealed (or uninitialized). */
  async load(): Promise<SealStatus> {
    this.#adopt(await this.#repo.get());
    return this.status();
  }

  /** The status, after looking for a seal another instance sharing the store initialised since this one loaded. */
  async currentStatus(): Promise<SealStatus> {
    if (!this.#record && !this.#initInFlight) {
      const rec = await this.#repo.get();
      if (!this.#record && !this.#initInFlight) this.#adopt(rec);
    }
    return this.status();
  }

  status(): SealStatus {
    const rec = this.#record;
    const configuredType: SealKind = this.#hsm?.kind ?? 'shamir';
    if (!rec) return { state: 'UNINITIALIZED', initialized: false, sealed: true, progress: 0, threshold: null, shares: null, type: configuredType, configuredType };
    const sealed = this.#rootKey === undefined;
    return {
      state: sealed ? 'SEALED' : 'UNSEALED',
      initialized: true,
      sealed,
      progress: sealed ? this.#held.size : 0,
      threshold: rec.threshold,
      shares: rec.shares,
      type: (rec.kind ?? 'shamir') as SealKind,
      configuredType,
    };
  }

  /** How the root key is wrapped now: the seal kind and, for HSM seals, the seal key's reference (a label, no secret). */
  wrapping(): { type: SealKind; keyRef: string | null } | undefined {
    const rec = this.#record;
    return rec && { type: (rec.kind ?? 'shamir') as SealKind, keyRef: rec.hsmKeyRef ?? null };
  }

  /**
   * Auto-unseal: opens the root key with the HSM seal key. Refused (409 seal.migration_required) when the root key is
   * wrapped for another seal than the configured one, and (409 seal.recovery_required) when the HSM key no longer
   * opens it; both need one unseal with the (recovery) shares. An unreachable HSM is 503 hsm.unavailable.
   */
  async autoUnseal(): Promise<SealStatus> {
    const hsm = this.#hsm;
    if (!hsm) throw conflict('seal.not_hsm_seal', 'The configured seal is Shamir: unseal with shares.');
    if (!this.#record) this.#adopt(await this.#repo.get());
    const rec = this.#record;
    if (!rec) throw notInitialized();
    if (!this.sealed) return this.status();
    if ((rec.kind ?? 'shamir') !== hsm.kind || !rec.hsmKeyRef || !rec.hsmWrappedRootKey || !hsm.matches(rec.hsmKeyRef)) {
      throw conflict(
        'seal.migration_required',
        `The root key is wrapped for the ${rec.kind ?? 'shamir'} seal${rec.hsmKeyRef ? ` (${rec.hsmKeyRef})` : ''}, not the configured ${hsm.kind} seal labelled ${JSON.stringify(hsm.label)}: unseal once with the shares to re-wrap it.`,
      );
    }
    const epoch = this.#epoch;
    let root: Buffer;
    try {
      root = await hsm.unwrap(rec.hsmKeyRef, HSM_ROOT_KEY_AAD, rec.hsmWrappedRootKey);
    } catch (e) {
      if (e instanceof ProblemError && e.code === 'hsm.unavailable') throw e;
      throw conflict('seal.recovery_required', `The ${hsm.kind} seal key no longer opens the root key (${e instanceof ProblemError ? e.code : 'error'}): unseal with the recovery shares to re-wrap it under a new HSM key.`);
    }
    if (root.length !== GCM_KEY_BYTES) {
      root.fill(0);
      throw conflict('seal.recovery_required', 'The HSM returned a root key of the wrong length: unseal with the recovery shares.');
    }
    if (epoch !== this.#epoch || this.#record !== rec || this.#rootKey) {
      root.fill(0);
      return this.status();
    }
    this.#rootKey = root;
    this.#emit(false);
    return this.status();
  }

  get sealed(): boolean {
    return this.#rootKey === undefined;
  }

  /**
   * Creates the root key and the unseal key, stores the root key sealed under the unseal key, and returns the
   * unseal key's shares once. The system is then initialized and sealed.
   */
  async init(params: { shares: number; threshold: number }): Promise<InitResult> {
    const prepared = await this.#prepare(params);
    try {
      await this.#commit(prepared.record);
    } catch (e) {
      for (const s of prepared.shares) s.fill(0);
      prepared.rootKey?.fill(0);
      throw e;
    }
    // An HSM seal is unsealed from the start: the HSM opens the root key at every start anyway.
    if (prepared.rootKey) this.#takeRootKey(prepared.rootKey);
    const shares = prepared.shares.map((s) => {
      const text = s.toString('base64');
      s.fill(0);
      return text;
    });
    return { shares, status: this.status() };
  }

  /**
   * Checks a request's shares together before any is submitted: one bad or repeated share refuses the whole request,
   * so a request that answers an error has spent no progress. Throws what submitShare would; changes nothing.
   */
  checkShares(sharesBase64: readonly string[]): void {
    if (!this.#record || !this.sealed || this.#unsealing) return; // submitShare answers these cases itself
    const seen = new Set<string>();
    for (const text of sharesBase64) {
      const share = decodeShare(text);
      if (!share) throw badRequest('seal.share_malformed', `A share is base64 of exactly ${SHARE_BYTES} bytes.`);
      const digest = sha256hex(share);
      share.fill(0);
      if (!this.#digests.has(digest)) throw badRequest('seal.share_invalid', 'The share does not belong to this installation.');
      if (this.#held.has(digest) || seen.has(digest)) throw badRequest('seal.share_duplicate', 'This share was already submitted in the current unseal round.');
      seen.add(digest);
    }
  }

  /**
   * Submits one base64 share. Rejections (malformed, not from this init, duplicate) spend no progress.
   * When `threshold` valid shares are held the root key is unsealed.
   */
  async submitShare(shareBase64: string): Promise<SealStatus> {
    // A peer instance may have initialized the shared store since load().
    if (!this.#record) this.#adopt(await this.#repo.get());
    if (!this.#record) throw notInitialized();
    // From here to the end of the round's bookkeeping there is no await: concurrent submissions
    // are serialized by the event loop, so a duplicate can never count twice.
    if (this.#unsealing) {
      // The threshold was reached by other submissions; report the outcome of that round.
      return this.#unsealing.then(
        () => this.status(),
        () => this.status(),
      );
    }
    if (!this.sealed) return this.status();

    const share = decodeShare(shareBase64);
    if (!share) throw badRequest('seal.share_malformed', `A share is base64 of exactly ${SHARE_BYTES} bytes.`);
    const digest = sha256hex(share);
    if (!this.#digests.has(digest)) {
      share.fill(0);
      throw badRequest('seal.share_invalid', 'The share does not belong to this installation.');
    }
    if (this.#held.has(digest)) {
      share.fill(0);
      throw badRequest('seal.share_duplicate', 'This share was already submitted in the current unseal round.');
    }
    this.#held.set(digest, share);
    if (this.#held.size < this.#record.threshold) return this.status();

    const round = [...this.#held.values()];
    this.#held.clear();
    const epoch = this.#epoch;
    const p = this.#unseal(round, this.#record, epoch);
    this.#unsealing = p;
    try {
      return await p;
    } finally {
      if (this.#unsealing === p) this.#unsealing = undefined;
    }
  }

  /** Forgets the shares held in the current round. */
  resetProgress(): SealStatus {
    this.#dropHeld();
    return this.status();
  }

  /** Drops the root key and any held shares; listeners hear `true` if the system was unsealed. */
  seal(): SealStatus {
    if (!this.#record) throw notInitialized();
    this.#epoch++;
    this.#dropHeld();
    const wasUnsealed = this.#rootKey !== undefined;
    if (this.#rootKey) {
      this.#rootKey.fill(0);
      this.#rootKey = undefined;
    }
    if (wasUnsealed) this.#emit(true);
    return this.status();
  }

  onSealChange(listener: SealListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Encrypts under the root key: 0x01 || iv(12) || tag(16) || ciphertext, `aad` bound. 503 while sealed. */
  wrap(aad: string, plaintext: Buffer): Buffer {
    const key = this.#rootKey;
    if (!key) throw sealedProblem();
    return Buffer.concat([Buffer.of(WRAP_FORMAT_V1), gcmSeal(key, aad, plaintext)]);
  }

  /** Reverses wrap() for the same `aad`. 503 while sealed; any failure is 500 seal.material_corrupt. */
  unwrap(aad: string, blob: Buffer): Buffer {
    const key = this.#rootKey;
    if (!key) throw sealedProblem();
    if (blob.byteLength < 1 || blob[0] !== WRAP_FORMAT_V1) throw materialCorrupt();
    try {
      return gcmOpen(key, aad, blob.subarray(1));
    } catch {
      throw materialCorrupt();
    }
  }

  /**
   * DEV ONLY (`keyward dev`): initializes with a single share written to `path` (mode 0600) if the store is
   * uninitialized, then unseals from that file. This leaves the unseal key on disk next to the data, which
   * defeats the seal; the caller must refuse to call it outside dev mode.
   */
  async autoInitAndUnsealFromFile(path: string): Promise<SealStatus> {
    if (!this.#record) this.#adopt(await this.#repo.get());
    if (!this.#record) {
      const prepared = await this.#prepare({ shares: 1, threshold: 1 });
      const share = prepared.shares[0]!;
      const body = JSON.stringify(
        {
          warning: 'DEV ONLY: this is the unseal share of a development Keyward. Anyone with this file can unseal it. Never use in production.',
          share: share.toString('base64'),
        },
        null,
        2,
      );
      share.fill(0);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      // Write beside the target first and move it into place only once the store holds the record, so a
      // failed init leaves no misleading file and a failed write leaves no store without its share.
      const tmp = `${path}.${process.pid}.tmp`;
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(body + '\n', 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await chmod(tmp, 0o600);
      try {
        await this.#commit(prepared.record);
      } catch (e) {
        await rm(tmp, { force: true });
        prepared.rootKey?.fill(0);
        throw e;
      }
      await rename(tmp, path);
      if (prepared.rootKey) this.#takeRootKey(prepared.rootKey);
    }
    if (!this.sealed) return this.status();
    if (this.#hsm) return this.autoUnseal();

    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ProblemError({
          code: 'seal.dev_unseal_file_missing',
          detail:
            `The store is initialized but the dev unseal file ${path} is gone, so it cannot be unsealed ` +
            'automatically. Restore the file, or start over with an empty dev data directory.',
        });
      }
      throw e;
    }
    let share: unknown;
    try {
      share = (JSON.parse(text) as { share?: unknown }).share;
    } catch {
      share = undefined;
    }
    if (typeof share !== 'string') {
      throw new ProblemError({
        code: 'seal.dev_unseal_file_invalid',
        detail: `The dev unseal file ${path} is not JSON with a "share" string.`,
      });
    }
    return this.submitShare(share);
  }

  // --- internals ---

  #takeRootKey(root: Buffer): void {
    if (this.#rootKey) {
      root.fill(0);
      return;
    }
    this.#rootKey = root;
    this.#emit(false);
  }

  #adopt(rec: SealRecord | undefined): void {
    this.#record = rec;
    this.#digests = new Set(rec?.shareDigests ?? []);
  }

  #dropHeld(): void {
    for (const s of this.#held.values()) s.fill(0);
    this.#held.clear();
  }

  #emit(sealed: boolean): void {
    for (const l of [...this.#listeners]) {
      try {
        l(sealed);
      } catch {
        // A failing listener must not leave the seal half-transitioned or stop the others from hearing it.
      }
    }
  }

  /** Validates, generates both keys, seals the root key, splits the unseal key; nothing is stored yet. */
  async #prepare(params: { shares: number; threshold: number }): Promise<{ record: SealRecord; shares: Buffer[]; rootKey: Buffer | undefined }> {
    const { shares, threshold } = params ?? ({} as { shares: number; threshold: number });
    const valid =
      Number.isInteger(shares) &&
      Number.isInteger(threshold) &&
      threshold >= 1 &&
      threshold <= shares &&
      shares <= MAX_SHARES &&
      (threshold >= 2 || shares === 1);
    if (!valid) {
      throw badRequest(
        'seal.invalid_parameters',
        `Need integers 1 ≤ threshold ≤ shares ≤ ${MAX_SHARES}, with threshold ≥ 2 unless shares = 1.`,
      );
    }
    if (this.#record || this.#initInFlight) throw alreadyInitialized();

    const rootKey = randomBytes(GCM_KEY_BYTES);
    const unsealKey = randomBytes(GCM_KEY_BYTES);
    let parts: Buffer[] = [];
    try {
      const wrappedRootKey = gcmSeal(unsealKey, ROOT_KEY_AAD, rootKey);
      if (shares === 1) {
        // shamir-secret-sharing needs at least 2 shares. With one share, the only "share" is the polynomial's
        // value at x = 0, which is the secret itself; keep the same layout (value || x) so every share is
        // SHARE_BYTES long.
        parts = [Buffer.concat([unsealKey, Buffer.of(0)])];
      } else {
        // The library checks `constructor === Uint8Array`, so a Buffer must be copied into a plain Uint8Array.
        const secret = Uint8Array.from(unsealKey);
        let raw: Uint8Array[];
        try {
          raw = await split(secret, shares, threshold);
        } finally {
          secret.fill(0);
        }
        parts = raw.map((u) => {
          const b = Buffer.from(u);
          u.fill(0);
          return b;
        });
      }
      let hsmWrapping: Pick<SealRecord, 'kind' | 'hsmWrappedRootKey' | 'hsmKeyRef'> = { kind: 'shamir', hsmWrappedRootKey: null, hsmKeyRef: null };
      if (this.#hsm) {
        const ref = await this.#hsm.ensureKey();
        hsmWrapping = { kind: this.#hsm.kind, hsmWrappedRootKey: await this.#hsm.wrap(ref, HSM_ROOT_KEY_AAD, rootKey), hsmKeyRef: ref };
      }
      const record: SealRecord = {
        shares,
        threshold,
        wrappedRootKey,
        shareDigests: parts.map(sha256hex),
        createdAt: this.#clock.now(),
        ...hsmWrapping,
      };
      return { record, shares: parts, rootKey: this.#hsm ? Buffer.from(rootKey) : undefined };
    } catch (e) {
      for (const p of parts) p.fill(0);
      throw e;
    } finally {
      rootKey.fill(0);
      unsealKey.fill(0);
    }
  }

  /**
   * After an unseal with the shares: if the root key is not wrapped for the configured seal (a migration, or a lost
   * HSM key), wrap it for that seal and store it, compare-and-set on the record the shares opened. Fails closed:
   * when the HSM cannot wrap it, the unseal is refused and the round's root key discarded.
   */
  async #rewrapForConfiguredSeal(root: Buffer, rec: SealRecord): Promise<SealRecord> {
    const hsm = this.#hsm;
    const kind = rec.kind ?? 'shamir';
    let next: Pick<SealRecord, 'kind' | 'hsmWrappedRootKey' | 'hsmKeyRef'> | undefined;
    if (!hsm) {
      if (kind !== 'shamir') next = { kind: 'shamir', hsmWrappedRootKey: null, hsmKeyRef: null };
    } else {
      let current = false;
      if (kind === hsm.kind && rec.hsmKeyRef && rec.hsmWrappedRootKey && hsm.matches(rec.hsmKeyRef)) {
        try {
          const opened = await hsm.unwrap(rec.hsmKeyRef, HSM_ROOT_KEY_AAD, rec.hsmWrappedRootKey);
          current = opened.equals(root);
          opened.fill(0);
        } catch (e) {
          if (e instanceof ProblemError && e.code === 'hsm.unavailable') throw e;
          // The HSM key is gone or is another key now: re-wrap under the configured (new) key.
        }
      }
      if (!current) {
        const ref = await hsm.ensureKey();
        next = { kind: hsm.kind, hsmWrappedRootKey: await hsm.wrap(ref, HSM_ROOT_KEY_AAD, root), hsmKeyRef: ref };
      }
    }
    if (!next) return rec;
    try {
      await this.#repo.rewrap(rec, next);
    } catch (e) {
      if (e instanceof StoreConflictError) throw conflict('seal.concurrent_migration', 'Another instance changed the seal meanwhile; unseal again.');
      throw e;
    }
    return { ...rec, ...next };
  }

  async #commit(record: SealRecord): Promise<void> {
    if (this.#record || this.#initInFlight) throw alreadyInitialized();
    this.#initInFlight = true;
    try {
      await this.#repo.init(record);
    } catch (e) {
      if (e instanceof StoreConflictError && e.reason === 'already_initialized') {
        // Another instance won the race; pick up its record so this one can be unsealed.
        this.#adopt(await this.#repo.get().catch(() => undefined));
        throw alreadyInitialized();
      }
      throw e;
    } finally {
      this.#initInFlight = false;
    }
    this.#adopt(record);
    this.#dropHeld();
  }

  async #unseal(round: Buffer[], rec: SealRecord, epoch: number): Promise<SealStatus> {
    let unsealKey: Uint8Array | undefined;
    let rootKey: Buffer | undefined;
    try {
      if (rec.threshold === 1) {
        const only = round[0]!;
        if (only[GCM_KEY_BYTES] !== 0) throw new Error('single share must carry x = 0');
        unsealKey = Uint8Array.from(only.subarray(0, GCM_KEY_BYTES));
      } else {
        const plain = round.map((b) => Uint8Array.from(b)); // see #prepare: plain Uint8Array required
        try {
          unsealKey = await combine(plain);
        } finally {
          for (const u of plain) u.fill(0);
        }
      }
      const opened = gcmOpen(unsealKey, ROOT_KEY_AAD, rec.wrappedRootKey);
      rootKey = Buffer.alloc(GCM_KEY_BYTES);
      const ok = opened.byteLength === GCM_KEY_BYTES;
      opened.copy(rootKey);
      opened.fill(0);
      if (!ok) throw new Error('root key has the wrong length');
    } catch {
      rootKey?.fill(0);
      throw badRequest('seal.unseal_failed', 'The submitted shares did not unseal the root key; progress was reset.');
    } finally {
      unsealKey?.fill(0);
      for (const s of round) s.fill(0);
    }
    // seal() during the combine discards this round.
    if (epoch !== this.#epoch || this.#record !== rec) {
      rootKey.fill(0);
      return this.status();
    }
    if (this.#rootKey) {
      rootKey.fill(0);
      return this.status();
    }
    try {
      const updated = await this.#rewrapForConfiguredSeal(rootKey, rec);
      if (updated !== rec && this.#record === rec) this.#adopt(updated);
    } catch (e) {
      rootKey.fill(0);
      throw e;
    }
    if (epoch !== this.#epoch || this.#rootKey) {
      rootKey.fill(0);
      return this.status();
    }
    this.#rootKey = rootKey;
    this.#emit(false);
    return this.status();
  }
}

function alreadyInitialized(): ProblemError {
  return conflict('seal.already_initialized', 'The seal is already initialized.');
}
