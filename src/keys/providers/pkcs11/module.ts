// One loaded PKCS#11 library per process and path. A Cryptoki library keeps process-wide state (dlopen hands out
// the same copy, C_Initialize may be called once), so every token on the same library shares this object, and
// recovering from a lost device (C_Finalize + C_Initialize, which is also how SoftHSM rescans its token directory)
// happens here, once, for all of them.
//
// Generations: every successful C_Initialize starts a new generation. Session and object handles are only valid
// in the generation that made them; after a re-initialisation a stale handle may name somebody else's new session,
// so callers check the generation before each use instead of closing stale handles.
import { realpathSync } from 'node:fs';
import { type Pkcs11Library, ck, returnValue } from './binding.ts';
import { HsmUnavailableError } from './errors.ts';

export class Pkcs11Module {
  static readonly #loaded = new Map<string, Pkcs11Module>();

  /** The shared module for a library path; the caller must release() it when done. */
  static acquire(path: string): Pkcs11Module {
    let key = path;
    try {
      key = realpathSync(path);
    } catch {
      // A missing file fails at load time with a clear error; keep the path as given.
    }
    let m = Pkcs11Module.#loaded.get(key);
    if (!m) {
      m = new Pkcs11Module(path, key);
      Pkcs11Module.#loaded.set(key, m);
    }
    m.#refs++;
    return m;
  }

  readonly path: string;
  readonly #key: string;
  #refs = 0;
  #lib: Pkcs11Library | undefined;
  #initialized = false;
  #generation = 0;
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #resetting: Promise<void> | undefined;

  private constructor(path: string, key: string) {
    this.path = path;
    this.#key = key;
  }

  /** The current generation; 0 before the first successful C_Initialize. */
  get generation(): number {
    return this.#generation;
  }

  /** The initialized library, loading and initializing it on first use. */
  library(): Pkcs11Library {
    if (!this.#lib) {
      const lib = new ck.PKCS11();
      try {
        lib.load(this.path);
      } catch (e) {
        throw new HsmUnavailableError('module_unavailable', `PKCS#11 library ${this.path} could not be loaded: ${(e as Error).message}`);
      }
      this.#lib = lib;
    }
    if (!this.#initialized) {
      try {
        // CKF_OS_LOCKING_OK: operations run on libuv's threadpool, so calls arrive from several threads. With NULL
        // arguments a library may assume a single thread (SoftHSM then switches its own locking off).
        this.#lib.C_Initialize({ flags: ck.CKF_OS_LOCKING_OK });
      } catch (e) {
        const rv = returnValue(e);
        // Somebody else in this process initialized it (another binding instance on the same library): use it.
        if (rv?.code !== ck.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
          throw new HsmUnavailableError('module_unavailable', `C_Initialize failed for ${this.path}`, rv?.name);
        }
      }
      this.#initialized = true;
      this.#generation++;
    }
    return this.#lib;
  }

  /** Resolves once no re-initialisation is pending. */
  async settled(): Promise<void> {
    while (this.#resetting) await this.#resetting;
  }

  /**
   * Runs an asynchronous (threadpool) call of generation `generation`. A re-initialisation waits for calls in
   * flight, and calls made while one is pending wait for it and then fail as stale.
   */
  async call<T>(generation: number, fn: (lib: Pkcs11Library) => Promise<T>): Promise<T> {
    await this.settled();
    const lib = this.current(generation);
    this.#inFlight++;
    try {
      return await fn(lib);
    } finally {
      this.#inFlight--;
      if (this.#inFlight === 0) this.#drained?.();
    }
  }

  /** The library for a synchronous call of generation `generation`; throws StaleGenerationError if it moved on. */
  current(generation: number): Pkcs11Library {
    if (generation !== this.#generation || !this.#initialized || !this.#lib || this.#resetting) throw new StaleGenerationError();
    return this.#lib;
  }

  /**
   * Finalizes and re-initializes the library unless somebody already did since `seenGeneration`. Concurrent
   * callers share one reset. Throws HsmUnavailableError when the library cannot be initialized again.
   */
  async reset(seenGeneration: number): Promise<void> {
    await this.settled();
    if (this.#generation !== seenGeneration && this.#initialized) return;
    const done = (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
      this.#drained = undefined;
      this.#finalize();
    })();
    this.#resetting = done;
    try {
      await done;
    } finally {
      this.#resetting = undefined;
    }
    this.library();
  }

  /** Drops one reference; the last one finalizes and unloads the library. */
  release(): void {
    if (--this.#refs > 0) return;
    Pkcs11Module.#loaded.delete(this.#key);
    this.#finalize();
    try {
      this.#lib?.close();
    } catch {
      // Unloading is best effort; the process keeps the mapping if dlclose refuses.
    }
    this.#lib = undefined;
  }

  #finalize(): void {
    if (!this.#lib || !this.#initialized) return;
    this.#initialized = false;
    try {
      this.#lib.C_Finalize();
    } catch {
      // CKR_CRYPTOKI_NOT_INITIALIZED (finalized behind our back) or a dead device: either way it is finalized now.
    }
  }
}

/** A handle from an earlier generation was about to be used; the caller starts over with fresh handles. */
export class StaleGenerationError extends Error {
  constructor() {
    super('the PKCS#11 library was re-initialized; handles from before are stale');
    this.name = 'StaleGenerationError';
  }
}
