import { ConfError } from '../conf/errors';
import type { Cf } from '../conf/module';
import { compile } from '../http/core-conf';
import { parseSticky as parseStickyArgs, type ShmZones, type StickyConf } from './sticky-conf';

// `sticky` (nginx Plus's session affinity, issue 8; nginx OSS rejects it as
// unknown, nodinx has it as an extension). The upstream module declares the
// directive and, when the http block closes, wraps the group's method with
// stickyBalancer(method, conf). The parts:
//   sticky-conf.ts      the directive's parameters, checked at load
//   sticky-balancer.ts  the decision in front of the method, the response hook
//   sticky-cookie.ts    what names a server (route= or MD5 of its address), Set-Cookie
//   sticky-learn.ts     the learn table in worker memory
//   sticky-memcached.ts the learn table in memcached (`memcached=`), shared by instances

export type { StickyConf } from './sticky-conf';
export { stickyBalancer, type StickyBalancer } from './sticky-balancer';
export { cookieTime } from './sticky-cookie';

/** `sticky cookie|route|learn ...` of an upstream block; errors carry the directive's file:line. */
export function parseSticky(cf: Cf): StickyConf {
  const zones: ShmZones = (cf.cycle.confs.shmZones ??= new Map());
  try {
    return parseStickyArgs(cf.args, (source) => compile(cf, source), zones);
  } catch (e) {
    if (e instanceof ConfError && e.file === undefined) throw cf.error(e.reason);
    throw e;
  }
}
