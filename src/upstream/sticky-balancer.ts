import { cookieValue } from '../http/core-variables';
import type { HttpRequest } from '../http/request';
import type { CreateValue, StickyConf, StickyLearnConf } from './sticky-conf';
import { peerRoute, stickyCookie } from './sticky-cookie';
import { LearnZone, type LearnStore } from './sticky-learn';
import { MemcachedLearnStore } from './sticky-memcached';
import { clock } from './peers';
import { touchChecked } from './round-robin';
import type { UpstreamPeer } from './peers';
import { NO_LIVE, type Balancer, type Peer, type PickState, type UpstreamGroup } from './types';

/** the upstream response's header lines: name/value pairs (the proxy's) or Node's object */
export type UpstreamHeaders = ReadonlyArray<readonly [string, string]> | Readonly<Record<string, string | string[] | undefined>>;

// Session affinity in front of any balancing method, as nginx Plus's sticky
// wraps the method's peer.init: the first try of a request goes to the
// server the session names when that server is up, not full and not tried;
// otherwise (no session, an unknown route, a server down, a retry) the
// group's own method picks "as if the client has not been bound yet".

/** What one request's sticky decision found (kept per PickState). */
interface StickyPick {
  /** the session's value: the cookie, the route, the lookup key */
  value?: string;
  /** the server it names */
  target?: Peer;
  /** why there is no target when there is a value (explain, the reason) */
  why?: string;
  /** the sticky server was offered (first try only) */
  offered: boolean;
  /** the sticky server took the request */
  chosen: boolean;
}

export interface StickyBalancer extends Balancer {
  readonly inner: Balancer;
  readonly sticky: StickyConf;
  readonly store?: LearnStore;
}

function firstValue(values: Array<{ run(r: HttpRequest): string }>, r: HttpRequest): string | undefined {
  for (const t of values) {
    const v = t.run(r);
    if (v !== '') return v;
  }
  return undefined;
}

/** The route a `sticky route` value names: the whole value, else (a nodinx addition) Tomcat's jvmRoute after the first '.'. */
function routeOf(byRoute: Map<string, Peer>, value: string): Peer | undefined {
  const p = byRoute.get(value);
  if (p) return p;
  const dot = value.indexOf('.');
  return dot >= 0 ? byRoute.get(value.slice(dot + 1)) : undefined;
}

function headerValues(h: UpstreamHeaders, lname: string): string[] {
  const out: string[] = [];
  if (Array.isArray(h)) {
    for (const [n, v] of h as ReadonlyArray<readonly [string, string]>) if (n.toLowerCase() === lname) out.push(v);
    return out;
  }
  const v = (h as Record<string, string | string[] | undefined>)[lname];
  if (v === undefined) return out;
  return Array.isArray(v) ? v : [v];
}

/** $upstream_cookie_NAME: the value of the first Set-Cookie of that name (ngx_http_parse_set_cookie_lines). */
export function upstreamCookie(h: UpstreamHeaders, name: string): string | undefined {
  const lname = name.toLowerCase();
  for (const line of headerValues(h, 'set-cookie')) {
    const eq = line.indexOf('=');
    if (eq < 0 || line.slice(0, eq).trim().toLowerCase() !== lname) continue;
    const end = line.indexOf(';', eq);
    return line.slice(eq + 1, end < 0 ? undefined : end).trim();
  }
  return undefined;
}

function created(values: CreateValue[], h: UpstreamHeaders, r: HttpRequest): string | undefined {
  for (const c of values) {
    const v =
      c.kind === 'cookie' ? upstreamCookie(h, c.name) :
      c.kind === 'header' ? headerValues(h, c.name).join(', ') || undefined :
      c.template.run(r);
    if (v) return v;
  }
  return undefined;
}

function describeSticky(c: StickyConf): string {
  if (c.method === 'cookie') return `sticky cookie ${c.name}`;
  if (c.method === 'route') return `sticky route ${c.routes.map((t) => t.source).join(' ')}`;
  const where = c.memcached ? `memcached ${c.memcached.map((n) => `${n.id}:${n.host}:${n.port}`).join(',')}` : `zone ${c.zone} (per worker)`;
  return `sticky learn lookup=${c.lookup.map((t) => t.source).join(',')} in ${where}`;
}

