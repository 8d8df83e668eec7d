import type { MsmConfig } from './config';
import type { NodeManager } from './nodes';

// MSM's non-sticky locking (LockingStrategy*): `add lock:P+ID "locked"` with
// the lockExpiration TTL, retried with sleeps of 10, 20, 40… ms (capped at
// 500) until operationTimeout has passed; on timeout or error the request
// goes on without the lock. Release is a plain delete, with no owner check.

const LOCKED = Buffer.from('locked', 'ascii');
const SIX_HOURS = 6 * 3600 * 1000;

/** A bounded map of request ids with a lifetime, for lockingMode auto. */
class ExpiringSet {
  private readonly m = new Map<string, number>();
  constructor(private readonly max: number, private readonly ttl: number) {}
  has(k: string): boolean {
    const at = this.m.get(k);
    if (at === undefined) return false;
    if (Date.now() - at > this.ttl) {
      this.m.delete(k);
      return false;
    }
    return true;
  }
  add(k: string): void {
    this.m.delete(k);
    this.m.set(k, Date.now());
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value as string);
  }
  delete(k: string): void {
    this.m.delete(k);
  }
}

export class Locks {
  private readonly readOnly = new ExpiringSet(1000, SIX_HOURS);
  private readonly modifying = new ExpiringSet(50000, SIX_HOURS);

  constructor(private readonly config: MsmConfig, private readonly nodes: NodeManager, private readonly log: (level: 'warn' | 'info', msg: string) => void) {}

  key(id: string): string {
    return `lock:${this.config.storagePrefix}${id}`;
  }

  /** Whether a load for this request id takes the lock. */
  wanted(requestId: string): boolean {
    const m = this.config.lockingMode;
    switch (m.kind) {
      case 'none': return false;
      case 'all': return true;
      case 'auto': return !this.readOnly.has(requestId);
      case 'uriPattern': return m.pattern.test(requestId);
    }
  }

  /** true when taken; false when MSM would go on without it. */
  async acquire(id: string, nodeId: string | undefined): Promise<boolean> {
    const client = this.nodes.client(nodeId);
    const start = Date.now();
    let sleep = 10;
    for (;;) {
      try {
        if (await client.add(this.key(id), LOCKED, this.config.lockExpiration)) return true;
      } catch (e) {
        this.log('warn', `could not lock session "${id}", going on without the lock: ${(e as Error).message}`);
        return false;
      }
      if (Date.now() - start >= this.config.operationTimeout) {
        this.log('warn', `could not lock session "${id}" within ${this.config.operationTimeout} ms, going on without the lock`);
        return false;
      }
      await new Promise((r) => setTimeout(r, sleep));
      sleep = Math.min(sleep * 2, 500);
    }
  }

  async release(id: string, nodeId: string | undefined): Promise<void> {
    try {
      await this.nodes.client(nodeId).delete(this.key(id));
    } catch (e) {
      this.log('warn', `could not release the lock of session "${id}": ${(e as Error).message}`);
    }
  }

  /** auto: a request id is read-only once seen SKIPPED and never seen modifying. */
  record(requestId: string, modified: boolean): void {
    if (this.config.lockingMode.kind !== 'auto') return;
    if (modified) {
      this.readOnly.delete(requestId);
      this.modifying.add(requestId);
    } else if (!this.modifying.has(requestId)) {
      this.readOnly.add(requestId);
    }
  }
}
