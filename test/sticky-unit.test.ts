import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ConfError } from '../src/conf/errors';
import { registerCoreVariables } from '../src/http/core-variables';
import type { HttpRequest } from '../src/http/request';
import { compileTemplate, Variables } from '../src/http/variables';
import { stickyBalancer, upstreamCookie } from '../src/upstream/sticky-balancer';
import { parseMemcachedNodes, parseSticky, type StickyConf } from '../src/upstream/sticky-conf';
import { cookieTime, peerRoute, stickyCookie } from '../src/upstream/sticky-cookie';
import { LearnZone } from '../src/upstream/sticky-learn';
import { MemcachedLearnStore } from '../src/upstream/sticky-memcached';
import { NO_LIVE, type Balancer, type Peer, type PickState, type UpstreamGroup } from '../src/upstream/types';

// In-process: the sticky decision in front of a balancer, with peers and
// requests made here (no sockets). The balancer under it is a plain
// counter-based round robin so that "the balancer picked" is visible.

function peer(name: string, opts: Partial<Peer> = {}): Peer {
  const [host, port] = name.split(':');
  return {
    name, server: name, host, port: Number(port), weight: 1, maxFails: 1, failTimeout: 10000, maxConns: 0,
    backup: false, down: false, conns: 0, fails: 0, accessed: 0, checked: 0, currentWeight: 0, effectiveWeight: 1,
    available(this: Peer) {
      return !this.down && !(this.maxConns && this.conns >= this.maxConns) && !(this.maxFails && this.fails >= this.maxFails);
    },
    ...opts,
  } as Peer;
}

/** a round robin that skips tried and unavailable peers */
function roundRobin(): Balancer & { picks: number } {
  let next = 0;
  return {
    method: 'round robin',
    picks: 0,
    select(g: UpstreamGroup, state: PickState) {
      for (let i = 0; i < g.peers.length; i++) {
        const p = g.peers[(next + i) % g.peers.length];
        if (state.tried.has(p) || !p.available(Date.now())) continue;
        next = (next + i + 1) % g.peers.length;
        state.tried.add(p);
        p.conns++;
        this.picks++;
        state.reason = 'round robin';
        return p;
      }
      return NO_LIVE;
    },
  };
}

const vars = new Variables();
registerCoreVariables(vars);
const compile = (s: string) => {
  const t = compileTemplate(s, vars);
  t.bind();
  return t;
};
const parse = (line: string, zones = new Map<string, number>()): StickyConf => parseSticky(line.split(/\s+/), compile, zones);

function request(cookie?: string, uri = '/'): HttpRequest {
  const raw = cookie === undefined ? [] : ['Cookie', cookie];
  return {
    req: { rawHeaders: raw, headers: {} }, headerLimit: Infinity, requestUri: uri, uri, args: '', vars: [],
    out: { headers: [], contentLength: -1, lastModified: -1 }, res: new EventEmitter(), ctx: {},
  } as unknown as HttpRequest;
}

function group(peers: Peer[], sticky: StickyConf) {
  const inner = roundRobin();
  const g = { name: 'backend', peers, backup: [] as Peer[] } as unknown as UpstreamGroup;
  const balancer = stickyBalancer(g, inner, sticky);
  (g as { balancer: Balancer }).balancer = balancer;
  return { g, balancer, inner };
}

function pick(g: UpstreamGroup, r: HttpRequest): { peer: Peer; state: PickState } {
  const state: PickState = { r, tried: new Set(), tries: g.peers.length };
  const peer = g.balancer.select(g, state);
  if (peer === NO_LIVE) throw new Error('no live upstreams');
  peer.conns--;
  return { peer, state };
}

