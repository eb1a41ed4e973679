// An ordered map with bigint keys (a treap): get/set/delete/floor/ceiling in O(log n) expected.
// Priorities come from a fixed-seed generator, so the shape (and timing) is reproducible.

interface Node<V> {
  key: bigint;
  val: V;
  pri: number;
  left: Node<V> | undefined;
  right: Node<V> | undefined;
}

let seed = 0x2545f491;
function nextPriority(): number {
  // xorshift32
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

export class OrderedMap<V> {
  private root: Node<V> | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: bigint): V | undefined {
    let n = this.root;
    while (n) {
      if (key === n.key) return n.val;
      n = key < n.key ? n.left : n.right;
    }
    return undefined;
  }

  has(key: bigint): boolean {
    return this.get(key) !== undefined;
  }

  set(key: bigint, val: V): void {
    let n = this.root;
    while (n) {
      if (key === n.key) {
        n.val = val;
        return;
      }
      n = key < n.key ? n.left : n.right;
    }
    const [l, r] = split(this.root, key);
    this.root = merge(merge(l, { key, val, pri: nextPriority(), left: undefined, right: undefined }), r);
    this.count++;
  }

  delete(key: bigint): boolean {
    if (!this.has(key)) return false;
    const [l, rest] = split(this.root, key);
    const [, r] = split(rest, key + 1n);
    this.root = merge(l, r);
    this.count--;
    return true;
  }

  /** The entry with the greatest key ≤ key. */
  floor(key: bigint): [bigint, V] | undefined {
    let n = this.root;
    let best: Node<V> | undefined;
    while (n) {
      if (n.key === key) return [n.key, n.val];
      if (n.key < key) {
        best = n;
        n = n.right;
      } else n = n.left;
    }
    return best ? [best.key, best.val] : undefined;
  }

  /** The entry with the least key ≥ key. */
  ceiling(key: bigint): [bigint, V] | undefined {
    let n = this.root;
    let best: Node<V> | undefined;
    while (n) {
      if (n.key === key) return [n.key, n.val];
      if (n.key > key) {
        best = n;
        n = n.left;
      } else n = n.right;
    }
    return best ? [best.key, best.val] : undefined;
  }

  first(): [bigint, V] | undefined {
    let n = this.root;
    if (!n) return undefined;
    while (n.left) n = n.left;
    return [n.key, n.val];
  }

  /** Entries in key order, starting at the first key ≥ from. */
  *entries(from?: bigint): Generator<[bigint, V]> {
    const stack: Node<V>[] = [];
    let n = this.root;
    while (n || stack.length) {
      while (n) {
        if (from !== undefined && n.key < from) {
          n = n.right;
          continue;
        }
        stack.push(n);
        n = n.left;
      }
      const top = stack.pop();
      if (!top) break;
      yield [top.key, top.val];
      n = top.right;
    }
  }
}

/** Splits into (keys < key, keys ≥ key). */
function split<V>(t: Node<V> | undefined, key: bigint): [Node<V> | undefined, Node<V> | undefined] {
  if (!t) return [undefined, undefined];
  if (t.key < key) {
    const [l, r] = split(t.right, key);
    t.right = l;
    return [t, r];
  }
  const [l, r] = split(t.left, key);
  t.left = r;
  return [l, t];
}

function merge<V>(a: Node<V> | undefined, b: Node<V> | undefined): Node<V> | undefined {
  if (!a) return b;
  if (!b) return a;
  if (a.pri > b.pri) {
    a.right = merge(a.right, b);
    return a;
  }
  b.left = merge(a, b.left);
  return b;
}
