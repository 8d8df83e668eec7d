import { afterAll, describe, expect, it } from 'vitest';
import { freePeer, getPeer, initPick, type Peer, type UpstreamGroup } from '../src/upstream';
import { describe as describeGroup } from '../src/upstream/describe';
import { cleanup, load, request, run } from './sticky-harness';

afterAll(cleanup);

// The sticky decision in front of each balancing method, in process: real
// upstream blocks read from a config, picks through getPeer/freePeer as the
// proxy makes them. "Served by the balancer" is checked by comparing with
// the same block without `sticky`: the same pick sequence.

const METHODS = ['', 'least_conn;', 'ip_hash;', 'hash $arg_k;', 'hash $arg_k consistent;', 'random;', 'random two least_conn;'];
const SERVERS = 'server 127.0.0.1:8001 route=a; server 127.0.0.1:8002 route=b; server 127.0.0.1:8003 route=c;';

describe.each(METHODS)('sticky with method "%s"', (method) => {
  const deterministic = !method.startsWith('random');

  it('sticky cookie: a bound client keeps its server, a new one is bound by Set-Cookie', async () => {
    const g = load(`upstream u { ${method} ${SERVERS} sticky cookie srv path=/; }`)('u');
    const first = await run(g, request({ uri: '/?k=1' }));
    expect(first.out).toEqual([['Set-Cookie', `srv=${first.peer!.route}; path=/`]]);
    for (const route of ['a', 'b', 'c']) {
      for (let i = 0; i < 100; i++) {
        const got = await run(g, request({ cookie: `srv=${route}`, uri: `/?k=${i}`, addr: `10.0.${i}.1` }));
        expect(got.peer!.route).toBe(route);
        expect(got.out).toEqual([]);
        expect(got.state.reason).toBe(`sticky: cookie srv=${route}`);
      }
    }
  });

  it('a cookie naming no server is served by the balancer, as without sticky', async () => {
    const get = load(`upstream s { ${method} ${SERVERS} sticky cookie srv; } upstream p { ${method} ${SERVERS} }`);
    const seq = async (g: UpstreamGroup, cookie?: string) => {
      const names: string[] = [];
      for (let i = 0; i < 12; i++) names.push((await run(g, request({ cookie, uri: `/?k=${i}`, addr: `10.${i}.0.1` }))).peer!.route!);
      return names;
    };
    const sticky = await seq(get('s'), 'srv=nosuchroute');
    if (deterministic) expect(sticky).toEqual(await seq(get('p')));
    else expect(sticky.every((x) => ['a', 'b', 'c'].includes(x))).toBe(true);
  });

  it('the bound server failing: the request moves, the client is re-bound and stays', async () => {
    const g = load(`upstream u { ${method} ${SERVERS} sticky cookie srv; }`)('u');
    const moved = await run(g, request({ cookie: 'srv=b', uri: '/?k=7' }), { fail: 1 });
    expect(moved.peer!.route).not.toBe('b');
    expect(moved.out).toEqual([['Set-Cookie', `srv=${moved.peer!.route}`]]);
    // b is now counted out (max_fails=1 within fail_timeout): an old cookie goes to the balancer
    const old = await run(g, request({ cookie: 'srv=b', uri: '/?k=7' }));
    expect(old.peer!.route).not.toBe('b');
    expect(old.state.reason).toMatch(/^sticky: cookie srv=b, server 127\.0\.0\.1:8002 unavailable; /);
    for (let i = 0; i < 20; i++) {
      expect((await run(g, request({ cookie: `srv=${moved.peer!.route}`, uri: `/?k=${i}` }))).peer).toBe(moved.peer);
    }
  });
});

