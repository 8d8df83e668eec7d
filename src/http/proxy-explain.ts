import type { HttpRequest, Outcome } from './request';
import { logError } from './http-context';
import { explainProxy, proxyConf } from './proxy-request';
import type { ProxyLocConf } from './proxy-module';
import { FT } from './proxy-flags';
import type { ProxyVars } from './proxy-url';
import { freePeer, getPeer, initPick } from './proxy-upstream';
import type { TraceEvent } from './trace';
import { describe } from '../upstream/describe';
import { isResolved } from '../upstream/http-implicit';
import { NO_LIVE, type Peer, type UpstreamGroup } from '../upstream/types';

// `nodinx explain` for proxy_pass: the proxy handler hands a traced request
// here once it knows the group and proxy_pass's parts, before the body is
// read and before anything connects. What the upstream would receive comes
// from the proxy's own code (explainProxy); which peer would take it comes
// from the group's balancer, run on the peers' counters and put back
// afterwards, so explaining never moves round robin or counts a failure.

/** Reports what proxy_pass would do with the request, then ends it without an answer. */
export async function explainProxyPass(r: HttpRequest, group: UpstreamGroup, vars: ProxyVars): Promise<Outcome> {
  const trace = r.trace!;
  const { conf, pass } = proxyConf(r);
  trace.push({ kind: 'proxy_pass', where: { file: pass!.file, line: pass!.line }, url: pass!.url });
  trace.push(upstreamEvent(group));
  const sent = explainProxy(r, vars)!;
  if (sent.uri === undefined) {
    // as proxyHandler answers it
    logError(r, 'error', 'zero length URI to proxy');
    return 500;
  }
  const version = conf.httpVersion === 1001 ? 'HTTP/1.1' : 'HTTP/1.0';
  trace.push({ kind: 'upstream-request', line: `${sent.method} ${sent.uri} ${version}`, headers: sent.headers });
  trace.push(...(await predictPeers(r, conf, group)));
  // nothing went upstream, so there is no answer to pass on: the connection closes (444 does that)
  return 444;
}

function upstreamEvent(group: UpstreamGroup): TraceEvent {
  const method = group.balancer.describe?.(group)?.join('; ') ?? group.balancer.method;
  if (isResolved(group)) {
    // made at run time from proxy_pass with variables naming an address (no upstream block of that name)
    return { kind: 'upstream', name: group.name, implicit: true, method, peers: group.peers.map((p) => `  ${p.name}`) };
  }
  return {
    kind: 'upstream', name: group.name, where: { file: group.file, line: group.line }, implicit: group.implicit, method,
    peers: describe(group).slice(1),
  };
}

type Counters = Pick<Peer, 'currentWeight' | 'effectiveWeight' | 'checked' | 'accessed' | 'fails' | 'conns'>;

const keep = (p: Peer): Counters => ({
  currentWeight: p.currentWeight, effectiveWeight: p.effectiveWeight, checked: p.checked, accessed: p.accessed, fails: p.fails, conns: p.conns,
});

/**
 * The tries the proxy would make: getPeer as ProxyRun calls it, each try
 * then ended as failed (freePeer) so the next pick is the one nginx's
 * ngx_http_upstream_next would make. The peers' counters are restored.
 */
async function predictPeers(r: HttpRequest, conf: ProxyLocConf, group: UpstreamGroup): Promise<TraceEvent[]> {
  const peers = [...group.peers, ...group.backup];
  const saved = peers.map(keep);
  const out: TraceEvent[] = [];
  const next = conf.nextUpstream ?? 0;
  const retries = !(next & FT.off) && (next & (FT.error | FT.timeout)) !== 0;
  const drawn = /random/.test(group.balancer.method) ? ' (a random draw: the server draws again)' : '';
  try {
    const state = initPick(group, r, conf.nextUpstreamTries ?? 0);
    // a failure explain imagines writes no "upstream server temporarily disabled"
    state.log = () => undefined;
    await group.balancer.prepare?.(group, state);
    for (let attempt = 1; ; attempt++) {
      state.reason = undefined;
      const peer = getPeer(group, state);
      if (peer === NO_LIVE) {
        out.push({ kind: 'peer', attempt, peer: NO_LIVE, reason: attempt === 1 ? 'every server is down, counted out or full' : 'no server left to try' });
        break;
      }
      out.push({ kind: 'peer', attempt, peer: peer.name, reason: (state.reason ?? 'the only address') + drawn });
      freePeer(group, peer, state, true);
      if (!retries || state.tries === 0) break;
    }
  } finally {
    peers.forEach((p, i) => Object.assign(p, saved[i]));
  }
  return out;
}
