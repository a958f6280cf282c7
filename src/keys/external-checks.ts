// Hold-your-own-key: how long Keyward trusts that an external key's owner still lets it be used. The owner can
// revoke, deactivate, delete or replace the key in their HSM, or withdraw Keyward's access, at any moment. Most of
// that makes the HSM refuse the next operation on its own, and that refusal is remembered here at once; what the
// HSM would not refuse (a replaced PKCS#11 object signs happily; a deactivated KMIP key may still decrypt on some
// servers; verification needs no HSM) is caught by a status check that is trusted for keys.cache_ttl. So every use
// is refused at most cache_ttl (plus the one request in flight) after the owner acts: the lockout bound.
import type { ExternalStatus, HeldKey, KeyProvider } from './providers/index.ts';

interface Entry {
  at: number;
  status: ExternalStatus;
}

const MAX_ENTRIES = 10_000;

export class ExternalKeyChecks {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<ExternalStatus>>();

  constructor(ttlMs: number, now: () => number) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** The owner's verdict, asked at most once per TTL per key version (concurrent callers share one question). */
  async status(key: HeldKey, provider: KeyProvider): Promise<ExternalStatus> {
    const k = entryKey(key);
    const hit = this.#entries.get(k);
    if (hit && this.#now() - hit.at <= this.#ttlMs) return hit.status;
    let pending = this.#inflight.get(k);
    if (!pending) {
      const asked = this.#now();
      pending = provider.externalStatus(key).then(
        (status) => {
          this.#put(k, { at: asked, status });
          return status;
        },
      ).finally(() => this.#inflight.delete(k));
      this.#inflight.set(k, pending);
    }
    return pending;
  }

  /** An operation found the key unusable: every request is refused from now until a check says otherwise. */
  refused(key: HeldKey, status: Exclude<ExternalStatus, { usable: true }>): void {
    this.#put(entryKey(key), { at: this.#now(), status });
  }

  forget(keyId: string): void {
    for (const k of this.#entries.keys()) if (k.startsWith(`${keyId}#`)) this.#entries.delete(k);
  }

  #put(k: string, e: Entry): void {
    if (this.#entries.size >= MAX_ENTRIES && !this.#entries.has(k)) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(k, e);
  }
}

// The reference is part of the key: an id overwritten with another external key starts from no verdict.
const entryKey = (key: HeldKey) => `${key.keyId}#${key.version}#${key.ref}`;
