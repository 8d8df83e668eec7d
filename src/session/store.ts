import { Backups } from './backup';
import {
  decodeSessionData, decodeValidity, encodeSessionData, encodeValidity, isValidAt, javaHashCode, jsonTranscoder, type AttributesTranscoder, type Validity,
} from './codec';
import { parseMsmConfig, type MsmAttributes, type MsmConfig } from './config';
import { SessionError } from './errors';
import { Keys } from './session-id';
import { Locks } from './lock';
import { NodeManager, type ClientFactory } from './nodes';
import { MsmSession } from './session';
import { createSessionId, newBaseId } from './session-id';

// The memcached side of MSM's MemcachedSessionService: load, store, refresh,
// delete, with MSM's keys, TTLs and write order. Which request does what
// (sharing, laziness, cookies) is SessionManager's business.

export type Logger = (level: 'warn' | 'info', msg: string) => void;

export interface StoreOptions {
  factory?: ClientFactory;
  transcoder?: AttributesTranscoder;
  log?: Logger;
}

export type StoreResult = 'SUCCESS' | 'SKIPPED' | 'FAILURE';

const PING = Buffer.from([1]);

/** Sticky TTL slack: Tomcat's processExpiresFrequency 6 × backgroundProcessorDelay 10 s. */
export const STICKY_EXPIRATION_SLACK = 60;

export class SessionStore {
  readonly config: MsmConfig;
  readonly nodes: NodeManager;
  readonly keys: Keys;
  readonly locks: Locks;
  readonly backups: Backups;
  readonly transcoder: AttributesTranscoder;
  readonly log: Logger;
  /** background work (pings, backups, async writes): flush() waits for it */
  private readonly background = new Set<Promise<unknown>>();
  private readonly missing = new Map<string, number>();

  constructor(attrs: MsmAttributes | MsmConfig, o: StoreOptions = {}) {
    this.config = 'primaryNodeIds' in attrs ? attrs : parseMsmConfig(attrs);
    this.log = o.log ?? ((level, msg) => process.stderr.write(`[${level}] session: ${msg}\n`));
    this.nodes = new NodeManager(this.config, o.factory, (m) => this.log('warn', m));
    this.keys = new Keys(this.config);
    this.locks = new Locks(this.config, this.nodes, this.log);
    this.transcoder = o.transcoder ?? jsonTranscoder;
    this.backups = new Backups(this.nodes, this.keys, this.transcoder, this.config.sessionAttributeFilter, this.log);
  }

  /** `METHOD URI[?query]`, the query left out for POST: what patterns match. */
  static requestId(method: string, uri: string, query?: string): string {
    return method === 'POST' || !query ? `${method} ${uri}` : `${method} ${uri}?${query}`;
  }

  isIgnored(requestId: string): boolean {
    return this.config.requestUriIgnorePattern?.test(requestId) ?? false;
  }

  /** A new session: its id names a random available node, or none if all are down. */
  async create(jvmRoute?: string, now = Date.now()): Promise<MsmSession> {
    const node = await this.nodes.chooseNewNode();
    const id = createSessionId(newBaseId(jvmRoute), node || undefined);
    if (node === undefined) this.log('warn', `no memcached node available: session "${id}" is not stored until one is`);
    return MsmSession.create(id, this.config.maxInactiveInterval, now, this.config.sessionAttributeFilter);
  }

  /** MSM's negative cache: missing ids are not asked for again for 500 ms. */
  private knownMissing(id: string): boolean {
    const at = this.missing.get(id);
    if (at === undefined) return false;
    if (Date.now() - at < 500) return true;
    this.missing.delete(id);
    return false;
  }

  noteMissing(id: string): void {
    this.missing.set(id, Date.now());
    if (this.missing.size > 2000) this.missing.delete(this.missing.keys().next().value as string);
  }

