import { isValidAt } from './codec';
import { SessionError } from './errors';
import { MsmSession } from './session';
import { changeJvmRoute, changeNodeId, checkSessionId, jvmRouteOf, nodeIdOf } from './session-id';
import { SessionStore, type StoreOptions } from './store';
import type { MsmAttributes, MsmConfig } from './config';

// Which request does what to which session: MSM's valve and manager for an
// application server. Non-sticky, a session lives here only while requests
// use it, shared by parallel requests; the last one to finish stores it and
// releases its lock (§4). Sticky, sessions live here and memcached is their
// backup (§7).

export interface ManagerOptions extends StoreOptions {
  /** Tomcat's jvmRoute, appended to new ids as `.ROUTE` */
  jvmRoute?: string;
}

/** Tomcat's backgroundProcessorDelay, ms */
const BACKGROUND_DELAY = 10000;

interface InUse {
  key: string;
  loading: Promise<MsmSession | undefined>;
  session?: MsmSession;
  refs: number;
  lockHeld: boolean;
  nodeId?: string;
}

export class SessionManager {
  readonly store: SessionStore;
  readonly jvmRoute: string | undefined;
  private readonly inUse = new Map<string, InUse>();
  private readonly local = new Map<string, MsmSession>();
  private readonly storing = new Map<string, Promise<unknown>>();
  private readonly sweeper: NodeJS.Timeout | undefined;

  constructor(attrs: MsmAttributes | MsmConfig, o: ManagerOptions = {}) {
    this.store = new SessionStore(attrs, o);
    this.jvmRoute = o.jvmRoute;
    // Tomcat appends the jvmRoute to new ids in either mode; only sticky MSM acts on it
    if (!this.store.config.sticky && o.jvmRoute) this.store.log('warn', `jvmRoute "${o.jvmRoute}": sessions are not taken over by route in non-sticky mode`);
    if (this.store.config.sticky) {
      this.sweeper = setInterval(() => this.expireLocal(), BACKGROUND_DELAY);
      this.sweeper.unref();
    }
  }

  get sticky(): boolean {
    return this.store.config.sticky;
  }

  /** Starts a request: `requestedId` is the JSESSIONID it carries, if any. */
  async begin(method: string, uri: string, query: string | undefined, requestedId: string | undefined): Promise<SessionRequest> {
    const requestId = SessionStore.requestId(method, uri, query);
    let id = requestedId;
    if (id !== undefined) {
      try {
        checkSessionId(id);
      } catch (e) {
        this.store.log('warn', `${(e as SessionError).message}: treated as no session`);
        id = undefined;
      }
    }
    const r = new SessionRequest(this, requestId, this.store.isIgnored(requestId), id);
    // a dead node is failed over before the application runs (§5.1)
    if (id !== undefined && !r.ignored && !this.sticky) {
      const node = this.nodeOf(id);
      if (node && !(await this.store.nodes.isAvailable(node))) await r.getSession(false);
    }
    return r;
  }

  /** The configured node an id names; logs ids that name none. */
  nodeOf(id: string): string | undefined {
    const n = this.store.nodes.nodeForSession(id);
    if (n === undefined && this.store.config.encodeNodeIdInSessionId) {
      const named = nodeIdOf(id);
      if (named !== undefined) this.store.log('warn', `session id "${id}" names memcached node "${named}", which is not in memcachedNodes`);
    }
    return n;
  }

  /** @internal the session a request asks for, shared with parallel requests */
  async acquire(r: SessionRequest, id: string): Promise<InUse | undefined> {
    if (this.sticky) return this.acquireSticky(id);
    let u = this.inUse.get(id);
    if (u) {
      u.refs++;
      await u.loading;
      return u;
    }
    const nodeId = this.nodeOf(id);
    if (nodeId === undefined) return undefined;
    const entry: InUse = { key: id, refs: 1, lockHeld: false, nodeId, loading: Promise.resolve(undefined) };
    this.inUse.set(id, entry);
    entry.loading = this.loadShared(r, id, nodeId, entry);
    u = entry;
    await u.loading;
    return u;
  }

