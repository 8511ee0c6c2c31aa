/**
 * In-memory index of the task tree: children per parent, sorted by order key on demand.
 * Built once when a project loads and kept current by whoever changes the tree, so finding a
 * task's siblings or subtree never scans the whole project.
 */
import * as Y from 'yjs';
import { ORDER_FIELD, PARENT_FIELD, isReservedKey, readField, recordKey, type FieldMap, type StoreMap } from './layout.js';
import { runPaced, runToEnd, type Pacer } from './pacer.js';

/** The parent key of top-level tasks; reserved (see isReservedKey), so no task can have it. */
export const ROOT = '\u0000root';

export function parentKeyOf(record: FieldMap): string {
  const parent = readField(record, PARENT_FIELD);
  return parent === null || parent === undefined ? ROOT : recordKey(parent as string | number);
}

export class TreeIndex {
  private readonly children = new Map<string, Set<string>>();
  private readonly sorted = new Map<string, string[]>();
  private readonly parentOf = new Map<string, string>();

  constructor(private readonly tasks: StoreMap, fill = true) {
    if (fill) runToEnd(this.indexAll());
  }

  /** How many tasks the index holds (kept current with the document). */
  get size(): number {
    return this.parentOf.size;
  }

  /** The same in paced steps: a 100k-task tree takes tens of milliseconds to index. */
  static async build(tasks: StoreMap, pacer: Pacer): Promise<TreeIndex> {
    const tree = new TreeIndex(tasks, false);
    await runPaced(tree.indexAll(), pacer);
    return tree;
  }

  /** Index every task, with a point to pause every 250. */
  private *indexAll(): Generator<void> {
    let n = 0;
    for (const [key, record] of this.tasks) {
      this.attach(key, parentKeyOf(record));
      // Stryker disable next-line ConditionalExpression,EqualityOperator,UpdateOperator: how often it may pause; the pacer decides when it does, and the index is the same
      if (++n % 250 === 0) yield;
    }
  }

  attach(key: string, parentKey: string): void {
    // A record under a reserved key (only a Yjs peer can write one) is no task: as the root's own
    // child it would make every walk from the root endless.
    if (isReservedKey(key)) return;
    const previous = this.parentOf.get(key);
    if (previous === parentKey) return this.touch(parentKey);
    this.detach(key);
    this.parentOf.set(key, parentKey);
    let set = this.children.get(parentKey);
    if (!set) this.children.set(parentKey, (set = new Set()));
    set.add(key);
    this.sorted.delete(parentKey);
  }

  detach(key: string): void {
    const parentKey = this.parentOf.get(key);
    // Stryker disable next-line ConditionalExpression: what follows does nothing for a key without a parent
    if (parentKey === undefined) return;
    this.parentOf.delete(key);
    // A parent on record has its set of children.
    const set = this.children.get(parentKey)!;
    set.delete(key);
    if (set.size === 0) this.children.delete(parentKey);
    this.sorted.delete(parentKey);
  }

  /** The order of a parent's children changed (an order key was written). */
  touch(parentKey: string): void {
    this.sorted.delete(parentKey);
  }

  parentKey(key: string): string | undefined {
    return this.parentOf.get(key);
  }

  /** Children of a parent in sibling order: by order key, ties broken by record key. */
  childrenOf(parentKey: string): readonly string[] {
    let list = this.sorted.get(parentKey);
    if (list) return list;
    const set = this.children.get(parentKey);
    if (!set) return [];
    const keyed = [...set].map((key) => [this.orderOf(key), key] as const);
    keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    list = keyed.map((k) => k[1]);
    this.sorted.set(parentKey, list);
    return list;
  }

  orderOf(key: string): string {
    const record = this.tasks.get(key);
    const value = record ? readField(record, ORDER_FIELD) : undefined;
    return typeof value === 'string' ? value : '';
  }

  hasChildren(key: string): boolean {
    return (this.children.get(key)?.size ?? 0) > 0;
  }

  /** The children of a parent in no particular order (cheaper than `childrenOf`). */
  childKeys(parentKey: string): Iterable<string> {
    return this.children.get(parentKey) ?? [];
  }

  /** Every key below `key`, depth first (not including `key`). */
  descendants(key: string): string[] {
    const out: string[] = [];
    // A cycle (before repair gets to it) must not make this loop forever.
    const seen = new Set<string>([key]);
    const stack = [key];
    while (stack.length) {
      const set = this.children.get(stack.pop()!);
      if (!set) continue;
      for (const child of set) {
        if (seen.has(child)) continue;
        seen.add(child);
        out.push(child);
        stack.push(child);
      }
    }
    return out;
  }

  /**
   * True when `ancestor` is `key` itself or lies on the path from `key` to the root. Walks up from
   * `key` and down through `ancestor`'s subtree in turns, so the answer costs the shorter of the
   * two: a change moving many small tasks under a deep one does not walk the whole depth each time.
   */
  isSelfOrAncestor(ancestor: string, key: string): boolean {
    // Stryker disable next-line ConditionalExpression: the first step up meets `ancestor` too (callers pass a task key)
    if (ancestor === key) return true;
    // The root is on every path, but not as a task.
    // Stryker disable next-line ConditionalExpression: callers pass a task key; the walks then end without meeting the root
    if (ancestor === ROOT) return false;
    const up = new Set<string>();
    const down = new Set<string>([ancestor]);
    let k: string | undefined = key;
    const stack: string[] = [ancestor];
    let below: Iterator<string> | null = null;
    for (;;) {
      // One step up.
      if (k === undefined || k === ROOT || up.has(k)) return false;
      if (k === ancestor) return true;
      up.add(k);
      k = this.parentOf.get(k);
      // One step down: the next task below `ancestor`.
      let child: IteratorResult<string> | null = null;
      while (stack.length > 0 || below !== null) {
        child = below?.next() ?? null;
        if (child && !child.done) break;
        child = null;
        below = stack.length > 0 ? (this.children.get(stack.pop()!)?.values() ?? null) : null;
      }
      // The subtree was walked whole without meeting `key`.
      if (child === null) return false;
      if (child.value === key) return true;
      if (!down.has(child.value)) {
        down.add(child.value);
        stack.push(child.value);
      }
    }
  }

  /** Parents that do not exist (their children are served at the top level, after the root's). */
  missingParents(): string[] {
    return [...this.children.keys()].filter((p) => p !== ROOT && !this.tasks.has(p));
  }
}
