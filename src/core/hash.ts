import { ConfError } from '../conf/errors';

// ngx_hash.c as the map module uses it: exact keys and, for "hostnames",
// the wildcards "*.example.com", ".example.com" and "www.example.*", with
// nginx's rules for which keys are accepted or conflict, its lookups
// (ngx_hash_find_combined), and the size checks of ngx_hash_init, since
// nginx refuses or warns about a config by them ("could not build map_hash").

/** ngx_tolower: ASCII only, as names are bytes (é and É stay apart). */
export const lowerAscii = (s: string): string => (/[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s);

export const enum AddRc { Ok, Declined, Busy }

interface Entry<V> {
  /** the value of the key that ends at this label */
  own?: V;
  /** "*.example.com": the name must have more labels than the key */
  dotOnly: boolean;
  next?: Level<V>;
}

type Level<V> = Map<string, Entry<V>>;

/** ngx_hash_keys_arrays_t and ngx_hash_combined_t in one. */
export class HostHash<V> {
  readonly exact = new Map<string, V>();
  /** wildcards by label, from the right for "*.x"/".x", from the left for "x.*" */
  private readonly head: Level<V> = new Map();
  private readonly tail: Level<V> = new Map();
  /** nginx's keys_hash: exact keys and the "x" of ".x" */
  private readonly exactSeen = new Set<string>();
  private readonly headSeen = new Set<string>();
  private readonly tailSeen = new Set<string>();

  /** ngx_hash_add_key; keys are lower-cased as nginx does in place. */
  add(key: string, value: V, wildcards: boolean): AddRc {
    if (wildcards) {
      let stars = 0;
      for (let i = 0; i < key.length; i++) {
        if (key[i] === '*' && ++stars > 1) return AddRc.Declined;
        if (key[i] === '.' && key[i + 1] === '.') return AddRc.Declined;
        if (key[i] === '\0') return AddRc.Declined;
      }
      const n = key.length;
      if (n > 1 && key[0] === '.') return this.addHead(lowerAscii(key.slice(1)), value, false);
      if (n > 2 && key[0] === '*' && key[1] === '.') return this.addHead(lowerAscii(key.slice(2)), value, true);
      if (n > 2 && key[n - 2] === '.' && key[n - 1] === '*') return this.addTail(lowerAscii(key.slice(0, -2)), value);
      if (stars) return AddRc.Declined;
    }
    const k = lowerAscii(key);
    if (this.exactSeen.has(k)) return AddRc.Busy;
    this.exactSeen.add(k);
    this.exact.set(k, value);
    return AddRc.Ok;
  }

  private addHead(rest: string, value: V, dotOnly: boolean): AddRc {
    if (!dotOnly) {
      // ".example.com" is also "example.com"
      if (this.exactSeen.has(rest)) return AddRc.Busy;
      this.exactSeen.add(rest);
    }
    if (this.headSeen.has(rest)) return AddRc.Busy;
    this.headSeen.add(rest);
    insert(this.head, rest.split('.').reverse(), value, dotOnly);
    return AddRc.Ok;
  }

  private addTail(rest: string, value: V): AddRc {
    if (this.tailSeen.has(rest)) return AddRc.Busy;
    this.tailSeen.add(rest);
    insert(this.tail, rest.split('.'), value, false);
    return AddRc.Ok;
  }

  /** ngx_hash_find_combined on a lower-cased name. */
  find(name: string): V | undefined {
    const v = this.exact.get(name);
    if (v !== undefined || name === '') return v;
    return findHead(this.head, name) ?? findTail(this.tail, name);
  }

  /** ngx_hash_init for the exact keys, then for each wildcard level. */
  check(sizes: HashSizes, warn: (reason: string) => void): void {
    if (this.exact.size) checkHash([...this.exact.keys()], sizes, warn);
    checkLevels(this.head, sizes, warn);
    checkLevels(this.tail, sizes, warn);
  }
}

function insert<V>(level: Level<V>, labels: string[], value: V, dotOnly: boolean): void {
  let entry: Entry<V> | undefined;
  for (let i = 0; i < labels.length; i++) {
    if (entry) level = entry.next ??= new Map();
    entry = level.get(labels[i]);
    if (!entry) level.set(labels[i], (entry = { dotOnly: false }));
  }
  entry!.own = value;
  entry!.dotOnly = dotOnly;
}

/** ngx_hash_find_wc_head: the longest matching suffix wins. */
function findHead<V>(level: Level<V>, name: string): V | undefined {
  const dot = name.lastIndexOf('.');
  const e = level.get(name.slice(dot + 1));
  if (!e) return undefined;
  if (dot < 0) return e.dotOnly ? undefined : e.own;
  return (e.next && findHead(e.next, name.slice(0, dot))) ?? e.own;
}

/** ngx_hash_find_wc_tail: the longest matching prefix wins. */
function findTail<V>(level: Level<V>, name: string): V | undefined {
  const dot = name.indexOf('.');
  if (dot < 0) return undefined;
  const e = level.get(name.slice(0, dot));
  if (!e) return undefined;
  return (e.next && findTail(e.next, name.slice(dot + 1))) ?? e.own;
}

export interface HashSizes {
  /** "map" → map_hash_max_size… */
  name: string;
  maxSize: number;
  bucketSize: number;
}

/** ngx_dns_strcmp: '.' sorts lowest, as the wildcard levels are built in this order. */
function dnsCmp(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let c1 = a.charCodeAt(i) | (a.charCodeAt(i) >= 65 && a.charCodeAt(i) <= 90 ? 0x20 : 0);
    let c2 = b.charCodeAt(i) | (b.charCodeAt(i) >= 65 && b.charCodeAt(i) <= 90 ? 0x20 : 0);
    if (c1 === c2) continue;
    c1 = c1 === 46 ? 32 : c1;
    c2 = c2 === 46 ? 32 : c2;
    return c1 - c2;
  }
  return a.length - b.length;
}