  /**
   * Reads `P+ID` and (non-sticky) its validity key. undefined for a miss,
   * an expired session (whose keys are then deleted) or bytes that are not
   * MSM's (deleted when the attributes cannot be read). Errors propagate.
   */
  async load(id: string, nodeId: string, now = Date.now()): Promise<MsmSession | undefined> {
    if (this.knownMissing(id)) return undefined;
    const c = this.nodes.client(nodeId);
    const bytes = await c.get(this.keys.data(id));
    this.nodes.mark(nodeId, true);
    const decoded = bytes && decodeSessionData(bytes);
    if (!decoded) {
      if (bytes && bytes.length > 1) this.log('warn', `session "${id}": the value under "${this.keys.data(id)}" is not MSM's format, ignored`);
      this.noteMissing(id);
      return undefined;
    }
    let session: MsmSession;
    try {
      session = new MsmSession(decoded.fields, this.transcoder.deserialize(decoded.attributes), this.config.sessionAttributeFilter);
    } catch (e) {
      this.log('warn', `session "${id}": ${(e as Error).message}; its data key is deleted`);
      await c.delete(this.keys.data(id)).catch(() => undefined);
      this.noteMissing(id);
      return undefined;
    }
    session.id = id;
    session.dataHash = javaHashCode(decoded.attributes);
    if (!this.config.sticky) {
      const vb = await c.get(this.keys.validity(id));
      const v = vb && decodeValidity(vb);
      if (v) {
        session.fields.lastAccessedTime = v.lastAccessedTime;
        session.fields.thisAccessedTime = v.thisAccessedTime;
      } else {
        this.log('warn', `session "${id}" has no validity information, its header times are used`);
      }
    }
    if (!isValidAt(this.validityOf(session), now)) {
      this.log('info', `session "${id}" expired, its keys are deleted`);
      await this.delete(id, nodeId);
      return undefined;
    }
    return session;
  }

  validityOf(s: MsmSession): Validity {
    return { maxInactiveInterval: s.fields.maxInactiveInterval, lastAccessedTime: s.fields.lastAccessedTime, thisAccessedTime: s.fields.thisAccessedTime };
  }

  private ttl(mii: number, factor: number): number {
    return mii <= 0 ? 0 : factor * mii;
  }