describe('sticky configuration', () => {
  it('reads every parameter of the three methods', () => {
    const c = parse('cookie srv_id expires=1h domain=.example.com path=/ httponly secure samesite=lax');
    expect(c).toMatchObject({ method: 'cookie', name: 'srv_id', expires: 3600, path: '/', httponly: true, secure: true, samesite: 'Lax' });
    expect(parse('cookie s expires=max')).toMatchObject({ expires: 'max' });
    expect(parse('route $cookie_jsessionid $arg_route')).toMatchObject({ method: 'route' });
    const l = parse('learn create=$upstream_cookie_JSESSIONID lookup=$cookie_jsessionid zone=s:1m timeout=1h header sync');
    expect(l).toMatchObject({ method: 'learn', zone: 's', size: 1048576, timeout: 3600000, header: true, sync: true });
    expect(l.method === 'learn' && l.create[0]).toEqual({ kind: 'cookie', name: 'jsessionid' });
    expect(parse('learn create=$upstream_cookie_a lookup=$cookie_a zone=s:64k')).toMatchObject({ timeout: 600000, header: false });
  });

  it.each([
    ['cookie', 'invalid number of arguments in "sticky" directive'],
    ['cookie s expires=1x', 'invalid parameter "expires=1x"'],
    ['cookie s samesite=foo', 'invalid parameter "samesite=foo"'],
    ['cookie s foo', 'invalid parameter "foo"'],
    ['hash $a', 'invalid parameter "hash"'],
    ['route', 'invalid number of arguments in "sticky" directive'],
    ['learn lookup=$cookie_a zone=a:1m', '"sticky learn" must have "create" parameter'],
    ['learn create=$upstream_cookie_a zone=a:1m', '"sticky learn" must have "lookup" parameter'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a', '"sticky learn" must have "zone" parameter'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a zone=a', 'invalid zone size "a"'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a zone=a:1x', 'invalid zone size "a:1x"'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a zone=a:1k', 'zone "a" is too small'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a zone=a:1m timeout=x', 'invalid parameter "timeout=x"'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a zone=a:1m memcached=localhost', 'invalid parameter "memcached=localhost"'],
    ['route $', 'invalid variable name'],
  ])('sticky %s: %s', (line, reason) => {
    let err: unknown;
    try {
      parse(line);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfError);
    expect((err as ConfError).reason).toBe(reason);
  });

  it('a learn zone has one upstream', () => {
    const zones = new Map<string, number>();
    parse('learn create=$upstream_cookie_a lookup=$cookie_a zone=z:1m', zones);
    expect(() => parse('learn create=$upstream_cookie_a lookup=$cookie_a zone=z:1m', zones)).toThrow('duplicate zone "z"');
  });

  it("reads memcached= as MSM's memcachedNodes", () => {
    expect(parseMemcachedNodes('n1:127.0.0.1:11211 n2:localhost:11212')).toEqual([
      { id: 'n1', host: '127.0.0.1', port: 11211 }, { id: 'n2', host: 'localhost', port: 11212 },
    ]);
    expect(parseMemcachedNodes('n1:127.0.0.1:11211,n2:[::1]:11212')?.[1]).toEqual({ id: 'n2', host: '::1', port: 11212 });
    expect(parseMemcachedNodes('127.0.0.1:11211')).toBeUndefined();
    expect(parseMemcachedNodes('n1:a:1 n1:b:2')).toBeUndefined();
    expect(parseMemcachedNodes('n-1:a:1')).toBeUndefined();
  });
});

