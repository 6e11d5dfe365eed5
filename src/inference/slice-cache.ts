import { createHash } from 'node:crypto';

/**
 * The results of recently analysed slices, by the sha256 of their size and HU values: a slice model's results on a
 * slice depend on that slice alone (its preprocessing, crop and lung mask too), so a volume analysed again with some
 * of the same slices (a study analysed while its instances still arrive, then whole) reuses them and runs the model
 * only on the new ones, with the same numbers. In memory only, least recently used first out, at most `capacity`
 * slices (about 35 KB each with the 2.x models).
 */
export class SliceCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(readonly capacity: number) {}

  /** The key of a slice, or undefined when nothing is cached (capacity 0, or values not in a typed array). */
  keyOf(hu: ArrayLike<number>, rows: number, columns: number): string | undefined {
    if (this.capacity <= 0 || !ArrayBuffer.isView(hu)) return undefined;
    return createHash('sha256').update(`${rows}x${columns}:${hu.constructor.name}:`).update(new Uint8Array(hu.buffer, hu.byteOffset, hu.byteLength)).digest('base64');
  }

  get(key: string): T | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, slice: T): void {
    this.entries.delete(key);
    this.entries.set(key, slice);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.capacity) break;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