// ngx_hash_wildcard_init builds a level's hash after those below it
function checkLevels<V>(level: Level<V>, sizes: HashSizes, warn: (reason: string) => void): void {
  if (level.size === 0) return;
  const labels = [...level.keys()].sort(dnsCmp);
  for (const l of labels) {
    const next = level.get(l)!.next;
    if (next) checkLevels(next, sizes, warn);
  }
  checkHash(labels, sizes, warn);
}

const MASK64 = (1n << 64n) - 1n;

/** ngx_hash_key: key * 31 + c, in a 64-bit ngx_uint_t. */
function hashKey(s: string): bigint {
  let k = 0n;
  for (let i = 0; i < s.length; i++) k = (k * 31n + BigInt(s.charCodeAt(i))) & MASK64;
  return k;
}

/** NGX_HASH_ELT_SIZE on a 64-bit machine */
const eltSize = (len: number): number => 8 + ((len + 2 + 7) & ~7);

/**
 * ngx_hash_init's checks: a key that cannot fit a bucket is an error; no
 * table size up to max_size that fits every bucket is a warning.
 */
export function checkHash(keys: string[], sizes: HashSizes, warn: (reason: string) => void): void {
  const { name, maxSize, bucketSize } = sizes;
  if (maxSize === 0) throw new ConfError(`could not build ${name}_hash, you should increase ${name}_hash_max_size: 0`);
  if (bucketSize > 65536 - 64) throw new ConfError(`could not build ${name}_hash, too large ${name}_hash_bucket_size: ${bucketSize}`);
  for (const k of keys) {
    if (bucketSize < eltSize(k.length) + 8) {
      throw new ConfError(`could not build ${name}_hash, you should increase ${name}_hash_bucket_size: ${bucketSize}`);
    }
  }
  const bucket = bucketSize - 8;
  let start = Math.floor(keys.length / Math.floor(bucket / 16)) || 1;
  if (maxSize > 10000 && keys.length && Math.floor(maxSize / keys.length) < 100) start = maxSize - 1000;
  const hashes = keys.map(hashKey);
  const sizesOf = keys.map((k) => eltSize(k.length));
  for (let size = start; size <= maxSize; size++) {
    const test = new Uint32Array(size);
    const big = BigInt(size);
    let fits = true;
    for (let n = 0; n < keys.length && fits; n++) {
      const i = Number(hashes[n] % big);
      test[i] += sizesOf[n];
      fits = test[i] <= bucket;
    }
    if (fits) return;
  }
  warn(`could not build optimal ${name}_hash, you should increase either ${name}_hash_max_size: ${maxSize} `
    + `or ${name}_hash_bucket_size: ${bucketSize}; ignoring ${name}_hash_bucket_size`);
}
