import { ConfError } from '../conf/errors';
import { parseSize, parseTime } from '../conf/values';
import type { Template } from '../http/variables';

// The `sticky` directive of an upstream block, read as nginx Plus documents
// it (ngx_http_upstream_module, "sticky"), into data the balancer only looks
// up: three methods, cookie, route and learn. nginx 1.22 OSS has no
// `sticky`; the wording of the errors follows nginx's for the same kinds of
// mistake (`invalid parameter "..."`, `invalid zone size "..."`).

export interface StickyCookieConf {
  method: 'cookie';
  name: string;
  /** seconds; 'max' is nginx's "31 Dec 2037 23:55:55 GMT"; undefined: a session cookie */
  expires?: number | 'max';
  domain?: Template;
  path?: string;
  httponly: boolean;
  secure: boolean;
  samesite?: 'Strict' | 'Lax' | 'None';
}

export interface StickyRouteConf {
  method: 'route';
  /** the first non-empty value names the route */
  routes: Template[];
}

/** `memcached=` of sticky learn: MSM's `memcachedNodes` syntax, "n1:host:port n2:host:port". */
export interface MemcachedNode {
  id: string;
  host: string;
  port: number;
}

/** How a `create=` value is read: a variable in general, the upstream header itself for the usual cases. */
export type CreateValue =
  | { kind: 'cookie'; name: string }
  | { kind: 'header'; name: string }
  | { kind: 'template'; template: Template };

export interface StickyLearnConf {
  method: 'learn';
  create: CreateValue[];
  lookup: Template[];
  zone: string;
  /** bytes */
  size: number;
  /** ms a session lives without being looked up */
  timeout: number;
  /** learn from the response header, not once the response is done */
  header: boolean;
  /** accepted: nginx Plus's zone_sync; nodinx shares the table through memcached= */
  sync: boolean;
  memcached?: MemcachedNode[];
}

/** the cycle's shared memory zones by name (cycle.confs.shmZones, shared with upstream `zone`) */
export type ShmZones = Map<string, { size: number; tag: string }>;
export const STICKY_ZONE = 'http_upstream_sticky';

export type StickyConf = StickyCookieConf | StickyRouteConf | StickyLearnConf;

/** nginx Plus: "one megabyte zone can store about 4000 sessions on the 64-bit platform" */
export const LEARN_BYTES_PER_SESSION = 262;
/** ngx_shared_memory_add needs at least 8 pages (nginx's limit_req_zone "is too small") */
const MIN_ZONE = 8 * 4096;
const DEFAULT_TIMEOUT = 10 * 60 * 1000;

const invalid = (arg: string): ConfError => new ConfError(`invalid parameter "${arg}"`);

/** compiles a value with variables (core-conf's compile at load; throws ConfError) */
export type Compile = (source: string) => Template;

function cookie(args: string[], compile: Compile): StickyCookieConf {
  if (args.length < 2) throw new ConfError('invalid number of arguments in "sticky" directive');
  const name = args[1];
  if (name === '' || /[\s;,=]/.test(name)) throw new ConfError(`invalid cookie name "${name}"`);
  const conf: StickyCookieConf = { method: 'cookie', name, httponly: false, secure: false };
  for (const arg of args.slice(2)) {
    if (arg.startsWith('expires=')) {
      const v = arg.slice(8);
      if (v === 'max') conf.expires = 'max';
      else {
        const sec = parseTime(v, true);
        if (Number.isNaN(sec)) throw invalid(arg);
        conf.expires = sec;
      }
    } else if (arg.startsWith('domain=') && arg.length > 7) {
      conf.domain = compile(arg.slice(7));
    } else if (arg.startsWith('path=') && arg.length > 5) {
      conf.path = arg.slice(5);
    } else if (arg === 'httponly') {
      conf.httponly = true;
    } else if (arg === 'secure') {
      conf.secure = true;
    } else if (arg.startsWith('samesite=')) {
      const v = arg.slice(9).toLowerCase();
      if (v === 'strict') conf.samesite = 'Strict';
      else if (v === 'lax') conf.samesite = 'Lax';
      else if (v === 'none') conf.samesite = 'None';
      else throw invalid(arg);
    } else {
      throw invalid(arg);
    }
  }
  return conf;
}

function route(args: string[], compile: Compile): StickyRouteConf {
  if (args.length < 2) throw new ConfError('invalid number of arguments in "sticky" directive');
  return {
    method: 'route',
    routes: args.slice(1).map((a) => {
      // the documented form is variables; a constant would route every request alike
      if (!a.includes('$')) throw invalid(a);
      return compile(a);
    }),
  };
}

