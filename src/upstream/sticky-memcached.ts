import { createHash } from 'node:crypto';
import * as memjs from 'memjs';
import { logError } from '../http/http-context';
import type { HttpRequest } from '../http/request';
import type { MemcachedNode } from './sticky-conf';
import type { LearnStore } from './sticky-learn';

// `sticky learn ... memcached=n1:host:port,...`: the session → server table
// in memcached, so every nodinx that shares the nodes (and a restarted one)
// sends a session to the same server. Conventions are MSM's (the session
// engineer's spec, msm.md §2-3), so the keys can live beside MSM's:
//  - key `sticky:UPSTREAM:SESSION`: MSM's own keys are `P+ID`, `validity:`,
//    `bak:`, `lock:` and `ping-`, and an MSM id never holds ':';
//  - the node is the MSM node id inside the session id (`BASE-n1.jvm1`) when
//    it is one of ours, so the binding lives and dies with its session; else
//    a hash of the key; a node that is down passes to the next in order;
//  - TTL = the learn timeout, sent as an absolute time past 30 days;
//  - a node that fails is down for 1 s (MSM's nodeAvailabilityCacheTTL).
// Memcached failing never fails a request: a lookup that errs is a miss
// (the balancer picks), and the failure is logged once until the node
// answers again.

const DOWN_MS = 1000;
const THIRTY_DAYS = 2592000;
/** memcached's key limit is 250 bytes, without spaces or control characters */
const SAFE_KEY = /^[\x21-\x7e]{1,200}$/;

interface Node {
  readonly conf: MemcachedNode;
  client?: memjs.Client;
  downUntil: number;
  /** logged as failed, not yet logged as back */
  failing: boolean;
}

export interface MemcachedLearnOptions {
  /** ms for one operation (memjs's timeout); a lookup never waits longer */
  operationTimeout?: number;
}

const quiet = { log: () => undefined };

export class MemcachedLearnStore implements LearnStore {
  private readonly nodes: Node[];
  private readonly opTimeout: number;

  constructor(
    readonly upstream: string,
    nodes: MemcachedNode[],
    /** ms, the learn timeout */
    readonly timeout: number,
    opts: MemcachedLearnOptions = {},
  ) {
    this.nodes = nodes.map((conf) => ({ conf, downUntil: 0, failing: false }));
    this.opTimeout = opts.operationTimeout ?? 500;
  }

  key(session: string): string {
    const k = `sticky:${this.upstream}:${session}`;
    if (SAFE_KEY.test(k)) return k;
    return `sticky:${this.upstream}:#${createHash('md5').update(session, 'latin1').digest('hex')}`;
  }

  /** ms → memcached's exptime: seconds, or the absolute time past 30 days (MSM's rule, #228) */
  ttl(now = Date.now()): number {
    const sec = Math.ceil(this.timeout / 1000);
    return sec > THIRTY_DAYS ? Math.floor(now / 1000) + sec : sec;
  }

  /** MSM's parsing: the node id is after the first '-', up to the first '.' (none if a '.' comes first) */
  private home(session: string, key: string): number {
    const dash = session.indexOf('-');
    const dot = session.indexOf('.');
    if (dash >= 0 && (dot < 0 || dash < dot)) {
      const id = session.slice(dash + 1, dot < 0 ? undefined : dot);
      const i = this.nodes.findIndex((n) => n.conf.id === id);
      if (i >= 0) return i;
    }
    return createHash('md5').update(key, 'latin1').digest().readUInt32BE(0) % this.nodes.length;
  }

  private pick(session: string, key: string, now: number): Node | undefined {
    const first = this.home(session, key);
    for (let i = 0; i < this.nodes.length; i++) {
      const node = this.nodes[(first + i) % this.nodes.length];
      if (node.downUntil <= now) return node;
    }
    return undefined;
  }

  private client(node: Node): memjs.Client {
    if (!node.client) {
      const host = node.conf.host.includes(':') ? `[${node.conf.host}]` : node.conf.host;
      const timeout = this.opTimeout / 1000;
      node.client = memjs.Client.create(`${host}:${node.conf.port}`, {
        retries: 1,
        timeout,
        conntimeout: timeout,
        keepAlive: true,
        logger: quiet,
      });
    }
    return node.client;
  }

  private failed(node: Node, r: HttpRequest, e: unknown): void {
    node.downUntil = Date.now() + DOWN_MS;
    if (node.failing) return;
    node.failing = true;
    const { id, host, port } = node.conf;
    const why = (e as Error)?.message ?? String(e);
    logError(r, 'error', `sticky learn memcached node "${id}" (${host}:${port}) failed (${why}), upstream "${this.upstream}" balances without it`);
  }

  private answered(node: Node, r: HttpRequest): void {
    if (!node.failing) return;
    node.failing = false;
    const { id, host, port } = node.conf;
    logError(r, 'notice', `sticky learn memcached node "${id}" (${host}:${port}) answers again`);
  }

  async get(session: string, r: HttpRequest): Promise<string | undefined | null> {
    const key = this.key(session);
    const node = this.pick(session, key, Date.now());
    if (!node) return null;
    try {
      const client = this.client(node);
      const { value } = await client.get(key);
      this.answered(node, r);
      if (!value) return undefined;
      // a lookup is an access: the session's timeout starts again
      client.touch(key, this.ttl()).catch(() => undefined);
      return value.toString('latin1');
    } catch (e) {
      this.failed(node, r, e);
      return null;
    }
  }

  set(session: string, route: string, r: HttpRequest): void {
    const key = this.key(session);
    const node = this.pick(session, key, Date.now());
    if (!node) return;
    this.client(node).set(key, Buffer.from(route, 'latin1'), { expires: this.ttl() }).then(
      () => this.answered(node, r),
      (e: unknown) => this.failed(node, r, e),
    );
  }

  close(): void {
    for (const n of this.nodes) n.client?.close();
  }
}
