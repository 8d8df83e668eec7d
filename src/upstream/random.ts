import { randomInt } from 'node:crypto';
import { clock, type Upstream, type UpstreamPeer } from './peers';
import { selectRoundRobin, touchChecked } from './round-robin';
import { NO_LIVE, type Balancer, type PickState, type UpstreamGroup } from './types';

// ngx_http_upstream_random_module.c: a peer drawn with probability
// weight/total; with `two`, two distinct peers drawn and the one with fewer
// connections per weight kept (least_conn is the only way `two` compares).
// After 20 unlucky draws round robin decides.

interface RandomData {
  tries: number;
}

/** ngx_http_upstream_peek_random_peer over the cumulative weights. */
function peek(ranges: number[], totalWeight: number, random: () => number): number {
  const x = random() % totalWeight;
  let i = 0;
  let j = ranges.length;
  while (j - i > 1) {
    const k = (i + j) >>> 1;
    if (x < ranges[k - 1]) j = k;
    else i = k;
  }
  return i;
}

function usable(peer: UpstreamPeer, state: PickState, now: number): boolean {
  return !state.tried.has(peer) && !peer.down && !peer.failed(now) && !peer.full();
}

export function randomBalancer(two: boolean, random: () => number = () => randomInt(0x7fffffff)): Balancer & { init(group: UpstreamGroup): void } {
  let ranges: number[] = [];
  const fallback = (group: Upstream, state: PickState): UpstreamPeer | typeof NO_LIVE => {
    const peer = selectRoundRobin(group, state);
    if (peer !== NO_LIVE) state.reason = `random gave up after 20 draws; ${state.reason}`;
    return peer as UpstreamPeer | typeof NO_LIVE;
  };
  const select = (group: Upstream, state: PickState): UpstreamPeer | typeof NO_LIVE => {
    const rp = state.data as RandomData;
    if (rp.tries > 20 || group.single || state.inBackup) return fallback(group, state);
    const now = clock();
    const set = group.primarySet;
    let prev: UpstreamPeer | undefined;
    for (;;) {
      const peer = set.peers[peek(ranges, set.totalWeight, random)];
      if (peer !== prev && usable(peer, state, now)) {
        if (!two) {
          touchChecked(peer, now);
          state.reason = `random: weight ${peer.weight} of ${set.totalWeight}`;
          return peer;
        }
        if (prev) {
          const best = peer.conns * prev.weight > prev.conns * peer.weight ? prev : peer;
          touchChecked(best, now);
          state.reason = `random two least_conn: ${best.name} has fewer connections per weight than ${best === peer ? prev.name : peer.name}`;
          return best;
        }
        prev = peer;
      }
      if (++rp.tries > 20) return fallback(group, state);
    }
  };
  return {
    method: two ? 'random two least_conn' : 'random',
    init(group) {
      let total = 0;
      ranges = (group as Upstream).peers.map((p) => (total += p.weight));
    },
    initPeer(_group, state) {
      state.data = { tries: 0 } satisfies RandomData;
    },
    select: (group, state) => select(group as Upstream, state),
    describe: () => [two ? 'random two least_conn: two peers drawn by weight, the less loaded kept' : 'random: a peer drawn by weight'],
  };
}
