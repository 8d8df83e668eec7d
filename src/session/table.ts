import { parseMsmConfig } from './config';
import { NodeManager, type ClientFactory } from './nodes';
import { nodeIdOf } from './session-id';

// A `key → value with TTL` table in memcached for other nodinx code (the
// proxy's `sticky learn` table kept in memcached): MSM's nodes, its 1 s
// availability cache with the ping probe, its TTL rules (0 = never, over
// 30 days = absolute) and its `bak:` copy on the next available node, so a
// table entry survives one memcached node as a session does.
//
// A key that is an MSM session id naming a configured node (`BASE-n1.jvm1`)
// lives on that node; any other key on a node picked by Java's
// String.hashCode, the next available one when that node is down.

export interface TableOptions {
  /** MSM's memcachedNodes: `n1:host:port n2:host:port` */
  memcachedNodes: string;
  /** ms, default 1000 */
  operationTimeout?: number;
  /** MSM's storageKeyPrefix tokens, e.g. `static:sticky` */
  storageKeyPrefix?: string;
  factory?: ClientFactory;
  log?: (msg: string) => void;
}

function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

export class MemcachedTable {
  readonly nodes: NodeManager;
  private readonly prefix: string;

  constructor(o: TableOptions) {
    const config = parseMsmConfig({ memcachedNodes: o.memcachedNodes, operationTimeout: o.operationTimeout, storageKeyPrefix: o.storageKeyPrefix, sticky: false });
    this.nodes = new NodeManager(config, o.factory, o.log);
    this.prefix = config.storagePrefix;
  }

  /** The node a key belongs to when every node is up. */
  homeNode(key: string): string {
    const ids = this.nodes.config.primaryNodeIds;
    if (ids.length === 0) return '';
    const named = nodeIdOf(key);
    if (named !== undefined && ids.includes(named)) return named;
    return ids[Math.abs(javaStringHash(key)) % ids.length];
  }

  /** The node that holds a key now: its home, or the next available after it. */
  private async primary(key: string): Promise<{ node: string | undefined; backup: string | undefined }> {
    const home = this.homeNode(key);
    if (home === '') return { node: '', backup: undefined };
    const node = (await this.nodes.isAvailable(home)) ? home : await this.nodes.nextAvailableNode(home);
    const backup = node !== undefined && this.nodes.backupEnabled ? await this.nodes.nextAvailableNode(node) : undefined;
    return { node, backup };
  }

  /**
   * The value, from the primary copy or else the `bak:` copy, which was
   * written to the node after the key's home while home was up; null when
   * neither exists or no node answers.
   */
  async get(key: string): Promise<Buffer | null> {
    const home = this.homeNode(key);
    const { node } = await this.primary(key);
    const afterHome = home !== '' && this.nodes.backupEnabled ? await this.nodes.nextAvailableNode(home) : undefined;
    for (const [n, k] of [[node, this.prefix + key], [afterHome, `bak:${this.prefix}${key}`]] as const) {
      if (n === undefined) continue;
      try {
        const v = await this.nodes.client(n).get(k);
        if (v !== null) return v;
      } catch (e) {
        this.nodes.mark(n, false, (e as Error).message);
      }
    }
    return null;
  }

  /** Writes the value and its backup copy; true when at least one copy was written. */
  async set(key: string, value: Buffer, ttlSeconds: number): Promise<boolean> {
    const { node, backup } = await this.primary(key);
    const writes = [[node, this.prefix + key], [backup, `bak:${this.prefix}${key}`]] as const;
    const results = await Promise.all(writes.map(async ([n, k]) => {
      if (n === undefined) return false;
      try {
        await this.nodes.client(n).set(k, value, ttlSeconds);
        return true;
      } catch (e) {
        this.nodes.mark(n, false, (e as Error).message);
        return false;
      }
    }));
    return results.some((r) => r);
  }

  async delete(key: string): Promise<void> {
    const { node, backup } = await this.primary(key);
    await Promise.allSettled([
      node !== undefined ? this.nodes.client(node).delete(this.prefix + key) : undefined,
      backup !== undefined ? this.nodes.client(backup).delete(`bak:${this.prefix}${key}`) : undefined,
    ]);
  }

  close(): void {
    this.nodes.close();
  }
}
