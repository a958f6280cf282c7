// A small LRU on Map's insertion order.
export class Lru<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, V>();

  constructor(max: number) {
    this.#max = max;
  }

  get(k: K): V | undefined {
    const v = this.#map.get(k);
    if (v !== undefined) {
      this.#map.delete(k);
      this.#map.set(k, v);
    }
    return v;
  }

  set(k: K, v: V): void {
    if (this.#max <= 0) return;
    this.#map.delete(k);
    this.#map.set(k, v);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as K);
  }

  delete(k: K): void {
    this.#map.delete(k);
  }

  get size(): number {
    return this.#map.size;
  }
}