describe('sticky route, the Tomcat case of the nginx documentation', () => {
  const TOMCAT = `
    map $cookie_jsessionid $route_cookie { ~.+\\.(?P<route>\\w+)$ $route; }
    map $request_uri $route_uri { ~jsessionid=.+\\.(?P<route>\\w+)$ $route; }
    upstream tom {
      server 127.0.0.1:8081 route=tomcat1;
      server 127.0.0.1:8082 route=tomcat2;
      sticky route $route_cookie $route_uri;
    }`;

  it('routes by the jvmRoute of JSESSIONID, else of ;jsessionid= in the URI', async () => {
    const g = load(TOMCAT)('tom');
    for (let i = 0; i < 100; i++) {
      expect((await run(g, request({ cookie: 'JSESSIONID=8E1A0B55C0A4D5F0C1A2B3C4D5E6F701-n1.tomcat2' }))).peer!.route).toBe('tomcat2');
    }
    expect((await run(g, request({ uri: '/app;jsessionid=8E1A0B55-n2.tomcat1' }))).peer!.route).toBe('tomcat1');
    // the cookie comes first
    expect((await run(g, request({ cookie: 'JSESSIONID=X-n1.tomcat2', uri: '/app;jsessionid=Y-n1.tomcat1' }))).peer!.route).toBe('tomcat2');
  });

  it('a route no server has, or none at all, is round robin', async () => {
    const g = load(TOMCAT)('tom');
    const names: string[] = [];
    for (let i = 0; i < 4; i++) names.push((await run(g, request({ cookie: 'JSESSIONID=ABC-n1.tomcat9' }))).peer!.route!);
    expect(names).toEqual(['tomcat1', 'tomcat2', 'tomcat1', 'tomcat2']);
  });

  it("without map: the jvmRoute after the first '.' of the value (a nodinx addition)", async () => {
    const g = load(`upstream tom { server 127.0.0.1:8081 route=tomcat1; server 127.0.0.1:8082 route=tomcat2; sticky route $cookie_jsessionid; }`)('tom');
    for (let i = 0; i < 10; i++) expect((await run(g, request({ cookie: 'JSESSIONID=ABC-n1.tomcat2' }))).peer!.route).toBe('tomcat2');
  });

  it('explain says which sticky rule decided', async () => {
    const g = load(TOMCAT)('tom');
    const lines = describeGroup(g, request({ cookie: 'JSESSIONID=ABC-n1.tomcat2' }));
    expect(lines[0]).toMatch(/: round robin \(smooth weighted\); sticky route \$route_cookie \$route_uri$/);
    expect(lines.at(-1)).toBe('next: 127.0.0.1:8082 — sticky: route tomcat2');
  });
});

describe('sticky learn', () => {
  const LEARN = `upstream u { least_conn; ${SERVERS} sticky learn create=$upstream_cookie_jsessionid lookup=$cookie_jsessionid zone=sessions:1m; }`;

  it('learns the session the response creates, once the response is done', async () => {
    const g = load(LEARN)('u');
    const first = await run(g, request(), { headers: [['set-cookie', 'JSESSIONID=ABC.x; Path=/; HttpOnly']] });
    for (let i = 0; i < 100; i++) expect((await run(g, request({ cookie: 'JSESSIONID=ABC.x' }))).peer).toBe(first.peer);
  });

  it('with header, the session is known before the response is done', async () => {
    const g = load(LEARN.replace('zone=sessions:1m', 'zone=s2:1m header'))('u');
    const r = request();
    const state = initPick(g, r, 0);
    const peer = getPeer(g, state) as Peer;
    g.balancer.responded!(g, state, peer, [['set-cookie', 'JSESSIONID=H1']], []);
    freePeer(g, peer, state, false);
    expect((await run(g, request({ cookie: 'JSESSIONID=H1' }))).peer).toBe(peer);
  });

  it('a session whose server fails moves once and stays', async () => {
    const g = load(LEARN)('u');
    const first = await run(g, request(), { headers: [['set-cookie', 'JSESSIONID=S1']] });
    const moved = await run(g, request({ cookie: 'JSESSIONID=S1' }), { fail: 1 });
    expect(moved.peer).not.toBe(first.peer);
    for (let i = 0; i < 20; i++) expect((await run(g, request({ cookie: 'JSESSIONID=S1' }))).peer).toBe(moved.peer);
  });

  it('a session no server learned is served by the balancer, and not learned from the client', async () => {
    const g = load(LEARN)('u');
    const got = await run(g, request({ cookie: 'JSESSIONID=unknown' }));
    expect(got.state.reason).toMatch(/^sticky: session unknown unknown; least_conn/);
    expect((await run(g, request({ cookie: 'JSESSIONID=unknown' }))).state.reason).toMatch(/^sticky: session unknown unknown; /);
  });
});

describe('sticky and backup servers', () => {
  it('a session bound to a backup waits until the primaries are out', async () => {
    const g = load('upstream u { server 127.0.0.1:8001 route=a; server 127.0.0.1:8009 route=z backup; sticky cookie srv; }')('u');
    expect((await run(g, request({ cookie: 'srv=z' }))).peer!.route).toBe('a');
    const failed = await run(g, request({ cookie: 'srv=z' }), { fail: 1 });
    expect(failed.peer!.route).toBe('z');
    expect(failed.state.reason).toBe('backup: sticky: cookie srv=z');
  });
});
