import { clock, type Upstream, type UpstreamPeer } from './peers';
import { selectRoundRobin, touchChecked } from './round-robin';
import { NO_LIVE, type Balancer, type PickState } from './types';

// ngx_http_upstream_least_conn_module.c: the peer with the fewest requests
// in flight relative to its weight; among equals, smooth weighted round
// robin, starting from the first of them as nginx does.

function selectLeastConn(group: Upstream, state: PickState): UpstreamPeer | typeof NO_LIVE {
  if (group.single && !state.inBackup) return selectRoundRobin(group, state) as UpstreamPeer | typeof NO_LIVE;
  const now = clock();
  const peers = group.setOf(state).peers;
  let best: UpstreamPeer | undefined;
  let many = false;
  let p = 0;
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i];
    if (state.tried.has(peer) || peer.down || peer.failed(now) || peer.full()) continue;
    if (!best || peer.conns * best.weight < best.conns * peer.weight) {
      best = peer;
      many = false;
      p = i;
    } else if (peer.conns * best.weight === best.conns * peer.weight) {
      many = true;
    }
  }
  if (!best) return NO_LIVE;
  let total = 0;
  if (many) {
    const first = best;
    for (let i = p; i < peers.length; i++) {
      const peer = peers[i];
      if (state.tried.has(peer) || peer.down) continue;
      if (peer.conns * first.weight !== first.conns * peer.weight) continue;
      if (peer.failed(now) || peer.full()) continue;
      peer.currentWeight += peer.effectiveWeight;
      total += peer.effectiveWeight;
      if (peer.effectiveWeight < peer.weight) peer.effectiveWeight++;
      if (peer.currentWeight > best.currentWeight) best = peer;
    }
  }
  state.reason = many
    ? `least_conn: ${best.conns} active (weight ${best.weight}), tie broken by round robin (current weight ${best.currentWeight} of ${total})`
    : `least_conn: fewest active connections for its weight (${best.conns}, weight ${best.weight})`;
  best.currentWeight -= total;
  touchChecked(best, now);
  return best;
}

export const leastConn: Balancer = {
  method: 'least_conn',
  select: (group, state) => selectLeastConn(group as Upstream, state),
  describe: () => ['least_conn: fewest active connections per weight, ties by smooth weighted round robin'],
};
