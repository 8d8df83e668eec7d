import type { MsmConfig } from './config';
import { NoNodeError } from './errors';
import { MemjsClient, type MemcachedClient } from './memcached';
import { nodeIdOf } from './session-id';

// MSM's MemcachedNodesManager and NodeAvailabilityCache: which client serves
// a node id, whether a node is up (cached 1 s, probed with `get P+ping-ID`),
// where a new session goes and where a backup goes.

export type ClientFactory = (node: { id: string | undefined; host: string; port: number }, timeout: number) => MemcachedClient;

export const memjsFactory: ClientFactory = (n, timeout) => new MemjsClient(n.host, n.port, { timeout });

/** The single-node key MSM uses when no node ids are configured. */
export const NO_ID = '';

export class NodeManager {
  readonly clients = new Map<string, MemcachedClient>();
  private readonly availability = new Map<string, { up: boolean; at: number }>();
  private readonly probes = new Map<string, Promise<boolean>>();

  constructor(readonly config: MsmConfig, factory: ClientFactory = memjsFactory, private readonly log?: (msg: string) => void) {
    for (const n of config.nodes) this.clients.set(n.id ?? NO_ID, factory(n, config.operationTimeout));
  }

  get nodeIds(): string[] {
    return [...this.config.primaryNodeIds, ...this.config.failoverNodeIds];
  }

  /** Backups need two nodes with ids (MSM: not for a single id-less node). */
  get backupEnabled(): boolean {
    return this.config.encodeNodeIdInSessionId && this.config.nodes.length >= 2;
  }

  isKnown(nodeId: string): boolean {
    return this.clients.has(nodeId);
  }

  /** The client for a node id; throws NoNodeError for an id not configured. */
  client(nodeId: string | undefined): MemcachedClient {
    const c = this.clients.get(nodeId ?? NO_ID);
    if (!c) throw new NoNodeError(`no memcached node "${nodeId ?? ''}" in memcachedNodes`);
    return c;
  }

  /** The node a session id names (the node id of the bare id, not of the prefixed key). */
  nodeForSession(id: string): string | undefined {
    if (!this.config.encodeNodeIdInSessionId) return NO_ID;
    const n = nodeIdOf(id);
    return n !== undefined && this.isKnown(n) ? n : undefined;
  }

  async isAvailable(nodeId: string): Promise<boolean> {
    const a = this.availability.get(nodeId);
    if (a && Date.now() - a.at < this.config.nodeAvailabilityCacheTTL) return a.up;
    let p = this.probes.get(nodeId);
    if (!p) {
      p = this.probe(nodeId).finally(() => this.probes.delete(nodeId));
      this.probes.set(nodeId, p);
    }
    return p;
  }

  /** A hit or a miss means up; an error or a timeout means down. */
  private async probe(nodeId: string): Promise<boolean> {
    try {
      await this.client(nodeId).get(`${this.config.storagePrefix}ping-${nodeId}`);
      this.mark(nodeId, true);
      return true;
    } catch (e) {
      this.mark(nodeId, false, (e as Error).message);
      return false;
    }
  }

  /** A successful load marks a node up; a failed data write marks it down. */
  mark(nodeId: string, up: boolean, why?: string): void {
    const before = this.availability.get(nodeId)?.up;
    this.availability.set(nodeId, { up, at: Date.now() });
    if (before !== up && (before !== undefined || !up)) {
      this.log?.(up ? `memcached node "${nodeId}" is available again` : `memcached node "${nodeId}" marked unavailable${why ? `: ${why}` : ''}`);
    }
  }

  /** The node of a new session: a random available primary, then a random failover node; none if all are down. */
  async chooseNewNode(exclude?: string): Promise<string | undefined> {
    if (!this.config.encodeNodeIdInSessionId) return NO_ID;
    for (const group of [this.config.primaryNodeIds, this.config.failoverNodeIds]) {
      const candidates = shuffle(group.filter((id) => id !== exclude));
      for (const id of candidates) if (await this.isAvailable(id)) return id;
    }
    return undefined;
  }

  /**
   * Where `bak:` keys of a session on nodeId go: the next available node
   * after it in the primary order, wrapping round (MSM's getNextAvailableNodeId).
   */
  async nextAvailableNode(nodeId: string): Promise<string | undefined> {
    for (const id of this.nodesAfter(nodeId)) if (await this.isAvailable(id)) return id;
    return undefined;
  }

  /** The primaries after nodeId, wrapping round, nodeId itself left out. */
  nodesAfter(nodeId: string): string[] {
    const list = this.config.primaryNodeIds;
    const i = list.indexOf(nodeId);
    const out: string[] = [];
    for (let k = 1; k <= list.length; k++) {
      const id = list[((i < 0 ? -1 : i) + k) % list.length];
      if (id !== nodeId && !out.includes(id)) out.push(id);
    }
    return out;
  }

  async backupNode(nodeId: string): Promise<string> {
    const n = await this.nextAvailableNode(nodeId);
    if (n === undefined) throw new NoNodeError(`No node found for backup of a session on "${nodeId}"`);
    return n;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
