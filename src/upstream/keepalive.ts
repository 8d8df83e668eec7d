import * as net from 'node:net';
import type { Socket } from 'node:net';
import type { Peer, UpstreamGroup } from './types';
import { Deadline } from '../core/deadline';

// ngx_http_upstream_keepalive_module's run-time half: idle connections to
// a group's peers, per worker, at most `keepalive N` of them (the oldest
// goes when a new one does not fit), each closed after keepalive_timeout
// idle, after keepalive_requests requests or keepalive_time of life, and
// at once if the upstream closes it or sends anything while idle.

/** Whoever uses an upstream connection now: a request, or the idle cache. */
export interface ConnOwner {
  onData(d: Buffer): void;
  onEnd(): void;
  onError(e: NodeJS.ErrnoException): void;
  onClose(): void;
  /** the connection's deadline passed (connect, send, read timeouts; keepalive_timeout when idle) */
  onTimeout(): void;
}

/**
 * A connection to a peer. Its socket listeners and its timer are set up
 * once and passed from owner to owner (nginx's c->data), not added and
 * removed for every request that uses it.
 */
export class UpstreamConn {
  owner?: ConnOwner;
  /** requests made on it, this one included (c->requests) */
  requests = 1;
  /** ms it was opened (c->start_time) */
  readonly start = Date.now();
  readonly deadline = new Deadline(() => this.owner?.onTimeout());

  /** tcp or unix: the socket reads into READ_BUFFER (see connectPeer); TLS: 'data' events */
  constructor(readonly sock: Socket, readonly peer: Peer, dataEvents = true) {
    if (dataEvents) sock.on('data', (d: Buffer) => this.owner?.onData(d));
    sock.on('end', () => this.owner?.onEnd());
    sock.on('error', (e: NodeJS.ErrnoException) => this.owner?.onError(e));
    sock.on('close', () => {
      this.deadline.drop();
      this.owner?.onClose();
    });
  }

  /** No owner any more: the socket goes, its events go nowhere. */
  destroy(): void {
    this.owner = undefined;
    this.deadline.drop();
    this.sock.destroy();
  }
}

/**
 * What every plain upstream socket reads into (net's `onread`): the bytes
 * are copied out before the next read. It spares each read the Readable
 * stream's push, buffering and 'data' event, about 4 µs a proxied request
 * on a do-nothing Node proxy (wrk -c50, 100 B answers: 31.8 -> 27.9 µs).
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** A new connection to a plain (tcp or unix) peer; TLS ones are made by their caller with 'data' events. */
export function connectPeer(peer: Peer): UpstreamConn {
  let conn: UpstreamConn | undefined;
  const onread = {
    buffer: READ_BUFFER,
    // true: go on reading (false would pause the socket)
    callback: (n: number, buf: Uint8Array): boolean => {
      const d = Buffer.allocUnsafe(n);
      d.set(buf.subarray(0, n));
      conn?.owner?.onData(d);
      return true;
    },
  };
  const sock = peer.socketPath ? net.connect({ path: peer.socketPath, onread }) : net.connect({ port: peer.port, host: peer.host, onread });
  conn = new UpstreamConn(sock, peer, false);
  return conn;
}

/** An idle connection's owner: anything the upstream does, or keepalive_timeout, closes it. */
class Idle implements ConnOwner {
  constructor(private readonly cache: UpstreamConn[], private readonly c: UpstreamConn) {}
  private drop(): void {
    const i = this.cache.indexOf(this.c);
    if (i >= 0) this.cache.splice(i, 1);
    this.c.destroy();
  }
  onData(): void {
    this.drop();
  }
  onEnd(): void {
    this.drop();
  }
  onError(): void {
    this.drop();
  }
  onClose(): void {
    this.drop();
  }
  onTimeout(): void {
    this.drop();
  }
}

const caches = new WeakMap<UpstreamGroup, UpstreamConn[]>();

/** ngx_http_upstream_get_keepalive_peer: the newest idle connection to this peer, for the new owner. */
export function getKeepalive(group: UpstreamGroup, peer: Peer): UpstreamConn | undefined {
  const cache = caches.get(group);
  if (!cache) return undefined;
  for (let i = 0; i < cache.length; i++) {
    const c = cache[i];
    if (c.peer !== peer) continue;
    cache.splice(i, 1);
    c.owner = undefined;
    c.deadline.disarm();
    return c;
  }
  return undefined;
}

/** ngx_http_upstream_free_keepalive_peer for a connection that may be kept: true if it was. */
export function putKeepalive(group: UpstreamGroup, c: UpstreamConn): boolean {
  const conf = group.keepalive;
  if (conf.max <= 0 || c.requests >= conf.requests || Date.now() - c.start > conf.time || c.sock.destroyed || c.sock.readableEnded) {
    return false;
  }
  let cache = caches.get(group);
  if (!cache) caches.set(group, (cache = []));
  if (cache.length >= conf.max) cache.pop()!.destroy();
  c.owner = new Idle(cache, c);
  // an idle connection does not keep a worker that is shutting down
  c.deadline.arm(conf.timeout, false);
  cache.unshift(c);
  return true;
}

/** Idle connections held now (tests check nothing leaks). */
export function keepaliveCount(group: UpstreamGroup): number {
  return caches.get(group)?.length ?? 0;
}
