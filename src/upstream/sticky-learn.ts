import type { HttpRequest } from '../http/request';
import { LEARN_BYTES_PER_SESSION, type StickyLearnConf } from './sticky-conf';

// The session → server table of `sticky learn`. nginx Plus keeps it in a
// shared memory zone; nodinx keeps it per worker (LearnZone) or in memcached
// (sticky-memcached.ts) so that several workers, several nodinx instances
// and a restarted nodinx agree. Values are a server's route (sticky-cookie.ts
// peerRoute), which is the same in every instance with the same config.

export interface LearnStore {
  /**
   * the server a session is bound to; a lookup counts as an access (the
   * timeout restarts); null: the table could not answer
   */
  get(session: string, r: HttpRequest): string | undefined | null | Promise<string | undefined | null>;
  set(session: string, route: string, r: HttpRequest): void;
  close?(): void;
}

interface Entry {
  route: string;
  /** ms: dropped when not looked up by then */
  expires: number;
}

/**
 * A zone in worker memory: Map order is access order, so the oldest entry
 * is first; a full zone drops it as nginx's slab allocator makes room by
 * expiring the least recently used session.
 */
export class LearnZone implements LearnStore {
  private readonly entries = new Map<string, Entry>();
  readonly capacity: number;

  constructor(readonly conf: Pick<StickyLearnConf, 'size' | 'timeout'>, private readonly now = Date.now) {
    this.capacity = Math.max(1, Math.floor(conf.size / LEARN_BYTES_PER_SESSION));
  }

  get size(): number {
    return this.entries.size;
  }

  get(session: string): string | undefined {
    const e = this.entries.get(session);
    if (!e) return undefined;
    const now = this.now();
    this.entries.delete(session);
    if (e.expires <= now) return undefined;
    e.expires = now + this.conf.timeout;
    this.entries.set(session, e);
    return e.route;
  }

  set(session: string, route: string): void {
    const now = this.now();
    this.entries.delete(session);
    this.expire(now);
    while (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(session, { route, expires: now + this.conf.timeout });
  }

  /** drops sessions past their timeout from the old end (a few per call, as ngx_http_upstream_sticky expires) */
  private expire(now: number): void {
    let n = 0;
    for (const [k, e] of this.entries) {
      if (e.expires > now || ++n > 16) break;
      this.entries.delete(k);
    }
  }
}