  private async loadShared(r: SessionRequest, id: string, nodeId: string, u: InUse): Promise<MsmSession | undefined> {
    await this.storing.get(id);
    const now = Date.now();
    const store = this.store;
    let s: MsmSession | undefined;
    try {
      if (!(await store.nodes.isAvailable(nodeId))) {
        s = await store.backups.failover(id, nodeId, now);
        if (s) u.nodeId = this.store.nodes.nodeForSession(s.id);
      } else {
        if (store.locks.wanted(r.requestId)) u.lockHeld = await store.locks.acquire(id, nodeId);
        s = await store.load(id, nodeId, now);
      }
    } catch (e) {
      store.log('warn', `session "${id}" could not be loaded: ${(e as Error).message}`);
      if (e instanceof SessionError && (e.code === 'MEMCACHED_UNAVAILABLE' || e.code === 'MEMCACHED_TIMEOUT')) {
        // the node died since its last probe: what failover at request start would have done
        store.nodes.mark(nodeId, false, e.message);
        if (u.lockHeld) u.lockHeld = false;
        s = await store.backups.failover(id, nodeId, now).catch(() => undefined);
        if (s) u.nodeId = store.nodes.nodeForSession(s.id);
      }
    }
    if (!s && u.lockHeld) {
      await store.locks.release(id, nodeId);
      u.lockHeld = false;
    }
    s?.access(now);
    u.session = s;
    return s;
  }

  private async acquireSticky(id: string): Promise<InUse | undefined> {
    const now = Date.now();
    let s = this.local.get(id);
    if (s && !isValidAt(this.store.validityOf(s), now)) {
      await this.expire(s);
      s = undefined;
    }
    const store = this.store;
    if (!s) {
      const nodeId = this.nodeOf(id);
      if (nodeId === undefined || !(await store.nodes.isAvailable(nodeId))) return undefined;
      try {
        s = await store.load(id, nodeId, now);
      } catch (e) {
        store.log('warn', `session "${id}" could not be loaded: ${(e as Error).message}`);
        return undefined;
      }
      if (!s) return undefined;
      if (this.jvmRoute && jvmRouteOf(id) !== this.jvmRoute) {
        // Tomcat failover: take the session over under our jvmRoute (§9.2)
        let newId = changeJvmRoute(id, this.jvmRoute);
        if (store.config.failoverNodeIds.includes(nodeId)) {
          const n = await store.nodes.chooseNewNode();
          if (n) newId = changeNodeId(newId, n);
        }
        await store.delete(id, nodeId).catch(() => undefined);
        s.id = newId;
        s.idChanged = true;
        store.log('info', `session "${id}" taken over as "${newId}"`);
      }
      this.local.set(s.id, s);
    }
    const nodeId = store.nodes.nodeForSession(s.id);
    if (nodeId !== undefined && !(await store.nodes.isAvailable(nodeId))) {
      // sticky memcached failover: the session is in memory, move its id (§9.1)
      const n = await store.nodes.chooseNewNode(nodeId);
      if (n !== undefined) {
        this.local.delete(s.id);
        s.id = changeNodeId(s.id, n);
        s.idChanged = true;
        this.local.set(s.id, s);
      }
    }
    s.access(now);
    return { key: s.id, refs: 1, lockHeld: false, session: s, loading: Promise.resolve(s) };
  }

  /** @internal a session made by this request */
  async created(): Promise<InUse> {
    const s = await this.store.create(this.jvmRoute);
    if (this.sticky) this.local.set(s.id, s);
    const u: InUse = { key: s.id, refs: 1, lockHeld: false, session: s, loading: Promise.resolve(s) };
    if (!this.sticky) this.inUse.set(s.id, u);
    return u;
  }

  /** @internal the end of one request using u; the last one stores */
  async release(u: InUse, requestId: string): Promise<void> {
    if (--u.refs > 0) return;
    if (this.inUse.get(u.key) === u) this.inUse.delete(u.key);
    const s = u.session;
    if (!s) return;
    const store = this.store;
    if (s.invalidated) {
      if (u.lockHeld && u.nodeId) await store.locks.release(u.key, u.nodeId);
      return;
    }
    let nodeId = store.nodes.nodeForSession(s.id);
    if (nodeId === undefined && store.config.encodeNodeIdInSessionId && nodeIdOf(s.id) === undefined) {
      // made while every node was down: it gets a node once one is up (§2)
      const n = await store.nodes.chooseNewNode();
      if (n === undefined) return;
      if (this.sticky) this.local.delete(s.id);
      s.id = changeNodeId(s.id, n);
      s.idChanged = true;
      if (this.sticky) this.local.set(s.id, s);
      nodeId = n;
    }
    if (nodeId === undefined) return;
    const writing = store.store(s, nodeId, { lockHeld: u.lockHeld, requestId: this.sticky ? undefined : requestId }).then(() => {
      s.idChanged = false;
      s.attributesAccessed = false;
      s.authChanged = false;
      s.fields.isNew = false;
    });
    const key = s.id;
    this.storing.set(key, writing);
    const done = writing.finally(() => {
      if (this.storing.get(key) === writing) this.storing.delete(key);
    });
    if (!store.config.sessionBackupAsync) await done;
  }