export function learnStore(group: string, conf: StickyLearnConf): LearnStore {
  return conf.memcached ? new MemcachedLearnStore(group, conf.memcached, conf.timeout) : new LearnZone(conf);
}


export function stickyBalancer(group: Pick<UpstreamGroup, 'name' | 'peers' | 'backup'>, inner: Balancer, sticky: StickyConf): StickyBalancer {
  const byRoute = new Map<string, Peer>();
  for (const p of [...group.peers, ...group.backup]) if (!byRoute.has(peerRoute(p))) byRoute.set(peerRoute(p), p);
  const store = sticky.method === 'learn' ? learnStore(group.name, sticky) : undefined;
  const picks = new WeakMap<PickState, StickyPick>();

  const found = (pick: StickyPick, route: string | null | undefined): void => {
    if (route) pick.target = byRoute.get(route);
    else pick.why = route === null ? 'session table unavailable' : 'session not learned';
  };

  /** the session's value and, for cookie and route, its server (synchronous methods) */
  const begin = (state: PickState): StickyPick => {
    const r = state.r;
    const pick: StickyPick = { offered: false, chosen: false };
    if (sticky.method === 'cookie') {
      pick.value = cookieValue(r, sticky.name);
      if (pick.value) pick.target = byRoute.get(pick.value);
    } else if (sticky.method === 'route') {
      pick.value = firstValue(sticky.routes, r);
      if (pick.value) pick.target = routeOf(byRoute, pick.value);
    } else {
      pick.value = firstValue(sticky.lookup, r);
      if (pick.value && store instanceof LearnZone) found(pick, store.get(pick.value));
    }
    picks.set(state, pick);
    return pick;
  };

  return {
    method: inner.method,
    inner,
    sticky,
    store,

    async prepare(g: UpstreamGroup, state: PickState): Promise<void> {
      await inner.prepare?.(g, state);
      if (!(store instanceof MemcachedLearnStore) || picks.has(state)) return;
      const pick: StickyPick = { offered: false, chosen: false, value: firstValue((sticky as StickyLearnConf).lookup, state.r) };
      picks.set(state, pick);
      if (pick.value) found(pick, await store.get(pick.value, state.r));
    },

    select(g: UpstreamGroup, state: PickState): Peer | typeof NO_LIVE {
      const pick = picks.get(state) ?? begin(state);
      // a session on a backup server waits until the request is among the backups
      if (!pick.offered && (!pick.target || pick.target.backup === !!state.inBackup)) {
        pick.offered = true;
        const p = pick.target;
        const now = clock();
        if (p && !state.tried.has(p) && p.available(now)) {
          // as the methods do when they pick (getPeer adds tried and the connection)
          touchChecked(p as UpstreamPeer, now);
          pick.chosen = true;
          state.reason = `sticky ${sticky.method} "${pick.value}"`;
          state.sticky = { peer: p, reason: state.reason };
          return p;
        }
        const peer = inner.select(g, state);
        if (pick.value) {
          const why = p ? `server ${p.name} unavailable` : pick.why ?? 'no server has it';
          state.reason = `sticky ${sticky.method} "${pick.value}": ${why}; ${state.reason ?? inner.method}`;
          state.sticky = { reason: state.reason };
        }
        return peer;
      }
      return inner.select(g, state);
    },

    initPeer(g: UpstreamGroup, state: PickState): void {
      inner.initPeer?.(g, state);
    },

    describe(g: UpstreamGroup, state?: PickState): string[] {
      return [...(inner.describe?.(g, state) ?? [inner.method]), describeSticky(sticky)];
    },

    responded(g: UpstreamGroup, state: PickState, peer: Peer, headers: Array<[string, string]>, out: Array<[string, string]>): void {
      inner.responded?.(g, state, peer, headers, out);
      const r = state.r;
      const pick = picks.get(state);
      if (sticky.method === 'cookie') {
        if (pick?.value !== peerRoute(peer)) out.push(['Set-Cookie', stickyCookie(sticky, peer, r)]);
        return;
      }
      if (sticky.method !== 'learn' || !store) return;
      // a new session the response creates; else (nodinx) a session that moved to another server follows it
      let session = created(sticky.create, headers, r);
      if (!session && pick?.value && pick.target !== peer) session = pick.value;
      if (!session) return;
      const route = peerRoute(peer);
      if (sticky.header) store.set(session, route, r);
      else r.res.once('finish', () => store.set(session, route, r));
    },
  };
}
