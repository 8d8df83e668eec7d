// ngx_radix_tree.c: the binary trie geo keeps networks in, one bit a level.
// Kept node for node as nginx builds it, because what `delete` finds (and so
// whether nginx warns "no network ... to delete") and which value a
// duplicate network replaced both depend on the shape, preallocated top
// levels included.

interface Node<V> {
  left?: Node<V>;
  right?: Node<V>;
  parent?: Node<V>;
  value?: V;
}

/** The bit of a key at a depth, most significant first. */
const bitAt = (key: Uint8Array, depth: number): number => (key[depth >> 3] >> (7 - (depth & 7))) & 1;

export class RadixTree<V> {
  private readonly root: Node<V> = {};

  /**
   * ngx_radix_tree_create(pool, -1): on amd64 (4096-byte pages of 32-byte
   * nodes) the first 6 levels exist from the start, without values.
   */
  constructor(readonly bits: 32 | 128) {
    const key = new Uint8Array(bits / 8);
    for (let depth = 1; depth <= 6; depth++) {
      for (let k = 0; k < 1 << depth; k++) {
        key[0] = k << (8 - depth);
        this.insert(key, depth, undefined);
      }
    }
  }

  /** ngx_radix32tree_insert: "busy" when the network already has a value. */
  insert(key: Uint8Array, prefix: number, value: V | undefined): 'ok' | 'busy' {
    let node = this.root;
    let depth = 0;
    for (; depth < prefix; depth++) {
      const next = bitAt(key, depth) ? node.right : node.left;
      if (!next) break;
      node = next;
    }
    if (depth === prefix) {
      if (node.value !== undefined) return 'busy';
      node.value = value;
      return 'ok';
    }
    for (; depth < prefix; depth++) {
      const next: Node<V> = { parent: node };
      if (bitAt(key, depth)) node.right = next;
      else node.left = next;
      node = next;
    }
    node.value = value;
    return 'ok';
  }

  /**
   * ngx_radix32tree_delete: the network's value goes; a leaf goes with the
   * ancestors left without value or children. A leaf with no value (one of
   * the preallocated ones) is "deleted" too, without complaint.
   */
  delete(key: Uint8Array, prefix: number): boolean {
    let node: Node<V> | undefined = this.root;
    for (let depth = 0; node && depth < prefix; depth++) node = bitAt(key, depth) ? node.right : node.left;
    // (a root left childless would crash nginx; nodinx keeps it)
    if (!node || !node.parent && !node.left && !node.right) return false;
    if (node.left || node.right) {
      if (node.value === undefined) return false;
      node.value = undefined;
      return true;
    }
    for (;;) {
      const parent: Node<V> = node.parent!;
      if (parent.right === node) parent.right = undefined;
      else parent.left = undefined;
      node = parent;
      if (node.right || node.left || node.value !== undefined || !node.parent) break;
    }
    return true;
  }

  /** ngx_radix32tree_find: the value of the longest network holding the key. */
  find(key: Uint8Array): V | undefined {
    let value: V | undefined;
    let node: Node<V> | undefined = this.root;
    for (let depth = 0; node; depth++) {
      if (node.value !== undefined) value = node.value;
      if (depth === this.bits) break;
      node = bitAt(key, depth) ? node.right : node.left;
    }
    return value;
  }
}
