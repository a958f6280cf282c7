// Per-instance caches for the signing hot path: key metadata (short TTL, invalidated by local writes and by other
// instances' announced ones) and unsealed key objects (immutable per version, dropped entirely when the system
// seals).
import type { KeyObject } from 'node:crypto';
import type { KeyRecord, KeyVersionRecord } from './records.ts';

export interface CachedKey {
  record: KeyRecord;
  versions: KeyVersionRecord[];
  loadedAt: number;
}

const MAX_ENTRIES = 10_000;

export class KeyCache {
  readonly #ttlMs: number;
  readonly #meta = new Map<string, CachedKey>();
  readonly #objects = new Map<string, KeyObject>();

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  getMeta(id: string, nowMs: number): CachedKey | undefined {
    const hit = this.#meta.get(id);
    if (hit === undefined) return undefined;
    if (nowMs - hit.loadedAt > this.#ttlMs) {
      this.#meta.delete(id);
      return undefined;
    }
    return hit;
  }

  putMeta(entry: CachedKey): void {
    if (this.#meta.size >= MAX_ENTRIES) this.#meta.delete(this.#meta.keys().next().value!);
    this.#meta.set(entry.record.id, entry);
  }

  invalidate(id: string): void {
    this.#meta.delete(id);
    for (const k of this.#objects.keys()) if (k.startsWith(id + '#')) this.#objects.delete(k);
  }

  // Keyed by fingerprint too: an overwrite (on another instance, say) gives a key a new version 1, whose cached
  // object must not be the old one's.
  getObject(id: string, version: number, fingerprint: string): KeyObject | undefined {
    return this.#objects.get(`${id}#${version}#${fingerprint}`);
  }

  putObject(id: string, version: number, fingerprint: string, obj: KeyObject): void {
    if (this.#objects.size >= MAX_ENTRIES) this.#objects.delete(this.#objects.keys().next().value!);
    this.#objects.set(`${id}#${version}#${fingerprint}`, obj);
  }

  /** On seal: no unsealed key object may outlive the root key. */
  dropAllMaterial(): void {
    this.#objects.clear();
    this.#meta.clear();
  }
}
