import { createHash } from 'node:crypto';
import type { Cf } from '../conf/module';
import { parseSize, parseTime } from '../conf/values';
import { compile } from '../http/core-conf';
import { cookieValue } from '../http/core-variables';
import type { Template } from '../http/variables';
import { clock, type Upstream, type UpstreamPeer } from './peers';
import { touchChecked } from './round-robin';
import type { Balancer, Peer, PickState, UpstreamGroup } from './types';

// `sticky` (nginx Plus's session affinity, issue 8): a wrapper around the
// group's balancing method. A request bound to a server (by a cookie nodinx
// set, a route variable, or a learned session) goes to it while it is
// available and not yet tried; otherwise the method chooses, as if the
// client were not bound. Sessions and bindings are per worker (no zone
// is shared).

export type StickyConf =
  | { mode: 'cookie'; name: string; expires?: number | 'max'; domain?: string; path?: string; httponly: boolean; secure: boolean; samesite?: string }
  | { mode: 'route'; routes: Template[] }
  | { mode: 'learn'; create: Template[]; lookup: Template[]; zone: string; timeout: number; header: boolean };

/** `sticky cookie|route|learn ...`, as nginx Plus documents it. */
export function parseSticky(cf: Cf): StickyConf {
  const [mode, ...params] = cf.args;
  const invalid = (v: string) => cf.error(`invalid parameter "${v}"`);
  if (mode === 'cookie') {
    const [name, ...rest] = params;
    if (!name) throw cf.error(`invalid number of arguments in "sticky" directive`);
    const c: StickyConf = { mode, name, httponly: false, secure: false };
    for (const v of rest) {
      if (v.startsWith('expires=')) {
        const t = v.slice(8) === 'max' ? 'max' : parseTime(v.slice(8), true);
        if (t !== 'max' && Number.isNaN(t)) throw invalid(v);
        c.expires = t;
      } else if (v.startsWith('domain=') && v.length > 7) c.domain = v.slice(7);
      else if (v.startsWith('path=') && v.length > 5) c.path = v.slice(5);
      else if (v.startsWith('samesite=') && ['strict', 'lax', 'none'].includes(v.slice(9).toLowerCase())) c.samesite = v.slice(9);
      else if (v === 'httponly') c.httponly = true;
      else if (v === 'secure') c.secure = true;
      else throw invalid(v);
    }
    return c;
  }
  if (mode === 'route') {
    if (params.length === 0) throw cf.error(`invalid number of arguments in "sticky" directive`);
    return {
      mode,
      routes: params.map((v) => {
        if (!v.startsWith('$')) throw invalid(v);
        return compile(cf, v);
      }),
    };
  }
  if (mode === 'learn') {
    const c: StickyConf = { mode, create: [], lookup: [], zone: '', timeout: 600000, header: false };
    for (const v of params) {
      if (v.startsWith('create=') && v.length > 7) c.create.push(compile(cf, v.slice(7)));
      else if (v.startsWith('lookup=') && v.length > 7) c.lookup.push(compile(cf, v.slice(7)));
      else if (v.startsWith('zone=')) c.zone = learnZone(cf, v.slice(5));
      else if (v.startsWith('timeout=')) {
        const t = parseTime(v.slice(8));
        if (Number.isNaN(t)) throw invalid(v);
        c.timeout = t;
      } else if (v === 'header') c.header = true;
      else if (v === 'sync') continue;
      else throw invalid(v);
    }
    if (c.create.length === 0) throw cf.error(`"create" parameter is missing in "sticky" directive`);
    if (c.lookup.length === 0) throw cf.error(`"lookup" parameter is missing in "sticky" directive`);
    if (!c.zone) throw cf.error(`"zone" parameter is missing in "sticky" directive`);
    return c;
  }
  throw invalid(mode);
}

/** zone=name:size, with ngx_shared_memory_add's checks */
function learnZone(cf: Cf, value: string): string {
  const colon = value.lastIndexOf(':');
  const name = colon < 0 ? value : value.slice(0, colon);
  if (colon <= 0) throw cf.error(`invalid zone size "${value}"`);
  const size = parseSize(value.slice(colon + 1));
  if (Number.isNaN(size)) throw cf.error(`invalid zone size "${value}"`);
  if (size < 8 * 4096) throw cf.error(`zone "${name}" is too small`);
  const zones: Map<string, { size: number; tag: string }> = (cf.cycle.confs.shmZones ??= new Map());
  const z = zones.get(name);
  if (z && z.tag !== 'sticky') throw cf.error(`the shared memory zone "${name}" is already declared for a different use`);
  if (z && z.size && z.size !== size) throw cf.error(`the size ${size} of shared memory zone "${name}" conflicts with already declared size ${z.size}`);
  zones.set(name, { size, tag: 'sticky' });
  return name;
}

