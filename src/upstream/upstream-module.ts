import { A, C, TAKE12, type Cf, type Module } from '../conf/module';
import { ConfError } from '../conf/errors';
import { parseNumber, parseSize, parseTime } from '../conf/values';
import { compile, http, type HttpMainConf, type HttpModuleHooks } from '../http/core-conf';
import { hashBalancer } from './hash';
import { ipHash } from './ip-hash';
import { leastConn } from './least-conn';
import { Upstream, type ServerConf } from './peers';
import { randomBalancer } from './random';
import { roundRobin } from './round-robin';
import { parseSticky, stickyBalancer, type StickyConf } from './sticky';
import { BLOCK_FLAGS, F, NO_BACKUP_FLAGS, parseServer } from './server-conf';
import type { Balancer } from './types';
import { clearResolveCache, resolveHost } from './url';

// ngx_http_upstream_module's `upstream` block and `server`, with the
// directives of the balancer modules that stand in it (least_conn, ip_hash,
// hash, random), keepalive's and zone's. The groups get their peers when
// the http block closes, as ngx_http_upstream_init_main_conf does.

export const UPSTREAM = 'http_upstream';

export interface UpstreamMainConf {
  /** every group, explicit or implicit, in the order nginx keeps them */
  upstreams: Upstream[];
  /** the cycle's shared memory zones (cycle.confs.shmZones), once a `zone` was seen */
  zones?: Map<string, { size: number; tag: string }>;
}

/** A group being read: what the block's directives set before init. */
interface BlockConf {
  servers: ServerConf[];
  /** the method's balancer, made once the group has peers */
  makeBalancer?: () => Balancer & { init?(g: Upstream): void };
  /** uscf->peer.init_upstream: which directive set it last */
  initUpstream?: 'method' | 'keepalive';
  keepalive?: number;
  keepaliveLost?: boolean;
  keepaliveRequests?: number;
  keepaliveTime?: number;
  keepaliveTimeout?: number;
  sticky?: StickyConf;
}

const blockConf = new WeakMap<Upstream, BlockConf>();

export const upstreamMain = (main: HttpMainConf): UpstreamMainConf => main.ctx.main[UPSTREAM];

interface AddUrl {
  host: string;
  port: number;
  noPort: boolean;
  /** for unix: URLs, the socket path (host is the path too, as in nginx) */
  unix?: string;
}

/**
 * ngx_http_upstream_add. `flags` has CREATE for an upstream block; without
 * it (proxy_pass) an explicit block of that name is found whether it comes
 * before or after, and a host gets an implicit group of its own port.
 */
export function upstreamAdd(cf: Cf, u: AddUrl, flags: number): Upstream {
  const umcf: UpstreamMainConf = http(cf).ctx.main[UPSTREAM];
  const host = u.host.toLowerCase();
  for (const uscf of umcf.upstreams) {
    if (uscf.name.toLowerCase() !== host) continue;
    if (flags & F.CREATE && uscf.flags & F.CREATE) throw cf.error(`duplicate upstream "${u.host}"`);
    if (uscf.flags & F.CREATE && !u.noPort) throw cf.error(`upstream "${u.host}" may not have port ${u.port}`);
    if (flags & F.CREATE && !uscf.noPort) {
      throw new ConfError(`upstream "${u.host}" may not have port ${uscf.port}`, uscf.file, uscf.line);
    }
    if (uscf.port && u.port && uscf.port !== u.port) continue;
    if (flags & F.CREATE) {
      uscf.flags = flags;
      uscf.port = 0;
      uscf.implicit = false;
    }
    return uscf;
  }
  const uscf = new Upstream(u.host, cf.node.file, cf.node.endLine, { implicit: !(flags & F.CREATE), port: u.port, noPort: u.noPort });
  uscf.flags = flags;
  // a literal IPv6 address or a unix socket is its own server, with nginx's zeroed parameters
  if (u.unix !== undefined || u.host.startsWith('[')) {
    const addrs = u.unix !== undefined
      ? [{ name: `unix:${u.unix}`, host: u.unix, port: 0, family: 'unix' as const, socketPath: u.unix }]
      : resolveHost(u.host.slice(1, -1), u.port)?.map((a) => ({ ...a, family: 6 as const }));
    if (addrs?.length === 1) {
      uscf.servers = [{ name: '', addrs, weight: 0, maxFails: 0, failTimeout: 0, maxConns: 0, backup: false, down: false }];
    }
  }
  umcf.upstreams.push(uscf);
  return uscf;
}

