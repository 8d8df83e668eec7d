import { ConfError } from '../conf/errors';
import { A, C, type Cf, type Module } from '../conf/module';
import { compile } from '../http/core-conf';
import type { HttpCtx, HttpModuleHooks } from '../http/core-conf';
import { parseSticky, type ShmZones, type StickyConf } from './sticky-conf';
import { stickyBalancer } from './sticky-balancer';
import type { Balancer, UpstreamGroup } from './types';
import { UPSTREAM } from './upstream-module';

// The `sticky` directive (nginx Plus's, in ngx_http_upstream_module; nginx
// OSS rejects it as unknown, nodinx has it as an extension). Its conf is
// kept per upstream block; when the http block closes, initUpstream hands
// the group's balancer to stickyFor(), which wraps the method — so `sticky`
// works with every method, written before or after it.

export const STICKY = 'upstream_sticky';

export interface StickySrvConf {
  sticky?: StickyConf;
  file?: string;
  line?: number;
}

/** by upstream block (the srv conf of an upstream block is its group) */
const confs = new WeakMap<object, StickySrvConf>();

function setSticky(cf: Cf): string | undefined {
  const group = (cf.ctx as HttpCtx).srv[UPSTREAM] as object;
  let conf = confs.get(group);
  if (!conf) confs.set(group, (conf = {}));
  if (conf.sticky) return 'is duplicate';
  const zones: ShmZones = (cf.cycle.confs.shmZones ??= new Map());
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
};

/** The balancer a group uses: its method's, wrapped when the block has `sticky`. */
export function stickyFor(group: Pick<UpstreamGroup, 'name' | 'peers' | 'backup'>, balancer: Balancer): Balancer {
  const conf = confs.get(group);
  if (!conf?.sticky) return balancer;
  return stickyBalancer(group, balancer, conf.sticky);
}
