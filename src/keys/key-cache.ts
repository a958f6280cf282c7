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

/**
 * Taken before a load reads the store: a load that an invalidation overtook (it read the old state, the change's
 * invalidation arrived before its answer) is not cached, or the old state would outlive the invalidation by a TTL.
 */
export type LoadTicket = number;

export class KeyCache {
  readonly #ttlMs: number;
  readonly #meta = new Map<string, CachedKey>();
  readonly #objects = new Map<string, KeyObject>();
  /** Counts invalidations; each key remembers the count at its latest one (bounded: see #forgetInvalidations). */
  #seq = 0;
  readonly #invalidatedAt = new Map<string, number>();
  /** Loads with a ticket below this are not cached (the per-key record of what overtook them was dropped). */
  #floor = 0;

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

  ticket(): LoadTicket {
    return this.#seq;
  }

  /** Whether an invalidation of the key came after the ticket was taken (what a load with it read may be old). */
  overtaken(id: string, ticket: LoadTicket): boolean {
    return ticket < this.#floor || (this.#invalidatedAt.get(id) ?? -1) > ticket;
  }

  /** Caches what a load read, unless an invalidation of the key came after the load's ticket. */
  putMeta(entry: CachedKey, ticket: LoadTicket): void {
    if (this.overtaken(entry.record.id, ticket)) return;
    if (this.#meta.size >= MAX_ENTRIES) this.#meta.delete(this.#meta.keys().next().value!);
    this.#meta.set(entry.record.id, entry);
  }

  #forgetInvalidations(): void {
    this.#invalidatedAt.clear();
    this.#floor = this.#seq;
  }

  invalidate(id: string): void {
    this.#seq++;
    if (this.#invalidatedAt.size >= MAX_ENTRIES) this.#forgetInvalidations();
    this.#invalidatedAt.set(id, this.#seq);
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
    this.#seq++;
    this.#forgetInvalidations();
    this.#objects.clear();
    this.#meta.clear();
  }
}
