/**
 * Recently rendered thumbnails, in memory only and bounded (entries and bytes), least recently used
 * out first: the worklist asks for one per study on every page view, and a thumbnail costs a decrypt
 * and a decode. Keys name a stored object (immutable: a resent instance is a new object) and the
 * rendering parameters; callers check access before looking up.
 */
export class RenderedCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  get(key: string): Buffer | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, image: Buffer): void {
    if (image.length > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= old.length;
    }
    this.entries.set(key, image);
    this.bytes += image.length;
    for (const [k, v] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.length;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