  /** Sync mode waits up to sessionBackupTimeout for a write; async mode waits for it in the background. */
  private async bounded<T>(p: Promise<T>, what: string): Promise<T> {
    if (this.config.sessionBackupAsync) return p;
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SessionError('MEMCACHED_TIMEOUT', `${what} took over sessionBackupTimeout ${this.config.sessionBackupTimeout} ms`)), this.config.sessionBackupTimeout);
    });
    try {
      return await Promise.race([p, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * End of a request that loaded or created the session (§5.3 steps 2–6,
   * §7 for sticky): write the data only if needed, release the lock, write
   * validity, then pings and backups in the background.
   */
  async store(s: MsmSession, nodeId: string, o: { lockHeld: boolean; requestId?: string; now?: number }): Promise<StoreResult> {
    const now = o.now ?? Date.now();
    const mii = s.fields.maxInactiveInterval;
    const force = s.idChanged || s.forceWrite || mii <= 0 || now - s.fields.lastBackupTime >= mii * 1000;
    let result: StoreResult = 'SKIPPED';
    let data: Buffer | undefined;
    const c = this.nodes.client(nodeId);
    if (force || s.attributesAccessed || s.authChanged || s.isNew) {
      const attrs = this.transcoder.serialize(s.persisted());
      const hash = javaHashCode(attrs);
      if (hash !== s.dataHash || force || s.authChanged) {
        const backupTime = s.fields.lastBackupTime;
        s.fields.lastBackupTime = now;
        data = encodeSessionData(s.fields, attrs);
        const ttl = this.config.sticky ? this.stickyTtl(s, now) : this.ttl(mii, 2);
        try {
          await this.bounded(c.set(this.keys.data(s.id), data, ttl), `storing session "${s.id}"`);
          s.dataHash = hash;
          s.forceWrite = false;
          s.memcachedExpiresAt = ttl === 0 ? 0 : now + ttl * 1000;
          result = 'SUCCESS';
        } catch (e) {
          s.fields.lastBackupTime = backupTime;
          result = 'FAILURE';
          this.nodes.mark(nodeId, false, (e as Error).message);
          this.log('warn', `storing session "${s.id}" on node "${nodeId}" failed: ${(e as Error).message}`);
        }
      }
    }
    if (o.lockHeld) await this.locks.release(s.id, nodeId);
    if (o.requestId !== undefined) this.locks.record(o.requestId, result !== 'SKIPPED');
    if (this.config.sticky) return result;
    const validity = this.validityOf(s);
    try {
      await this.bounded(c.set(this.keys.validity(s.id), encodeValidity(validity), this.ttl(mii, 1)), `storing validity of "${s.id}"`);
    } catch (e) {
      this.log('warn', `storing validity of session "${s.id}" failed: ${(e as Error).message}`);
    }
    const skipped = result === 'SKIPPED' && !force;
    const full = (): Buffer => data ?? encodeSessionData(s.fields, this.transcoder.serialize(s.persisted()));
    this.inBackground(async () => {
      if (skipped && (await c.add(this.keys.data(s.id), PING, 5))) {
        this.log('info', `session "${s.id}" was missing from memcached, written again`);
        await c.set(this.keys.data(s.id), full(), this.ttl(mii, 2));
      }
      if (result !== 'FAILURE') await this.backups.write(nodeId, s.id, full, skipped, validity);
    });
    return result;
  }

  /** MII − idle seconds + 60 (Tomcat's expiry slack); MII ≤ 0 never expires. */
  stickyTtl(s: MsmSession, now: number): number {
    const mii = s.fields.maxInactiveInterval;
    if (mii <= 0) return 0;
    const idle = Math.floor((now - s.fields.thisAccessedTime) / 1000);
    return Math.max(1, mii - idle + STICKY_EXPIRATION_SLACK);
  }

  /**
   * A request carrying the cookie that never touched its session still
   * extends it: rewrite the validity key if it exists (§5.3 step 1).
   */
  async refreshValidity(id: string, nodeId: string, now = Date.now()): Promise<boolean> {
    const c = this.nodes.client(nodeId);
    const vb = await c.get(this.keys.validity(id));
    const v = vb && decodeValidity(vb);
    if (!v) return false;
    const fresh = { maxInactiveInterval: v.maxInactiveInterval, lastAccessedTime: now, thisAccessedTime: now };
    await c.set(this.keys.validity(id), encodeValidity(fresh), this.ttl(v.maxInactiveInterval, 1));
    this.inBackground(async () => {
      await c.add(this.keys.data(id), PING, 1);
      await this.backups.refresh(nodeId, id, fresh);
    });
    return true;
  }

  /** Invalidation or expiry: every key of the session, on its node and its backup node. */
  async delete(id: string, nodeId: string): Promise<void> {
    const c = this.nodes.client(nodeId);
    const keys = this.config.sticky ? [this.keys.data(id)] : [this.keys.data(id), this.keys.validity(id)];
    await Promise.allSettled(keys.map((k) => c.delete(k)));
    if (!this.config.sticky) await this.backups.delete(nodeId, id).catch(() => undefined);
    this.noteMissing(id);
  }

  private inBackground(f: () => Promise<void>): void {
    const p: Promise<void> = f().catch((e: unknown) => {
      this.log('warn', `background session write failed: ${(e as Error).message}`);
    }).finally(() => this.background.delete(p));
    this.background.add(p);
  }

  /** Waits for every background write started so far (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  async close(): Promise<void> {
    await this.flush();
    this.nodes.close();
  }
}

