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
  /** the sticky server was offered (first try only) */
  offered: boolean;
  /** the sticky server took the request */
  chosen: boolean;
}

export interface StickyBalancer extends Balancer {
  readonly inner: Balancer;
  readonly sticky: StickyConf;
  /** the learn table, made by init() */
  readonly store?: LearnStore;
  /** the group's peers are known: routes, and the learn table (per group, named after it) */
  init(g: UpstreamGroup): void;
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
  return conf.memcached ? new MemcachedLearnStore(group, conf.memcached, conf.timeout) : new LearnZone(conf, () => clock());
}


export function stickyBalancer(inner: Balancer & { init?(g: UpstreamGroup): void }, sticky: StickyConf): StickyBalancer {
  let byRoute = new Map<string, Peer>();
  let store: LearnStore | undefined;
  const picks = new WeakMap<PickState, StickyPick>();

  /** what the session found; the reason in the words `nodinx explain` shows */
  const bind = (state: PickState, pick: StickyPick, reason: string): void => {
    picks.set(state, pick);
    state.sticky = pick.target ? { peer: pick.target, reason } : { reason };
  };

  const learned = (state: PickState, pick: StickyPick, route: string | null | undefined): void => {
    const key = pick.value!;
    if (route === null) return bind(state, pick, `session ${key}: table unavailable`);
    if (route === undefined) return bind(state, pick, `session ${key} unknown`);
    pick.target = byRoute.get(route);
    bind(state, pick, pick.target ? `learned session ${key}` : `session ${key} names no server`);
  };

  /** the session's value and its server; for the memcached table, prepare() looks it up */
  const begin = (state: PickState): void => {
    const r = state.r;
    const pick: StickyPick = { offered: false, chosen: false };
    if (sticky.method === 'cookie') {
      pick.value = cookieValue(r, sticky.name);
      if (pick.value === undefined) return bind(state, pick, `no "${sticky.name}" cookie`);
      pick.target = byRoute.get(pick.value);
      const what = `cookie ${sticky.name}=${pick.value}`;
      return bind(state, pick, pick.target ? what : `${what} names no server`);
    }
    if (sticky.method === 'route') {
      pick.value = firstValue(sticky.routes, r);
      if (pick.value === undefined) return bind(state, pick, 'no route');
      pick.target = routeOf(byRoute, pick.value);
      if (!pick.target) return bind(state, pick, `route ${pick.value} names no server`);
      const route = peerRoute(pick.target);
      return bind(state, pick, route === pick.value ? `route ${route}` : `route ${route} (the jvmRoute of ${pick.value})`);
    }
    pick.value = firstValue(sticky.lookup, r);
    if (pick.value === undefined) return bind(state, pick, 'no session to look up');
    if (store instanceof LearnZone) return learned(state, pick, store.get(pick.value));
    bind(state, pick, `session ${pick.value} not looked up`);
  };

  return {
    method: `${inner.method}, sticky ${sticky.method}`,
    inner,
    sticky,
    get store() {
      return store;
    },

    init(g: UpstreamGroup): void {
      inner.init?.(g);
      byRoute = new Map();
      for (const p of [...g.peers, ...g.backup]) if (!byRoute.has(peerRoute(p))) byRoute.set(peerRoute(p), p);
      if (sticky.method === 'learn') store = learnStore(g.name, sticky);
    },

    initPeer(g: UpstreamGroup, state: PickState): void {
      inner.initPeer?.(g, state);
      if (!(store instanceof MemcachedLearnStore)) begin(state);
    },

    async prepare(g: UpstreamGroup, state: PickState): Promise<void> {
      await inner.prepare?.(g, state);
      if (!(store instanceof MemcachedLearnStore) || picks.has(state)) return;
      const pick: StickyPick = { offered: false, chosen: false, value: firstValue((sticky as StickyLearnConf).lookup, state.r) };
      if (pick.value === undefined) return bind(state, pick, 'no session to look up');
      learned(state, pick, await store.get(pick.value, state.r));
    },

    select(g: UpstreamGroup, state: PickState): Peer | typeof NO_LIVE {
      if (!picks.has(state)) begin(state);
      const pick = picks.get(state)!;
      // a session on a backup server waits until the request is among the backups
      if (!pick.offered && (!pick.target || pick.target.backup === !!state.inBackup)) {
        pick.offered = true;
        const p = pick.target;
        const now = clock();
        if (p && !state.tried.has(p) && p.available(now)) {
          // as the methods do when they pick (getPeer adds tried and the connection)
          touchChecked(p as UpstreamPeer, now);
          pick.chosen = true;
          state.reason = `sticky: ${state.sticky!.reason}`;
          state.r.trace?.push({ kind: 'sticky', upstream: g.name, rule: state.sticky!.reason, peer: p.name });
          return p;
        }
        const peer = inner.select(g, state);
        const why = p ? `, server ${p.name} unavailable` : '';
        if (pick.value !== undefined) state.reason = `sticky: ${state.sticky!.reason}${why}; ${state.reason ?? inner.method}`;
        state.r.trace?.push({
          kind: 'sticky', upstream: g.name, rule: `${state.sticky!.reason}${why}; ${inner.method} chooses`,
          peer: peer === NO_LIVE ? peer : peer.name,
        });
        return peer;
      }
      return inner.select(g, state);
    },

    describe(g: UpstreamGroup, state?: PickState): string[] {
      return [...(inner.describe?.(g, state) ?? [inner.method]), describeSticky(sticky)];
    },

    responded(g: UpstreamGroup, state: PickState, peer: Peer, headers: Array<[string, string]>, out: Array<[string, string]>): void {
      inner.responded?.(g, state, peer, headers, out);
      const r = state.r;
      const pick = picks.get(state);
      if (sticky.method === 'cookie') {
        if (pick?.value !== peerRoute(peer)) out.push(['Set-Cookie', stickyCookie(sticky, peer, r, clock())]);
        return;
      }
      const table = store;
      if (sticky.method !== 'learn' || !table) return;
      // a new session the response creates; else (nodinx) a bound session that moved to another
      // server follows it — never a value only the client says exists (the table is not the client's)
      let session = created(sticky.create, headers, r);
      if (!session && pick?.target && pick.target !== peer) session = pick.value;
      if (!session) return;
      const route = peerRoute(peer);
      if (sticky.header) table.set(session, route, r);
      else r.res.once('finish', () => table.set(session, route, r));
    },
  };
}
