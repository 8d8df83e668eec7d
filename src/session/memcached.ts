import * as memjs from 'memjs';
import { MemcachedError } from './errors';
import { memcachedExpiration, unwrapFlags } from './codec';

// One memcached node as the store sees it: the four commands MSM uses
// (get, set, add, delete; no touch, cas or multi-get). Implemented over
// memjs (one client per node, so memjs's own key hashing never routes) and
// by an in-memory double for tests; the contract suite runs on both.

export interface MemcachedClient {
  readonly name: string;
  /** null on a miss; rejects with MemcachedError when the node fails */
  get(key: string): Promise<Buffer | null>;
  /** ttl in seconds as MSM computes it; 0 = never expires */
  set(key: string, value: Buffer, ttl: number): Promise<void>;
  /** false when the key exists */
  add(key: string, value: Buffer, ttl: number): Promise<boolean>;
  /** false when the key was missing */
  delete(key: string): Promise<boolean>;
  close(): void;
}

export interface MemjsClientOptions {
  /** ms: the per-operation timeout (MSM's operationTimeout) */
  timeout: number;
}

/**
 * memjs over one node. memjs's own retries are off (MSM retries nothing on
 * another node) and an expiration of 0 stays 0 because the client default
 * is 0 (memjs uses `expires || default`).
 */
export class MemjsClient implements MemcachedClient {
  readonly name: string;
  private readonly client: memjs.Client;
  private readonly timeout: number;

  constructor(host: string, port: number, o: MemjsClientOptions) {
    this.name = `${host}:${port}`;
    this.timeout = o.timeout;
    const h = host.includes(':') ? `[${host}]` : host;
    this.client = memjs.Client.create(`${h}:${port}`, {
      retries: 1,
      expires: 0,
      timeout: o.timeout / 1000,
      conntimeout: o.timeout / 1000,
      logger: { log: () => undefined },
    });
  }

  private run<T>(op: string, key: string, p: Promise<T>): Promise<T> {
    // memjs's timer only runs while a socket exists; ours bounds everything
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new MemcachedError('MEMCACHED_TIMEOUT', this.name, `memcached ${this.name}: ${op} "${key}" timed out after ${this.timeout} ms`));
      }, this.timeout + 20);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          const msg = e instanceof Error ? e.message : String(e);
          if (/timed out/.test(msg)) {
            reject(new MemcachedError('MEMCACHED_TIMEOUT', this.name, `memcached ${this.name}: ${op} "${key}" timed out after ${this.timeout} ms`, e));
          } else {
            reject(new MemcachedError('MEMCACHED_UNAVAILABLE', this.name, `memcached ${this.name}: ${op} "${key}" failed: ${msg}`, e));
          }
        },
      );
    });
  }

  async get(key: string): Promise<Buffer | null> {
    const r = await this.run('get', key, this.client.get(key));
    if (r.value === null) return null;
    const flags = r.flags && r.flags.length >= 4 ? r.flags.readUInt32BE(0) : 0;
    return unwrapFlags(r.value, flags);
  }

  async set(key: string, value: Buffer, ttl: number): Promise<void> {
    await this.run('set', key, this.client.set(key, value, { expires: memcachedExpiration(ttl, Date.now()) }));
  }

  add(key: string, value: Buffer, ttl: number): Promise<boolean> {
    return this.run('add', key, this.client.add(key, value, { expires: memcachedExpiration(ttl, Date.now()) }));
  }

  delete(key: string): Promise<boolean> {
    return this.run('delete', key, this.client.delete(key));
  }

  close(): void {
    this.client.close();
  }
}

/**
 * The in-memory double: memcached's semantics for the four commands
 * (expiry in whole seconds, absolute times past 30 days), plus switches a
 * test flips to make the node down or slow.
 */
export class MemoryMemcached implements MemcachedClient {
  readonly name: string;
  readonly items = new Map<string, { value: Buffer; expiresAt: number }>();
  down = false;
  /** ms an operation takes; over the timeout it fails as memjs would */
  delay = 0;
  timeout = 1000;
  ops = 0;
  /** every key asked for with get, in order: tests check what a request read */
  readonly reads: string[] = [];

  constructor(name = 'memory') {
    this.name = name;
  }

  private async op<T>(what: string, key: string, f: () => T): Promise<T> {
    this.ops++;
    if (this.down) throw new MemcachedError('MEMCACHED_UNAVAILABLE', this.name, `memcached ${this.name}: ${what} "${key}" failed: connect ECONNREFUSED`);
    if (this.delay > 0) {
      await new Promise((r) => setTimeout(r, Math.min(this.delay, this.timeout)));
      if (this.delay >= this.timeout) throw new MemcachedError('MEMCACHED_TIMEOUT', this.name, `memcached ${this.name}: ${what} "${key}" timed out after ${this.timeout} ms`);
    }
    return f();
  }

  private live(key: string): Buffer | null {
    const it = this.items.get(key);
    if (!it) return null;
    if (it.expiresAt !== 0 && it.expiresAt <= Date.now()) {
      this.items.delete(key);
      return null;
    }
    return it.value;
  }

  private store(key: string, value: Buffer, ttl: number): void {
    const exp = memcachedExpiration(ttl, Date.now());
    const expiresAt = exp === 0 ? 0 : exp > 2592000 ? exp * 1000 : Date.now() + exp * 1000;
    this.items.set(key, { value: Buffer.from(value), expiresAt });
  }

  get(key: string): Promise<Buffer | null> {
    return this.op('get', key, () => {
      this.reads.push(key);
      const v = this.live(key);
      return v && Buffer.from(v);
    });
  }

  set(key: string, value: Buffer, ttl: number): Promise<void> {
    return this.op('set', key, () => this.store(key, value, ttl));
  }

  add(key: string, value: Buffer, ttl: number): Promise<boolean> {
    return this.op('add', key, () => {
      if (this.live(key)) return false;
      this.store(key, value, ttl);
      return true;
    });
  }

  delete(key: string): Promise<boolean> {
    return this.op('delete', key, () => this.live(key) !== null && this.items.delete(key));
  }

  /** The expiry a key was stored with, ms since the epoch (0 = never); for tests. */
  expiresAt(key: string): number | undefined {
    return this.items.get(key)?.expiresAt;
  }

  close(): void {}
}
