import type { HttpRequest } from '../http/request';
import { logError } from '../http/http-context';
import { clock, seconds, type PeerSet, type UpstreamPeer, type Upstream } from './peers';
import { NO_LIVE, type Balancer, type FreePeer, type InitPick, type Peer, type PickState, type UpstreamGroup } from './types';

// ngx_http_upstream_round_robin.c: the smooth weighted round robin every
// method falls back to, the backup fallback, and passive health (a peer
// counts its failures when a try ends).

/** ngx_http_upstream_get_peer: smooth weighted round robin over the request's set. */
export function getRoundRobinPeer(group: Upstream, state: PickState): UpstreamPeer | undefined {
  const now = clock();
  let best: UpstreamPeer | undefined;
  let total = 0;
  for (const peer of group.setOf(state).peers) {
    if (state.tried.has(peer)) continue;
    if (peer.down || peer.failed(now) || peer.full()) continue;
    peer.currentWeight += peer.effectiveWeight;
    total += peer.effectiveWeight;
    if (peer.effectiveWeight < peer.weight) peer.effectiveWeight++;
    if (!best || peer.currentWeight > best.currentWeight) best = peer;
  }
  if (!best) return undefined;
  state.reason = `round robin: current weight ${best.currentWeight} of total ${total} (weight ${best.weight}, effective ${best.effectiveWeight})`;
  best.currentWeight -= total;
  touchChecked(best, now);
  return best;
}

/** The methods' "if (now - peer->checked > peer->fail_timeout) peer->checked = now". */
/**
 * The hash methods' step (ip_hash and hash alike): the peer whose weight
 * slot the hash falls in, if this request may try it; touches its check time.
 */
export function peerAtHash(set: PeerSet, hash: number, state: PickState, now: number): UpstreamPeer | undefined {
  let w = hash % set.totalWeight;
  let p = 0;
  while (w >= set.peers[p].weight) {
    w -= set.peers[p].weight;
    p++;
  }
  const peer = set.peers[p];
  if (state.tried.has(peer) || peer.down || peer.failed(now) || peer.full()) return undefined;
  touchChecked(peer, now);
  return peer;
}

export function touchChecked(peer: UpstreamPeer, now: number): void {
  if (seconds(now) - seconds(peer.checked) > peer.failTimeout / 1000) peer.checked = seconds(now) * 1000;
}

/** ngx_http_upstream_get_round_robin_peer for the set the request is in. */
export function selectRoundRobin(group: Upstream, state: PickState): Peer | typeof NO_LIVE {
  if (group.single && !state.inBackup) {
    const peer = group.peers[0];
    if (peer.down || peer.full()) return NO_LIVE;
    state.reason = 'the only server';
    return peer;
  }
  return getRoundRobinPeer(group, state) ?? NO_LIVE;
}

export const roundRobin: Balancer = {
  method: 'round robin',
  select: (group, state) => selectRoundRobin(group as Upstream, state),
  describe: () => ['round robin (smooth weighted)'],
};

/** ngx_http_upstream_tries: what a request may try, primaries and backups not down. */
export function upstreamTries(group: Upstream): number {
  return group.primarySet.tries + group.backupSet.tries;
}

/**
 * ngx_http_upstream_init_round_robin_peer and the method's init_peer, then
 * the cap ngx_http_upstream_init_request puts on tries
 * (proxy_next_upstream_tries, 0: none).
 */
export const initPick: InitPick = (group: UpstreamGroup, r: HttpRequest, maxTries: number): PickState => {
  const up = group as Upstream;
  const state: PickState = { r, tried: new Set(), tries: upstreamTries(up) };
  if (maxTries && state.tries > maxTries) state.tries = maxTries;
  group.balancer.initPeer?.(group, state);
  return state;
};

/**
 * One try's peer (ngx_event_connect_peer → peer.get): the method picks from
 * the primaries; when they are all out it picks from the backups, as
 * round robin's "failed:" label does. NO_LIVE is nginx's NGX_BUSY.
 */
export function getPeer(group: UpstreamGroup, state: PickState): Peer | typeof NO_LIVE {
  const up = group as Upstream;
  let peer = group.balancer.select(group, state);
  if (peer === NO_LIVE && !state.inBackup && up.backup.length > 0) {
    state.inBackup = true;
    peer = group.balancer.select(group, state);
  }
  if (peer === NO_LIVE) {
    state.reason = 'no live upstreams';
    return NO_LIVE;
  }
  if (state.inBackup) state.reason = `backup: ${state.reason ?? ''}`;
  state.tried.add(peer);
  state.current = peer;
  peer.conns++;
  return peer;
}

/** ngx_http_upstream_free_round_robin_peer */
export const freePeer: FreePeer = (group: UpstreamGroup, peer: Peer, state: PickState, failed: boolean): void => {
  const up = group as Upstream;
  const p = peer as UpstreamPeer;
  if (up.single && !state.inBackup) {
    p.conns--;
    state.tries = 0;
    return;
  }
  if (failed) {
    const now = seconds(clock()) * 1000;
    p.fails++;
    p.accessed = now;
    p.checked = now;
    if (p.maxFails) {
      p.effectiveWeight -= Math.floor(p.weight / p.maxFails);
      if (p.fails >= p.maxFails) {
        if (state.log) state.log('warn', 'upstream server temporarily disabled');
        else logError(state.r, 'warn', 'upstream server temporarily disabled');
      }
    }
    if (p.effectiveWeight < 0) p.effectiveWeight = 0;
  } else if (p.accessed < p.checked) {
    // mark peer live if check passed
    p.fails = 0;
  }
  p.conns--;
  if (state.tries) state.tries--;
};
