import { ConfError } from '../conf/errors';
import { A, C, type Cf, type Module } from '../conf/module';
import { compile, http, type HttpMainConf } from '../http/core-conf';
import type { HttpModuleHooks } from '../http/core-conf';
import { parseSticky, type StickyConf } from './sticky-conf';
import { stickyBalancer } from './sticky-balancer';
import type { Balancer, UpstreamGroup } from './types';

// The `sticky` directive (nginx Plus's, in ngx_http_upstream_module; nginx
// OSS rejects it as unknown, nodinx has it as an extension). Its conf sits in
// the upstream block's srv conf; when the block is complete the upstream
// module hands its group to stickyFor(), which wraps the group's balancing
// method — so `sticky` works with every method, before or after it.

export const STICKY = 'upstream_sticky';

export interface StickySrvConf {
  sticky?: StickyConf;
  file?: string;
  line?: number;
}

/** learn zones by name, per http block: a zone belongs to one upstream */
const zonesOf = new WeakMap<HttpMainConf, Map<string, number>>();

function setSticky(cf: Cf, conf: StickySrvConf): string | undefined {
  if (conf.sticky) return 'is duplicate';
  const main = http(cf);
  let zones = zonesOf.get(main);
  if (!zones) zonesOf.set(main, (zones = new Map()));
  try {
    conf.sticky = parseSticky(cf.args, (source) => compile(cf, source), zones);
  } catch (e) {
    if (e instanceof ConfError && e.file === undefined) throw cf.error(e.reason);
    throw e;
  }
  conf.file = cf.node.file;
  conf.line = cf.node.endLine;
  return undefined;
}

export const stickyModule: Module & HttpModuleHooks = {
  name: STICKY,
  type: 'http',
  commands: [{ name: 'sticky', type: C.HTTP_UPS | A.MORE1, level: 'srv', set: setSticky }],
  createSrv: (): StickySrvConf => ({}),
};

/**
 * The balancer a group uses: its method's, wrapped when the block has
 * `sticky`. `srv` is the upstream block's srv confs (by module name).
 */
export function stickyFor(srv: Record<string, unknown>, group: Pick<UpstreamGroup, 'name' | 'peers' | 'backup'>, balancer: Balancer): Balancer {
  const conf = srv[STICKY] as StickySrvConf | undefined;
  if (!conf?.sticky) return balancer;
  return stickyBalancer(group, balancer, conf.sticky);
}