/** `$upstream_cookie_X` and `$upstream_http_X` alone are read from the response the hook is given. */
function createValue(source: string, compile: Compile): CreateValue {
  const m = /^\$(?:\{(\w+)\}|(\w+))$/.exec(source);
  const name = (m?.[1] ?? m?.[2])?.toLowerCase();
  if (name?.startsWith('upstream_cookie_') && name.length > 16) return { kind: 'cookie', name: name.slice(16) };
  if (name?.startsWith('upstream_http_') && name.length > 14) {
    return { kind: 'header', name: name.slice(14).replace(/_/g, '-') };
  }
  return { kind: 'template', template: compile(source) };
}

/** MSM's memcachedNodes: `id:host:port` entries separated by whitespace or commas. */
export function parseMemcachedNodes(value: string): MemcachedNode[] | undefined {
  const nodes: MemcachedNode[] = [];
  for (const entry of value.split(/[\s,]+/).filter(Boolean)) {
    const m = /^([A-Za-z0-9_]+):([^:\s]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})$/.exec(entry);
    if (!m) return undefined;
    const port = Number(m[3]);
    if (port < 1 || port > 65535) return undefined;
    if (nodes.some((n) => n.id === m[1])) return undefined;
    nodes.push({ id: m[1], host: m[2].replace(/^\[|\]$/g, ''), port });
  }
  return nodes.length ? nodes : undefined;
}

function learn(args: string[], compile: Compile, zones: ShmZones): StickyLearnConf {
  const create: CreateValue[] = [];
  const lookup: Template[] = [];
  let zone: string | undefined;
  let size = 0;
  let timeout = DEFAULT_TIMEOUT;
  let header = false, sync = false;
  let memcached: MemcachedNode[] | undefined;
  for (const arg of args.slice(1)) {
    if (arg.startsWith('create=') && arg.length > 7) {
      create.push(createValue(arg.slice(7), compile));
    } else if (arg.startsWith('lookup=') && arg.length > 7) {
      lookup.push(compile(arg.slice(7)));
    } else if (arg.startsWith('zone=')) {
      const v = arg.slice(5);
      const colon = v.lastIndexOf(':');
      if (colon <= 0) throw new ConfError(`invalid zone size "${v}"`);
      zone = v.slice(0, colon);
      size = parseSize(v.slice(colon + 1));
      if (Number.isNaN(size) || size === 0) throw new ConfError(`invalid zone size "${v}"`);
      if (size < MIN_ZONE) throw new ConfError(`zone "${zone}" is too small`);
    } else if (arg.startsWith('timeout=')) {
      timeout = parseTime(arg.slice(8));
      if (Number.isNaN(timeout) || timeout === 0) throw invalid(arg);
    } else if (arg === 'header') {
      header = true;
    } else if (arg === 'sync') {
      sync = true;
    } else if (arg.startsWith('memcached=')) {
      memcached = parseMemcachedNodes(arg.slice(10));
      if (!memcached) throw invalid(arg);
    } else {
      throw invalid(arg);
    }
  }
  const missing = (p: string) => new ConfError(`"${p}" parameter is missing in "sticky" directive`);
  if (create.length === 0) throw missing('create');
  if (lookup.length === 0) throw missing('lookup');
  if (zone === undefined) throw missing('zone');
  // ngx_shared_memory_add: zones have one namespace (upstream `zone` too)
  const z = zones.get(zone);
  if (z && z.tag !== STICKY_ZONE) throw new ConfError(`the shared memory zone "${zone}" is already declared for a different use`);
  if (z && z.size !== size) throw new ConfError(`the size ${size} of shared memory zone "${zone}" conflicts with already declared size ${z.size}`);
  zones.set(zone, { size, tag: STICKY_ZONE });
  return { method: 'learn', create, lookup, zone, size, timeout, header, sync, memcached };
}

/** The arguments of `sticky` (args[0] is the method). Throws the reason; the caller adds file:line. */
export function parseSticky(args: string[], compile: Compile, zones: ShmZones): StickyConf {
  switch (args[0]) {
    case 'cookie':
      return cookie(args, compile);
    case 'route':
      return route(args, compile);
    case 'learn':
      return learn(args, compile, zones);
    default:
      throw invalid(args[0]);
  }
}