describe('sticky cookie', () => {
  it('names a server by md5 of its address, or by its route', () => {
    // md5("127.0.0.1:8081"), computed independently: printf '127.0.0.1:8081' | md5sum
    expect(peerRoute(peer('127.0.0.1:8081'))).toBe('df2b80dc43705d28db9be6f29fe58da3');
    expect(peerRoute(peer('127.0.0.1:8082', { route: 'b' }))).toBe('b');
  });

  it("writes nginx's cookie time and attribute order", () => {
    expect(cookieTime(2145916555)).toBe('Thu, 31-Dec-37 23:55:55 GMT');
    expect(cookieTime(1700000000)).toBe('Tue, 14-Nov-23 22:13:20 GMT');
    expect(cookieTime(2208988800)).toBe('Sun, 01-Jan-2040 00:00:00 GMT');
    const c = parse('cookie srv_id expires=1h domain=.example.com path=/ httponly secure samesite=lax');
    const now = 1700000000000;
    expect(stickyCookie(c as never, peer('127.0.0.1:1', { route: 'a' }), request(), now)).toBe(
      'srv_id=a; expires=Tue, 14-Nov-23 23:13:20 GMT; domain=.example.com; path=/; secure; httponly; samesite=lax',
    );
    expect(stickyCookie(parse('cookie s expires=max') as never, peer('127.0.0.1:1', { route: 'a' }), request())).toBe(
      's=a; expires=Thu, 31-Dec-37 23:55:55 GMT',
    );
  });

  it('binds a client: the cookie keeps its server, a new one gets Set-Cookie', () => {
    const peers = [peer('127.0.0.1:1', { route: 'a' }), peer('127.0.0.1:2', { route: 'b' }), peer('127.0.0.1:3', { route: 'c' })];
    const { g, inner } = group(peers, parse('cookie srv'));
    const first = request();
    const { peer: p, state } = pick(g, first);
    g.balancer.responded!(g, state, p, first, {});
    expect(first.out.headers).toEqual([['Set-Cookie', `srv=${p.route}`]]);
    for (let i = 0; i < 100; i++) {
      const r = request(`x=1; srv=${p.route}`);
      const got = pick(g, r);
      expect(got.peer).toBe(p);
      expect(got.state.reason).toBe(`sticky cookie "${p.route}"`);
      g.balancer.responded!(g, got.state, got.peer, r, {});
      expect(r.out.headers).toEqual([]);
    }
    expect(inner.picks).toBe(1);
  });

  it('a server that is down, full or already tried leaves the choice to the balancer', () => {
    const a = peer('127.0.0.1:1', { route: 'a' }), b = peer('127.0.0.1:2', { route: 'b' });
    const { g } = group([a, b], parse('cookie srv'));
    a.fails = 1;
    const r = request('srv=a');
    const { peer: p, state } = pick(g, r);
    expect(p).toBe(b);
    expect(state.reason).toBe('sticky cookie "a": server 127.0.0.1:1 unavailable; round robin');
    g.balancer.responded!(g, state, p, r, {});
    expect(r.out.headers).toEqual([['Set-Cookie', 'srv=b']]);
    a.fails = 0;
    const full = peer('127.0.0.1:3', { route: 'c', maxConns: 1, conns: 1 });
    const g2 = group([full, b], parse('cookie srv')).g;
    expect(pick(g2, request('srv=c')).peer).toBe(b);
    // a retry: the sticky server was tried, the balancer chooses among the rest
    const r3 = request('srv=a');
    const state3: PickState = { r: r3, tried: new Set(), tries: 2 };
    expect(g.balancer.select(g, state3)).toBe(a);
    expect(g.balancer.select(g, state3)).toBe(b);
    expect(g.balancer.select(g, state3)).toBe(NO_LIVE);
  });

  it('a cookie naming no server is served by the balancer', () => {
    const { g, inner } = group([peer('127.0.0.1:1'), peer('127.0.0.1:2')], parse('cookie srv'));
    const { state } = pick(g, request('srv=nosuchroute'));
    expect(inner.picks).toBe(1);
    expect(state.reason).toBe('sticky cookie "nosuchroute": no server has it; round robin');
  });
});

describe('sticky route', () => {
  const peers = () => [peer('127.0.0.1:1', { route: 'tomcat1' }), peer('127.0.0.1:2', { route: 'tomcat2' })];

  it('the first non-empty variable names the route', () => {
    const { g } = group(peers(), parse('route $cookie_route $arg_route'));
    expect(pick(g, request('route=tomcat2')).peer.route).toBe('tomcat2');
    const r = request();
    (r as { args: string }).args = 'route=tomcat1';
    expect(pick(g, r).peer.route).toBe('tomcat1');
  });

  it("takes Tomcat's jvmRoute after the first '.' when the whole value is no route", () => {
    const { g, inner } = group(peers(), parse('route $cookie_jsessionid'));
    for (let i = 0; i < 100; i++) expect(pick(g, request('JSESSIONID=8E1A0B55C0A4D5F0-n1.tomcat2')).peer.route).toBe('tomcat2');
    expect(inner.picks).toBe(0);
    pick(g, request('JSESSIONID=8E1A0B55C0A4D5F0-n1.tomcat9'));
    expect(inner.picks).toBe(1);
  });
});