function upstreamBlock(cf: Cf): string | undefined {
  const uscf = upstreamAdd(cf, { host: cf.args[0], port: 0, noPort: true }, BLOCK_FLAGS);
  const conf: BlockConf = { servers: [] };
  blockConf.set(uscf, conf);
  const main = http(cf);
  cf.block(cf.node.block!, C.HTTP_UPS, 'http', { main: main.ctx.main, srv: { [UPSTREAM]: uscf }, loc: {} });
  if (conf.servers.length === 0) throw cf.error('no servers are inside upstream', cf.node.blockEndLine);
  uscf.servers = conf.servers;
  return undefined;
}

const conf = (uscf: Upstream): BlockConf => blockConf.get(uscf)!;

/** The method directives' common part: "load balancing method redefined", the new flags. */
function setMethod(cf: Cf, uscf: Upstream, flags: number, make: BlockConf['makeBalancer']): void {
  const c = conf(uscf);
  if (c.initUpstream) cf.warn('load balancing method redefined');
  // keepalive wraps the method set before it; a method set after replaces it
  if (c.initUpstream === 'keepalive') c.keepaliveLost = true;
  c.initUpstream = 'method';
  c.makeBalancer = make;
  uscf.flags = flags;
  uscf.method = { name: cf.name, file: cf.node.file, line: cf.node.endLine };
}

function hash(cf: Cf, uscf: Upstream): string | undefined {
  const key = compile(cf, cf.args[0]);
  let consistent = false;
  const method = () => hashBalancer(key, consistent);
  setMethod(cf, uscf, NO_BACKUP_FLAGS, method);
  if (cf.args.length === 2) {
    if (cf.args[1] !== 'consistent') throw cf.error(`invalid parameter "${cf.args[1]}"`);
    consistent = true;
  }
  return undefined;
}

function random(cf: Cf, uscf: Upstream): string | undefined {
  let two = false;
  setMethod(cf, uscf, NO_BACKUP_FLAGS, () => randomBalancer(two));
  if (cf.args.length === 0) return undefined;
  if (cf.args[0] !== 'two') throw cf.error(`invalid parameter "${cf.args[0]}"`);
  two = true;
  if (cf.args.length === 2 && cf.args[1] !== 'least_conn') throw cf.error(`invalid parameter "${cf.args[1]}"`);
  return undefined;
}

function keepalive(cf: Cf, uscf: Upstream): string | undefined {
  const c = conf(uscf);
  if (c.keepalive) return 'is duplicate';
  const n = parseNumber(cf.args[0]);
  if (Number.isNaN(n) || n === 0) throw cf.error(`invalid value "${cf.args[0]}" in "${cf.name}" directive`);
  c.keepalive = n;
  c.keepaliveLost = false;
  c.initUpstream = 'keepalive';
  return undefined;
}

type KaKey = 'keepaliveRequests' | 'keepaliveTime' | 'keepaliveTimeout';
const kaSlot = (key: KaKey, parse: (s: string) => number, reason: string) => (cf: Cf, uscf: Upstream): string | undefined => {
  const c = conf(uscf);
  if (c[key] !== undefined) return 'is duplicate';
  const v = parse(cf.args[0]);
  if (Number.isNaN(v)) return reason;
  c[key] = v;
  return undefined;
};

/** ngx_http_upstream_zone and ngx_shared_memory_add's checks */
function zone(cf: Cf, uscf: Upstream): string | undefined {
  const name = cf.args[0];
  if (name === '') throw cf.error(`invalid zone name "${name}"`);
  let size = 0;
  if (cf.args.length === 2) {
    size = parseSize(cf.args[1]);
    if (Number.isNaN(size)) throw cf.error(`invalid zone size "${cf.args[1]}"`);
    if (size < 8 * 4096) throw cf.error(`zone "${name}" is too small`);
  }
  const zones: Map<string, { size: number; tag: string }> = (cf.cycle.confs.shmZones ??= new Map());
  upstreamMain(http(cf)).zones = zones;
  const z = zones.get(name);
  if (z) {
    if (z.tag !== UPSTREAM) throw cf.error(`the shared memory zone "${name}" is already declared for a different use`);
    if (size && z.size && size !== z.size) {
      throw cf.error(`the size ${size} of shared memory zone "${name}" conflicts with already declared size ${z.size}`);
    }
    if (size) z.size = size;
  } else {
    zones.set(name, { size, tag: UPSTREAM });
  }
  uscf.zone = name;
  return undefined;
}

const UPS = C.HTTP_UPS;

