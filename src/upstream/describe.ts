import { clock, seconds, type Upstream, type UpstreamPeer } from './peers';
import { initPick } from './round-robin';
import { NO_LIVE, type PickState, type UpstreamGroup } from './types';
import type { HttpRequest } from '../http/request';

// `nodinx explain`: what the balancer of a group would do with the next
// request, said without changing the group (the pick runs on copies of the
// peers' counters, which are then put back).

function peerLine(p: UpstreamPeer, now: number): string {
  const parts = [`weight=${p.weight}`, `current=${p.currentWeight}`, `effective=${p.effectiveWeight}`, `conns=${p.conns}`];
  if (p.maxConns) parts.push(`max_conns=${p.maxConns}`);
  if (p.fails) parts.push(`fails=${p.fails}/${p.maxFails}`);
  if (p.down) parts.push('down');
  else if (p.failed(now)) parts.push(`failed (for ${p.failTimeout / 1000 - (seconds(now) - seconds(p.checked))}s more)`);
  else if (p.full()) parts.push('full');
  if (p.backup) parts.push('backup');
  if (p.route !== undefined) parts.push(`route=${p.route}`);
  const server = p.server && p.server !== p.name ? ` (server ${p.server})` : '';
  return `  ${p.name}${server}  ${parts.join(' ')}`;
}

type Snapshot = Array<[UpstreamPeer, number, number, number, number]>;

function snapshot(peers: UpstreamPeer[]): Snapshot {
  return peers.map((p) => [p, p.currentWeight, p.effectiveWeight, p.checked, p.conns]);
}

function restore(s: Snapshot): void {
  for (const [p, cw, ew, checked, conns] of s) {
    p.currentWeight = cw;
    p.effectiveWeight = ew;
    p.checked = checked;
    p.conns = conns;
  }
}

/**
 * Lines describing a group: its method, each peer's weights and health,
 * and (given a request, or a state already started) the peer the next
 * pick would choose and why. The group is left as it was.
 */
export function describe(group: UpstreamGroup, state?: PickState | HttpRequest): string[] {
  const up = group as Upstream;
  const now = clock();
  const where = up.implicit ? 'implicit' : `${up.file}:${up.line}`;
  const lines = [`upstream ${up.name} (${where}): ${group.balancer.describe?.(group)?.join('; ') ?? group.balancer.method}`];
  if (up.zone) lines.push(`  zone ${up.zone} (state kept per worker)`);
  if (up.keepalive.max) lines.push(`  keepalive ${up.keepalive.max} (requests ${up.keepalive.requests}, timeout ${up.keepalive.timeout}ms)`);
  for (const p of [...up.peers, ...up.backup]) lines.push(peerLine(p, now));
  if (state) {
    const saved = snapshot([...up.peers, ...up.backup]);
    try {
      const st: PickState = 'tried' in state ? { ...state, tried: new Set(state.tried), data: structuredClone(state.data) } : initPick(group, state, 0);
      const peer = up.balancer.select(group, st);
      let picked = peer;
      if (picked === NO_LIVE && !st.inBackup && up.backup.length) {
        st.inBackup = true;
        picked = up.balancer.select(group, st);
      }
      lines.push(picked === NO_LIVE ? 'next: no live upstreams' : `next: ${picked.name} — ${st.inBackup ? 'backup: ' : ''}${st.reason ?? ''}`);
    } finally {
      restore(saved);
    }
  }
  return lines;
}