describe('sticky learn', () => {
  it('learns the session a response creates, once the response is done', () => {
    const a = peer('127.0.0.1:1'), b = peer('127.0.0.1:2');
    const { g, inner } = group([a, b], parse('learn create=$upstream_cookie_jsessionid lookup=$cookie_jsessionid zone=s:1m'));
    const r = request();
    const { peer: p, state } = pick(g, r);
    g.balancer.responded!(g, state, p, r, { 'set-cookie': ['other=1', 'JSESSIONID=ABC.x; Path=/; HttpOnly'] });
    // not learned before the response is done: the balancer picks
    pick(g, request('JSESSIONID=ABC.x'));
    expect(inner.picks).toBe(2);
    (r.res as EventEmitter).emit('finish');
    for (let i = 0; i < 100; i++) expect(pick(g, request('JSESSIONID=ABC.x')).peer).toBe(p);
    expect(inner.picks).toBe(2);
  });

  it('with header, learns before the body; a session whose server is down moves once', () => {
    const a = peer('127.0.0.1:1'), b = peer('127.0.0.1:2');
    const { g } = group([a, b], parse('learn create=$upstream_cookie_sid lookup=$cookie_sid zone=s:1m header'));
    const r = request();
    const first = pick(g, r);
    g.balancer.responded!(g, first.state, first.peer, r, [['Set-Cookie', 'sid=S1']]);
    expect(pick(g, request('sid=S1')).peer).toBe(first.peer);
    const other = first.peer === a ? b : a;
    first.peer.fails = 1;
    const r2 = request('sid=S1');
    const moved = pick(g, r2);
    expect(moved.peer).toBe(other);
    // the server kept the session id: the binding follows the server that answered
    g.balancer.responded!(g, moved.state, moved.peer, r2, {});
    first.peer.fails = 0;
    for (let i = 0; i < 10; i++) expect(pick(g, request('sid=S1')).peer).toBe(other);
  });

  it('the zone forgets sessions not looked up within the timeout, and the oldest when full', () => {
    let now = 0;
    const zone = new LearnZone({ size: 262 * 3, timeout: 1000 }, () => now);
    zone.set('s1', 'a');
    zone.set('s2', 'b');
    now = 900;
    expect(zone.get('s1')).toBe('a');
    now = 1500;
    expect(zone.get('s2')).toBeUndefined();
    expect(zone.get('s1')).toBe('a');
    zone.set('s3', 'c');
    zone.set('s4', 'd');
    zone.set('s5', 'e');
    expect(zone.size).toBe(3);
    expect(zone.get('s1')).toBeUndefined();
    expect(zone.get('s5')).toBe('e');
  });

  it('reads $upstream_cookie_X as nginx does: first Set-Cookie of that name', () => {
    expect(upstreamCookie({ 'set-cookie': ['a=1; Path=/', 'b=2', 'a=3'] }, 'A')).toBe('1');
    expect(upstreamCookie([['set-cookie', 'xb=1'], ['Set-Cookie', 'b=2;Secure']], 'b')).toBe('2');
    expect(upstreamCookie({}, 'b')).toBeUndefined();
  });
});

describe('sticky learn in memcached: keys and TTLs', () => {
  const store = new MemcachedLearnStore('backend', [{ id: 'n1', host: '127.0.0.1', port: 1 }], 600000);

  it('keys cannot clash with MSM keys and stay within memcached limits', () => {
    expect(store.key('ABC-n1.tomcat1')).toBe('sticky:backend:ABC-n1.tomcat1');
    expect(store.key('a b')).toMatch(/^sticky:backend:#[0-9a-f]{32}$/);
    expect(store.key('x'.repeat(300))).toMatch(/^sticky:backend:#[0-9a-f]{32}$/);
  });

  it('a TTL past 30 days is an absolute time, as MSM sends it', () => {
    expect(store.ttl()).toBe(600);
    const long = new MemcachedLearnStore('b', [{ id: 'n1', host: '127.0.0.1', port: 1 }], 31 * 86400 * 1000);
    expect(long.ttl(1700000000000)).toBe(1700000000 + 31 * 86400);
  });
});
