import type { Socket } from 'node:net';
import type { Peer, UpstreamGroup } from './types';

// ngx_http_upstream_keepalive_module's run-time half: idle connections to
// a group's peers, per worker, at most `keepalive N` of them (the oldest
// goes when a new one does not fit), each closed after keepalive_timeout
// idle, after keepalive_requests requests or keepalive_time of life, and
// at once if the upstream closes it or sends anything while idle.

export interface UpstreamConn {
  sock: Socket;
  peer: Peer;
  /** requests made on it, this one included (c->requests) */
  requests: number;
  /** ms it was opened (c->start_time) */
  start: number;
}

interface Idle extends UpstreamConn {
  timer: NodeJS.Timeout;
  drop: () => void;
}

const caches = new WeakMap<UpstreamGroup, Idle[]>();

/** ngx_http_upstream_get_keepalive_peer: the newest idle connection to this peer. */
export function getKeepalive(group: UpstreamGroup, peer: Peer): UpstreamConn | undefined {
  const cache = caches.get(group);
  if (!cache) return undefined;
  for (let i = 0; i < cache.length; i++) {
    const c = cache[i];
    if (c.peer !== peer) continue;
    cache.splice(i, 1);
    unwatch(c);
    return { sock: c.sock, peer: c.peer, requests: c.requests, start: c.start };
  }
  return undefined;
}

function unwatch(c: Idle): void {
  clearTimeout(c.timer);
  c.sock.off('data', c.drop);
  c.sock.off('end', c.drop);
  c.sock.off('close', c.drop);
  c.sock.off('error', c.drop);
}

/** ngx_http_upstream_free_keepalive_peer for a connection that may be kept: true if it was. */
export function putKeepalive(group: UpstreamGroup, c: UpstreamConn): boolean {
  const conf = group.keepalive;
  if (conf.max <= 0 || c.requests >= conf.requests || Date.now() - c.start > conf.time || c.sock.destroyed || c.sock.readableEnded) {
    return false;
  }
  let cache = caches.get(group);
  if (!cache) caches.set(group, (cache = []));
  if (cache.length >= conf.max) {
    const old = cache.pop()!;
    unwatch(old);
    old.sock.destroy();
  }
  const idle = c as Idle;
  idle.drop = () => {
    const i = cache!.indexOf(idle);
    if (i >= 0) cache!.splice(i, 1);
    unwatch(idle);
    idle.sock.destroy();
  };
  idle.timer = setTimeout(idle.drop, conf.timeout);
  idle.timer.unref();
  c.sock.on('data', idle.drop);
  c.sock.on('end', idle.drop);
  c.sock.on('close', idle.drop);
  c.sock.on('error', idle.drop);
  cache.unshift(idle);
  return true;
}

/** Idle connections held now (tests check nothing leaks). */
export function keepaliveCount(group: UpstreamGroup): number {
  return caches.get(group)?.length ?? 0;
}
