/**
 * The verdict cache and request collapsing. A verdict is cached under
 * (image digest, layout digest, trust-root digest): any change to the image, the layout or who
 * is trusted is a different key, so a reload never serves a stale verdict. Passes live for the
 * TTL (never past the layout's expiry), failures briefly, errors (registry down, deadline) not
 * at all. Concurrent lookups of one key share one computation.
 */
export interface CacheOptions {
  maxEntries: number;
  /** ms since the epoch; injected so tests need no sleeping. */
  now?: () => number;
}

export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly now: () => number;
  constructor(private readonly opts: CacheOptions) {
    this.now = opts.now ?? Date.now;
  }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    if (!(ttlMs > 0)) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + ttlMs });
    // Map keeps insertion order: the first entries are the oldest.
    while (this.entries.size > this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}

/** One in-flight computation per key; every caller of a key that is running gets its promise. */
export class SingleFlight<V> {
  private readonly flights = new Map<string, Promise<V>>();
  /** How many calls joined a flight that was already running. */
  collapsed = 0;

  run(key: string, fn: () => Promise<V>): Promise<V> {
    const running = this.flights.get(key);
    if (running) {
      this.collapsed++;
      return running;
    }
    const p = (async () => fn())().finally(() => this.flights.delete(key));
    this.flights.set(key, p);
    return p;
  }

  get inFlight(): number {
    return this.flights.size;
  }
}