  /** @internal every key of the session, and its lock */
  async invalidate(u: InUse): Promise<void> {
    const s = u.session;
    if (!s) return;
    s.invalidated = true;
    this.local.delete(s.id);
    const nodeId = this.store.nodes.nodeForSession(s.id);
    if (nodeId !== undefined) await this.store.delete(s.id, nodeId);
  }

  private async expire(s: MsmSession): Promise<void> {
    this.local.delete(s.id);
    const nodeId = this.store.nodes.nodeForSession(s.id);
    if (nodeId !== undefined) await this.store.delete(s.id, nodeId).catch(() => undefined);
  }

  /**
   * Tomcat's background process (every backgroundProcessorDelay, 10 s):
   * expire idle sessions, and rewrite those accessed since their last write
   * whose memcached copy has less than 2 × 10 s left, so sessions that are
   * only read stay in memcached (§7).
   */
  private expireLocal(now = Date.now()): void {
    for (const s of this.local.values()) {
      if (!isValidAt(this.store.validityOf(s), now)) {
        void this.expire(s);
        continue;
      }
      const nodeId = this.store.nodes.nodeForSession(s.id);
      if (nodeId === undefined || s.memcachedExpiresAt === 0) continue;
      if (s.fields.thisAccessedTime > s.fields.lastBackupTime && s.memcachedExpiresAt - now < 2 * BACKGROUND_DELAY) {
        s.forceWrite = true;
        const w = this.store.store(s, nodeId, { lockHeld: false }).catch(() => undefined);
        this.storing.set(s.id, w);
        void w.finally(() => {
          if (this.storing.get(s.id) === w) this.storing.delete(s.id);
        });
      }
    }
  }

  /** @internal for tests: one run of the background process */
  runBackgroundProcess(now?: number): void {
    this.expireLocal(now);
  }

  /** Waits for every store started so far and its background writes (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.storing.values()]);
    await this.store.flush();
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.allSettled([...this.storing.values()]);
    await this.store.close();
  }
}

/** One request's view of its session: lazy, created on demand, stored at the end. */
export class SessionRequest {
  private u: InUse | undefined;
  private tried = false;
  private ended = false;

  constructor(
    private readonly manager: SessionManager,
    readonly requestId: string,
    readonly ignored: boolean,
    readonly requestedId: string | undefined,
  ) {}

  /** The session, loaded on first use; create makes one when there is none. Ignored requests never touch memcached. */
  async getSession(create = true): Promise<MsmSession | undefined> {
    if (this.u?.session && !this.u.session.invalidated) return this.u.session;
    if (this.ignored) return undefined;
    if (!this.tried && this.requestedId !== undefined) {
      this.tried = true;
      const u = await this.manager.acquire(this, this.requestedId);
      if (u?.session) this.u = u;
      else if (u) await this.manager.release(u, this.requestId);
      if (this.u) return this.u.session;
    }
    if (!create) return undefined;
    this.u = await this.manager.created();
    return this.u.session;
  }

  async invalidate(): Promise<void> {
    if (this.u) await this.manager.invalidate(this.u);
  }

  /**
   * The end of the request: stores the session (waiting only in sync mode)
   * or refreshes its validity. Returns the id the client must be sent in a
   * cookie when it is new or renamed.
   */
  async end(): Promise<{ setCookie?: string }> {
    if (this.ended) return {};
    this.ended = true;
    const m = this.manager;
    if (this.ignored) return {};
    const u = this.u;
    if (!u) {
      if (this.requestedId !== undefined && !m.sticky && !this.tried) await this.refresh(this.requestedId);
      return {};
    }
    const s = u.session!;
    await m.release(u, this.requestId);
    if (s.invalidated) return {};
    return s.id !== this.requestedId ? { setCookie: s.id } : {};
  }

  private async refresh(id: string): Promise<void> {
    const store = this.manager.store;
    const nodeId = store.nodes.nodeForSession(id);
    if (nodeId === undefined || !(await store.nodes.isAvailable(nodeId))) return;
    const p = store.refreshValidity(id, nodeId).catch((e: unknown) => {
      store.log('warn', `validity of session "${id}" not refreshed: ${(e as Error).message}`);
      return false;
    });
    if (!store.config.sessionBackupAsync) await p;
  }
}
