import type { Cf } from '../conf/module';
import type { HttpMainConf } from '../http/core-conf';
import { F } from './server-conf';
import { upstreamAdd, upstreamMain, type UpstreamMainConf } from './upstream-module';
import type { Upstream } from './peers';
import type { UpstreamGroup } from './types';

/*
 * What the upstream module offers its users (proxy_pass, explain):
 *
 * Configuration time
 *   addUpstream(cf: Cf, url: { host: string; port: number; noPort: boolean; unix?: string },
 *               implicit: boolean): UpstreamGroup
 *     ngx_http_upstream_add, called from the proxy_pass setter. url is
 *     ngx_url_t after ngx_parse_url with no_resolve: host as nginx keeps it
 *     ("backend", "127.0.0.1", "[::1]" with brackets, the socket path for
 *     unix:), port the explicit port or the scheme's default (80/443) when
 *     noPort. implicit=true for proxy_pass (nginx's flags without CREATE).
 *     Returns the `upstream NAME` block of that name (defined before or
 *     after), or an implicit group; throws nginx's errors (`upstream "x"
 *     may not have port 8080`). The group's peers and balancer exist only
 *     after the http block closed: `host not found in upstream "x" in F:L`
 *     comes then, as in ngx_http_upstream_init_main_conf.
 *
 * Run time (per worker; no shared zone)
 *   findUpstream(main: HttpMainConf, host: string, port?: number, noPort = true): UpstreamGroup | undefined
 *     proxy_pass with variables: the group nginx's ngx_http_upstream_init_request
 *     finds by name (case-insensitive; an upstream block, or an implicit
 *     group of the same port).
 *   initPick(group, r, maxTries): PickState
 *     once per request; maxTries is proxy_next_upstream_tries (0: no cap).
 *   getPeer(group, state): Peer | NO_LIVE
 *     once per try, even when state.tries is 0 (nginx always connects
 *     once). NO_LIVE: log `[error] no live upstreams while connecting to
 *     upstream` and answer 502; $upstream_addr is then group.name.
 *   freePeer(group, peer, state, failed)
 *     once per try that got a peer, when the try ends: failed=true for
 *     what proxy_next_upstream counts as a failure (error, timeout,
 *     invalid_header, http_5xx listed), false otherwise (http_403/404
 *     next, or success). It decrements state.tries (to 0 for a group of a
 *     single server); try again only while state.tries > 0. It logs
 *     `upstream server temporarily disabled` through state.log, which the
 *     proxy sets to add "while connecting to upstream" and `upstream: "..."`.
 *   balancer.responded?(group, state, peer, upstreamHeaders, outHeaders)
 *     sticky cookie/learn: call after the last try's response header, before
 *     sending the response on (see types.ts).
 *   describe(group, r | state?): string[]
 *     for `nodinx explain`: method, peers, and the next pick with its reason.
 */

export { NO_LIVE } from './types';
export type { Balancer, FreePeer, InitPick, KeepaliveConf, Peer, PickState, UpstreamGroup } from './types';
export { initPick, getPeer, freePeer } from './round-robin';
export { describe } from './describe';
export { upstreamModule, UPSTREAM } from './upstream-module';
export { setClock } from './peers';

export function addUpstream(cf: Cf, url: { host: string; port: number; noPort: boolean; unix?: string }, implicit: boolean): UpstreamGroup {
  let host = url.unix ?? url.host;
  if (url.unix === undefined && host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return upstreamAdd(cf, { ...url, host }, implicit ? 0 : F.CREATE);
}

export function findUpstream(main: HttpMainConf, host: string, port?: number, noPort = true): UpstreamGroup | undefined {
  const umcf: UpstreamMainConf | undefined = upstreamMain(main);
  const name = host.toLowerCase();
  return umcf?.upstreams.find((u: Upstream) =>
    u.name.toLowerCase() === name && ((u.port === 0 && noPort) || (port !== undefined && u.port === port)));
}
