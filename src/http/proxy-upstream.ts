import type { Cf } from '../conf/module';
import type { UpstreamGroup } from '../upstream/types';
import { implicitGroup, resolveHost } from '../upstream/http-implicit';
import type { ProxyUrl } from './proxy-url';

// Where proxy_pass finds its peers: the upstream module's groups. Until
// the `upstream` branch lands this makes implicit groups itself from
// addresses config load can resolve.

export { initPick, getPeer, freePeer } from '../upstream/http-implicit';

/** ngx_http_upstream_add for proxy_pass */
export function addUpstream(cf: Cf, u: ProxyUrl): UpstreamGroup {
  const name = u.unix !== undefined ? `unix:${u.unix}` : u.noPort ? u.host : `${u.host}:${u.portText}`;
  if (u.unix !== undefined) return implicitGroup(name, [], 0, u.unix);
  const addrs = resolveHost(u.host);
  if (!addrs) throw cf.error(`host not found in upstream "${name}"`);
  return implicitGroup(name, addrs, u.port);
}

/** A group by name at run time (proxy_pass with variables): explicit upstream blocks only. */
export function findUpstream(_host: string): UpstreamGroup | undefined {
  return undefined;
}
