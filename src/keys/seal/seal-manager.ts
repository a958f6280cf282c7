// The seal: Keyward's root of trust. A random root key wraps every key's material; the root key itself is
// stored only sealed under an unseal key, and the unseal key exists only as Shamir shares held by operators.
// While sealed the root key is not in memory and wrap/unwrap refuse with 503 system.sealed.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { combine, split } from 'shamir-secret-sharing';
import { ProblemError, badRequest, conflict } from '../../core/problem.ts';
import type { Clock } from '../../core/clock.ts';
import { StoreConflictError } from '../../store/types.ts';
import type { SealRecord, SealRepository } from '../../store/types.ts';
import { sealedProblem } from '../errors.ts';
import { GCM_KEY_BYTES, gcmOpen, gcmSeal } from './envelope.ts';

/** AAD binding the sealed root key to its purpose and format version. */
export const ROOT_KEY_AAD = 'keyward:root-key:v1';
/** First byte of every blob produced by wrap(); lets the format evolve. */
export const WRAP_FORMAT_V1 = 0x01;
export const MAX_SHARES = 16;
/** A share is the 32-byte unseal-key polynomial evaluation plus its one-byte x coordinate. */
export const SHARE_BYTES = GCM_KEY_BYTES + 1;

export type SealState = 'UNINITIALIZED' | 'SEALED' | 'UNSEALED';

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
}

export interface InitResult {
  /** Base64 shares. Returned exactly once: Keyward keeps only their digests. */
  shares: string[];
  status: SealStatus;
}

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
    status: 500,
    code: 'seal.material_corrupt',
    title: 'Internal server error',
    detail: 'Stored key material could not be opened.',
  });
}

export class SealManager {
  readonly #repo: SealRepository;
  readonly #clock: Clock;
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

  constructor(deps: { repo: SealRepository; clock: Clock }) {
    this.#repo = deps.repo;
    this.#clock = deps.clock;
  }

  /** Reads the seal record at start; the system starts sealed (or uninitialized). */
  async load(): Promise<SealStatus> {
    this.#adopt(await this.#repo.get());
    return this.status();
  }

  status(): SealStatus {
    const rec = this.#record;
    if (!rec) return { state: 'UNINITIALIZED', initialized: false, sealed: true, progress: 0, threshold: null, shares: null };
    const sealed = this.#rootKey === undefined;
    return {
      state: sealed ? 'SEALED' : 'UNSEALED',
      initialized: true,
      sealed,
      progress: sealed ? this.#held.size : 0,
      threshold: rec.threshold,
      shares: rec.shares,
    };
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
      throw e;
    }
    const shares = prepared.shares.map((s) => {
      const text = s.toString('base64');
      s.fill(0);
      return text;
    });
    return { shares, status: this.status() };
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
        throw e;
      }
      await rename(tmp, path);
    }
    if (!this.sealed) return this.status();

    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ProblemError({
          status: 500,
          code: 'seal.dev_unseal_file_missing',
          title: 'Dev unseal file missing',
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
        status: 500,
        code: 'seal.dev_unseal_file_invalid',
        title: 'Dev unseal file invalid',
        detail: `The dev unseal file ${path} is not JSON with a "share" string.`,
      });
    }
    return this.submitShare(share);
  }

  // --- internals ---

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
  async #prepare(params: { shares: number; threshold: number }): Promise<{ record: SealRecord; shares: Buffer[] }> {
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
    try {
      const wrappedRootKey = gcmSeal(unsealKey, ROOT_KEY_AAD, rootKey);
      let parts: Buffer[];
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
      const record: SealRecord = {
        shares,
        threshold,
        wrappedRootKey,
        shareDigests: parts.map(sha256hex),
        createdAt: this.#clock.now(),
      };
      return { record, shares: parts };
    } finally {
      rootKey.fill(0);
      unsealKey.fill(0);
    }
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
    this.#rootKey = rootKey;
    this.#emit(false);
    return this.status();
  }
}

function alreadyInitialized(): ProblemError {
  return conflict('seal.already_initialized', 'The seal is already initialized.');
}