/** What a cookie names a server by: its route=, else the MD5 of its address (or socket path), in hex. */
export function stickyId(peer: Peer): string {
  if (peer.route !== undefined) return peer.route;
  return createHash('md5').update(peer.socketPath ?? peer.name, 'latin1').digest('hex');
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** ngx_http_cookie_time: "Thu, 31-Dec-2037 23:55:55 GMT" */
export function cookieTime(ms: number): string {
  const d = new Date(ms);
  return `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} GMT`;
}

export function setCookieText(c: Extract<StickyConf, { mode: 'cookie' }>, value: string, now: number): string {
  let s = `${c.name}=${value}`;
  if (c.expires === 'max') s += '; expires=Thu, 31-Dec-2037 23:55:55 GMT; max-age=315360000';
  else if (c.expires !== undefined) s += `; expires=${cookieTime(now + c.expires * 1000)}; max-age=${c.expires}`;
  if (c.domain) s += `; domain=${c.domain}`;
  if (c.path) s += `; path=${c.path}`;
  if (c.samesite) s += `; samesite=${c.samesite}`;
  if (c.secure) s += '; secure';
  if (c.httponly) s += '; httponly';
  return s;
}

const firstNonEmpty = (templates: Template[], state: PickState): string | undefined => {
  for (const t of templates) {
    const v = t.run(state.r);
    if (v !== '') return v;
  }
  return undefined;
};

interface Session {
  peer: UpstreamPeer;
  expires: number;
}

/** The group's method wrapped by sticky: bound requests go to their server while it can serve. */
export function stickyBalancer(inner: Balancer & { init?(g: UpstreamGroup): void }, conf: StickyConf): Balancer & { init(g: UpstreamGroup): void } {
  let byId = new Map<string, UpstreamPeer>();
  const sessions = new Map<string, Session>();
  const bound = (state: PickState): UpstreamPeer | undefined => state.sticky?.peer as UpstreamPeer | undefined;

  const lookup = (state: PickState): { peer?: UpstreamPeer; reason: string } => {
    if (conf.mode === 'cookie') {
      const v = cookieValue(state.r, conf.name);
      if (v === undefined) return { reason: `no "${conf.name}" cookie` };
      const peer = byId.get(v);
      return peer ? { peer, reason: `cookie ${conf.name}=${v}` } : { reason: `cookie ${conf.name}=${v} names no server` };
    }
    if (conf.mode === 'route') {
      const v = firstNonEmpty(conf.routes, state);
      if (v === undefined) return { reason: 'no route' };
      const peer = byId.get(v);
      return peer ? { peer, reason: `route ${v}` } : { reason: `route ${v} names no server` };
    }
    const key = firstNonEmpty(conf.lookup, state);
    if (key === undefined) return { reason: 'no session to look up' };
    const now = clock();
    const s = sessions.get(key);
    if (!s || s.expires <= now) {
      sessions.delete(key);
      return { reason: `session ${key} unknown` };
    }
    s.expires = now + conf.timeout;
    return { peer: s.peer, reason: `learned session ${key}` };
  };

  return {
    method: `${inner.method}, sticky ${conf.mode}`,
    init(group) {
      inner.init?.(group);
      const up = group as Upstream;
      byId = new Map();
      for (const p of [...up.peers, ...up.backup]) {
        const id = conf.mode === 'route' ? p.route : stickyId(p);
        if (id !== undefined && !byId.has(id)) byId.set(id, p);
      }
    },
    initPeer(group, state) {
      inner.initPeer?.(group, state);
      state.sticky = lookup(state);
    },
    select(group, state) {
      const peer = bound(state);
      if (peer && !state.tried.has(peer) && peer.backup === !!state.inBackup) {
        const now = clock();
        if (peer.available(now)) {
          touchChecked(peer, now);
          state.reason = `sticky: ${state.sticky!.reason}`;
          return peer;
        }
      }
      return inner.select(group, state);
    },
    describe: (group, state) => [...(inner.describe?.(group, state) ?? [inner.method]), `sticky ${conf.mode}`],
    responded(group, state, peer, upstreamHeaders, out) {
      inner.responded?.(group, state, peer, upstreamHeaders, out);
      if (conf.mode === 'cookie') {
        const id = stickyId(peer);
        if (cookieValue(state.r, conf.name) !== id) out.push(['Set-Cookie', setCookieText(conf, id, Date.now())]);
      } else if (conf.mode === 'learn') {
        const key = firstNonEmpty(conf.create, state);
        if (key !== undefined) sessions.set(key, { peer: peer as UpstreamPeer, expires: clock() + conf.timeout });
      }
    },
  };
}
