import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ConfError } from '../src/conf/errors';
import { registerCoreVariables } from '../src/http/core-variables';
import type { HttpRequest } from '../src/http/request';
import { compileTemplate, Variables } from '../src/http/variables';
import { upstreamCookie } from '../src/upstream/sticky-balancer';
import { parseMemcachedNodes, parseSticky, type ShmZones, type StickyConf } from '../src/upstream/sticky-conf';
import { cookieTime, peerRoute, stickyCookie } from '../src/upstream/sticky-cookie';
import { LearnZone } from '../src/upstream/sticky-learn';
import { MemcachedLearnStore } from '../src/upstream/sticky-memcached';
import type { Peer } from '../src/upstream/types';

// In-process: how `sticky` is read, the cookie it writes, the learn zone.
// Selection through real upstream blocks is in sticky-select.test.ts.

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

const vars = new Variables();
registerCoreVariables(vars);
const compile = (s: string) => {
  const t = compileTemplate(s, vars);
  t.bind();
  return t;
};
const parse = (line: string, zones: ShmZones = new Map()): StickyConf => parseSticky(line.split(/\s+/), compile, zones);

function request(cookie?: string, uri = '/'): HttpRequest {
  const raw = cookie === undefined ? [] : ['Cookie', cookie];
  return {
    req: { rawHeaders: raw, headers: {} }, headerLimit: Infinity, requestUri: uri, uri, args: '', vars: [],
    out: { headers: [], contentLength: -1, lastModified: -1 }, res: new EventEmitter(), ctx: {},
  } as unknown as HttpRequest;
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
    ['learn lookup=$cookie_a zone=a:1m', '"create" parameter is missing in "sticky" directive'],
    ['learn create=$upstream_cookie_a zone=a:1m', '"lookup" parameter is missing in "sticky" directive'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a', '"zone" parameter is missing in "sticky" directive'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a zone=a', 'invalid zone size "a"'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a zone=a:1x', 'invalid zone size "a:1x"'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a zone=a:1k', 'zone "a" is too small'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a zone=a:1m timeout=x', 'invalid parameter "timeout=x"'],
    ['learn create=$upstream_cookie_a lookup=$cookie_a zone=a:1m memcached=localhost', 'invalid parameter "memcached=localhost"'],
    ['route $', 'invalid variable name'],
    ['route arg', 'invalid parameter "arg"'],
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

  it('learn zones share the namespace of shared memory zones', () => {
    const zones: ShmZones = new Map([['up', { size: 65536, tag: 'http_upstream' }]]);
    parse('learn create=$upstream_cookie_a lookup=$cookie_a zone=z:1m', zones);
    parse('learn create=$upstream_cookie_a lookup=$cookie_a zone=z:1m', zones);
    expect(() => parse('learn create=$upstream_cookie_a lookup=$cookie_a zone=z:2m', zones)).toThrow(
      'the size 2097152 of shared memory zone "z" conflicts with already declared size 1048576',
    );
    expect(() => parse('learn create=$upstream_cookie_a lookup=$cookie_a zone=up:1m', zones)).toThrow(
      'the shared memory zone "up" is already declared for a different use',
    );
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

describe('sticky cookie value', () => {
  it('names a server by md5 of its address, or by its route', () => {
    // md5("127.0.0.1:8081"), computed independently: printf '127.0.0.1:8081' | md5sum
    expect(peerRoute(peer('127.0.0.1:8081'))).toBe('df2b80dc43705d28db9be6f29fe58da3');
    expect(peerRoute(peer('127.0.0.1:8082', { route: 'b' }))).toBe('b');
  });

  it("writes nginx's cookie time and attribute order (checked against nginx's userid cookie)", () => {
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

  it('reads $upstream_cookie_X as nginx does: first Set-Cookie of that name', () => {
    expect(upstreamCookie({ 'set-cookie': ['a=1; Path=/', 'b=2', 'a=3'] }, 'A')).toBe('1');
    expect(upstreamCookie([['set-cookie', 'xb=1'], ['set-cookie', 'b=2;Secure']], 'b')).toBe('2');
    expect(upstreamCookie({}, 'b')).toBeUndefined();
  });

  it('the learn zone forgets sessions not looked up within the timeout, and the oldest when full', () => {
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
