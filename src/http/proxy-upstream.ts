import type { Cf } from '../conf/module';
import type { HttpRequest } from './request';
import type { PickState, UpstreamGroup } from '../upstream/types';
import * as upstream from '../upstream/index';
import * as resolved from '../upstream/http-implicit';
import type { ProxyUrl } from './proxy-url';

// Where proxy_pass finds its peers: the upstream module's groups (upstream
// blocks and the implicit groups proxy_pass makes at load), or, for
// proxy_pass with variables naming an address, a group of one peer made
// at run time (nginx's ngx_http_upstream_create_round_robin_peer).

/** ngx_http_upstream_add for proxy_pass */
export function addUpstream(cf: Cf, u: ProxyUrl): UpstreamGroup {
  return upstream.addUpstream(cf, { host: u.unix ?? u.host, port: u.port, noPort: u.noPort, unix: u.unix }, true);
}

/** A group by name at run time (proxy_pass with variables). */
export function findUpstream(r: HttpRequest, host: string, port: number, noPort: boolean): UpstreamGroup | undefined {
  return upstream.findUpstream(r.conn.ctx.main, host, port, noPort);
}

export function initPick(group: UpstreamGroup, r: HttpRequest, maxTries: number): PickState {
  return resolved.isResolved(group) ? resolved.initPick(group, r, maxTries) : upstream.initPick(group, r, maxTries);
}

export function getPeer(group: UpstreamGroup, state: PickState): ReturnType<typeof upstream.getPeer> {
  return resolved.isResolved(group) ? resolved.getPeer(group, state) : upstream.getPeer(group, state);
}

export function freePeer(group: UpstreamGroup, peer: Parameters<typeof upstream.freePeer>[1], state: PickState, failed: boolean): void {
  if (resolved.isResolved(group)) resolved.freePeer(group, peer, state, failed);
  else upstream.freePeer(group, peer, state, failed);
}
