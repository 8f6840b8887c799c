// A Map and a Set for the per-connection tables that almost always hold one entry (the call in
// flight, the presentation context, the security context, an association's connections).
// A JavaScript Map or Set allocates its hash table up front: about 200 bytes even for one entry,
// three or four of them per connection, times tens of thousands of quiet witness clients. These
// keep the first entry in two fields and make a real Map/Set only when a second one arrives.
// Keys compare with ===, which is SameValueZero for the numbers and objects they hold here.

export class SmallMap<K, V> {
  private key: K | undefined = undefined;
  private value: V | undefined = undefined;
  private one = false;
  private map: Map<K, V> | null = null;

  get size(): number {
    return this.map !== null ? this.map.size : this.one ? 1 : 0;
  }

  get(key: K): V | undefined {
    if (this.map !== null) return this.map.get(key);
    return this.one && this.key === key ? this.value : undefined;
  }

  has(key: K): boolean {
    if (this.map !== null) return this.map.has(key);
    return this.one && this.key === key;
  }

  set(key: K, value: V): this {
    if (this.map !== null) {
      this.map.set(key, value);
    } else if (!this.one || this.key === key) {
      this.key = key;
      this.value = value;
      this.one = true;
    } else {
      this.map = new Map<K, V>([[this.key as K, this.value as V], [key, value]]);
      this.forgetInline();
    }
    return this;
  }

  delete(key: K): boolean {
    if (this.map !== null) return this.map.delete(key);
    if (!this.one || this.key !== key) return false;
    this.forgetInline();
    return true;
  }

  clear(): void {
    this.map = null;
    this.forgetInline();
  }

  /** A snapshot of the values, in insertion order (safe to use while the map changes). */
  values(): V[] {
    if (this.map !== null) return [...this.map.values()];
    return this.one ? [this.value as V] : [];
  }

  /** A snapshot of the keys, in insertion order. */
  keys(): K[] {
    if (this.map !== null) return [...this.map.keys()];
    return this.one ? [this.key as K] : [];
  }

  private forgetInline(): void {
    this.key = undefined;
    this.value = undefined;
    this.one = false;
  }
}

export class SmallSet<T> {
  private item: T | undefined = undefined;
  private one = false;
  private set: Set<T> | null = null;

  get size(): number {
    return this.set !== null ? this.set.size : this.one ? 1 : 0;
  }

  has(item: T): boolean {
    if (this.set !== null) return this.set.has(item);
    return this.one && this.item === item;
  }

  add(item: T): this {
    if (this.set !== null) {
      this.set.add(item);
    } else if (!this.one || this.item === item) {
      this.item = item;
      this.one = true;
    } else {
      this.set = new Set<T>([this.item as T, item]);
      this.item = undefined;
      this.one = false;
    }
    return this;
  }

  delete(item: T): boolean {
    if (this.set !== null) return this.set.delete(item);
    if (!this.one || this.item !== item) return false;
    this.item = undefined;
    this.one = false;
    return true;
  }

  /** A snapshot of the items, in insertion order. */
  values(): T[] {
    if (this.set !== null) return [...this.set];
    return this.one ? [this.item as T] : [];
  }
}
