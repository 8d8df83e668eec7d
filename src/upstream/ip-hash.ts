import { inet6Addr, inetAddr, INADDR_NONE } from '../core/inet';
import type { HttpRequest } from '../http/request';
import { clock, type Upstream, type UpstreamPeer } from './peers';
import { inet6Ntop } from './url';
import { peerAtHash, selectRoundRobin } from './round-robin';
import { NO_LIVE, type Balancer, type PickState } from './types';

// ngx_http_upstream_ip_hash_module.c: the first three octets of an IPv4
// client (the whole address for IPv6) pick a peer by weight; a peer that is
// out makes the hash go on, and after 20 rehashes round robin decides.

interface IpHashData {
  addr: Uint8Array;
  hash: number;
  tries: number;
}

/** What nginx hashes: r->connection->sockaddr's address bytes (3 for IPv4). */
export function ipHashAddr(r: HttpRequest): Uint8Array {
  const raw = r.conn.remoteAddr === 'unix:' ? undefined : (r.conn.socket?.remoteAddress ?? r.conn.remoteAddr);
  if (raw === undefined) return new Uint8Array(3);
  if (raw.includes(':')) {
    const b = inet6Addr(raw);
    if (b) return b;
  }
  const a = inetAddr(raw);
  if (a === INADDR_NONE) return new Uint8Array(3);
  return Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff);
}

function selectIpHash(group: Upstream, state: PickState): UpstreamPeer | typeof NO_LIVE {
  const iphp = state.data as IpHashData;
  if (iphp.tries > 20 || group.single || state.inBackup) return selectRoundRobin(group, state) as UpstreamPeer | typeof NO_LIVE;
  const now = clock();
  const set = group.primarySet;
  let hash = iphp.hash;
  for (;;) {
    for (const byte of iphp.addr) hash = (hash * 113 + byte) % 6271;
    const peer = peerAtHash(set, hash, state, now);
    if (peer) {
      iphp.hash = hash;
      state.reason = `ip_hash ${iphp.addr.length === 16 ? inet6Ntop(iphp.addr) : Array.from(iphp.addr).join('.')}: hash ${hash} → weight slot ${hash % set.totalWeight} of ${set.totalWeight}`;
      return peer;
    }
    if (++iphp.tries > 20) {
      const rr = selectRoundRobin(group, state);
      if (rr !== NO_LIVE) state.reason = `ip_hash gave up after 20 tries; ${state.reason}`;
      return rr as UpstreamPeer | typeof NO_LIVE;
    }
  }
}

export const ipHash: Balancer = {
  method: 'ip_hash',
  initPeer(_group, state) {
    const data: IpHashData = { addr: ipHashAddr(state.r), hash: 89, tries: 0 };
    state.data = data;
  },
  select: (group, state) => selectIpHash(group as Upstream, state),
  describe: () => ['ip_hash: first three octets of an IPv4 client, the whole IPv6 address'],
};