export const upstreamModule: Module & HttpModuleHooks = {
  name: UPSTREAM,
  provides: [
    'http_upstream', 'http_upstream_hash', 'http_upstream_ip_hash', 'http_upstream_least_conn',
    'http_upstream_random', 'http_upstream_keepalive', 'http_upstream_zone',
  ],
  type: 'http',
  createMain: (): UpstreamMainConf => ({ upstreams: [] }),
  preconfiguration() {
    clearResolveCache();
  },
  postconfiguration(main, cf) {
    for (const uscf of upstreamMain(main).upstreams) initUpstream(uscf, cf);
    // ngx_init_cycle: a zone no directive gave a size (reported once the configuration is read)
    for (const [name, z] of upstreamMain(main).zones ?? []) {
      if (z.size === 0) throw Object.assign(new ConfError(`zero size shared memory zone "${name}"`), { afterParse: true });
    }
  },
  commands: [
    { name: 'upstream', type: C.HTTP_MAIN | A.BLOCK | A.TAKE1, level: 'main', set: upstreamBlock },
    {
      name: 'server',
      type: UPS | A.MORE1,
      level: 'srv',
      set(cf, uscf: Upstream) {
        conf(uscf).servers.push(parseServer(cf, uscf.flags));
      },
    },
    { name: 'least_conn', type: UPS | A.NOARGS, level: 'srv', set: (cf, u: Upstream) => setMethod(cf, u, BLOCK_FLAGS, () => leastConn) },
    { name: 'ip_hash', type: UPS | A.NOARGS, level: 'srv', set: (cf, u: Upstream) => setMethod(cf, u, NO_BACKUP_FLAGS, () => ipHash) },
    { name: 'hash', type: UPS | TAKE12, level: 'srv', set: hash },
    { name: 'random', type: UPS | A.NOARGS | TAKE12, level: 'srv', set: random },
    { name: 'keepalive', type: UPS | A.TAKE1, level: 'srv', set: keepalive },
    { name: 'keepalive_requests', type: UPS | A.TAKE1, level: 'srv', set: kaSlot('keepaliveRequests', parseNumber, 'invalid number') },
    { name: 'keepalive_time', type: UPS | A.TAKE1, level: 'srv', set: kaSlot('keepaliveTime', (s) => parseTime(s), 'invalid value') },
    { name: 'keepalive_timeout', type: UPS | A.TAKE1, level: 'srv', set: kaSlot('keepaliveTimeout', (s) => parseTime(s), 'invalid value') },
    { name: 'zone', type: UPS | TAKE12, level: 'srv', set: zone },
    {
      name: 'sticky',
      type: UPS | A.MORE1,
      level: 'srv',
      set(cf, uscf: Upstream) {
        const c = conf(uscf);
        if (c.sticky) return 'is duplicate';
        c.sticky = parseSticky(cf);
        return undefined;
      },
    },
  ],
};

type InitCf = { error(reason: string, file?: string, line?: number): ConfError };

/** ngx_http_upstream_init_round_robin and the method's init_upstream. */
export function initUpstream(uscf: Upstream, cf: InitCf): void {
  const c = blockConf.get(uscf);
  if (uscf.servers) {
    uscf.setPeers(uscf.servers);
    if (uscf.peers.length === 0) throw cf.error(`no servers in upstream "${uscf.name}" in ${uscf.file}:${uscf.line}`);
  } else {
    // an upstream implicitly defined by proxy_pass
    if (uscf.port === 0) throw cf.error(`no port in upstream "${uscf.name}" in ${uscf.file}:${uscf.line}`);
    const addrs = resolveHost(uscf.name, uscf.port);
    if (!addrs) throw cf.error(`host not found in upstream "${uscf.name}" in ${uscf.file}:${uscf.line}`);
    uscf.setPeers([{ name: '', addrs, weight: 1, maxFails: 1, failTimeout: 10, maxConns: 0, backup: false, down: false }]);
  }
  const method: Balancer & { init?(g: Upstream): void } = c?.makeBalancer?.() ?? roundRobin;
  const balancer = c?.sticky ? stickyBalancer(method, c.sticky) : method;
  balancer.init?.(uscf);
  uscf.balancer = balancer;
  if (c) {
    uscf.keepalive = {
      max: c.keepalive && !c.keepaliveLost ? c.keepalive : 0,
      requests: c.keepaliveRequests ?? 1000,
      time: c.keepaliveTime ?? 3600000,
      timeout: c.keepaliveTimeout ?? 60000,
    };
  }
}
