import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { testConfig } from '../src/cli/test-config';
import { freePeer, getPeer, initPick, NO_LIVE, setClock, type Peer, type PickState, type UpstreamGroup } from '../src/upstream';
import { cookieTime } from '../src/upstream/sticky';
import { tempDir } from './helpers/http';
import { fakeRequest, loadGroup, type Req } from './upstream-harness';

// sticky cookie, route and learn (nginx Plus's session affinity), in
// process: a bound request goes to its server with every balancing method,
// an unavailable bound server gives way to the method, and the response
// hook sets the cookie or learns the session. (End-to-end through
// proxy_pass comes with the proxy module.)

interface Try {
  peer: Peer;
  state: PickState;
  setCookie?: string;
}

function pick(g: UpstreamGroup, req: Req): Try {
  const state = initPick(g, fakeRequest(req), 0);
  const peer = getPeer(g, state);
  if (peer === NO_LIVE) throw new Error('no live upstreams');
  freePeer(g, peer, state, false);
  const out: Array<[string, string]> = [];
  g.balancer.responded?.(g, state, peer, [], out);
  return { peer, state, setCookie: out.find(([k]) => k === 'Set-Cookie')?.[1] };
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const METHODS = ['', 'least_conn;', 'ip_hash;', 'hash $request_uri;', 'hash $request_uri consistent;', 'random;', 'random two;'];
const SERVERS = 'server 127.0.0.1:1;\nserver 127.0.0.1:2;\nserver 127.0.0.1:3;';

describe('sticky cookie', () => {
  it.each(METHODS.map((m) => [m || 'round robin', m] as const))('binds with %s', (_name, method) => {
    const g = loadGroup(`${method}\n${SERVERS}\nsticky cookie srv_id;`);
    const first = pick(g, { path: '/a' });
    expect(first.setCookie).toBe(`srv_id=${md5(first.peer.name)}`);
    for (let i = 0; i < 30; i++) {
      const again = pick(g, { path: `/k${i}`, from: `10.${i}.0.1`, cookie: `a=1; srv_id=${md5(first.peer.name)}` });
      expect(again.peer).toBe(first.peer);
      expect(again.setCookie).toBeUndefined();
    }
  });

  it('gives way to the method when the bound server is down or counted out, and rebinds', () => {
    const g = loadGroup(`${SERVERS.replace('127.0.0.1:2;', '127.0.0.1:2 max_fails=1;')}\nsticky cookie srv_id expires=1h domain=.example.com path=/ httponly secure samesite=lax;`);
    const now = 1_700_000_000_000;
    setClock(() => now);
    try {
      const second = g.peers[1];
      second.fails = 1;
      second.checked = now;
      const t = pick(g, { path: '/', cookie: `srv_id=${md5('127.0.0.1:2')}` });
      expect(t.peer).not.toBe(second);
      expect(t.state.sticky?.reason).toBe(`cookie srv_id=${md5('127.0.0.1:2')}`);
      // nginx's own cookie writer (userid, run on nginx 1.22): expires, domain, path, secure, httponly, samesite
      expect(t.setCookie).toBe(`srv_id=${md5(t.peer.name)}; expires=Tue, 14-Nov-23 23:13:20 GMT; domain=.example.com; path=/; secure; httponly; samesite=lax`);
      // a cookie naming no server is no binding
      expect(pick(g, { path: '/', cookie: 'srv_id=nothing' }).setCookie).toMatch(/^srv_id=/);
    } finally {
      setClock();
    }
  });

  it('names a server by its route= when it has one', () => {
    const g = loadGroup('server 127.0.0.1:1 route=a;\nserver 127.0.0.1:2 route=b;\nsticky cookie r expires=max;');
    const t = pick(g, { path: '/' });
    expect(t.setCookie).toBe(`r=${t.peer.route}; expires=Thu, 31-Dec-37 23:55:55 GMT`);
    for (let i = 0; i < 5; i++) expect(pick(g, { path: '/', cookie: 'r=b' }).peer.name).toBe('127.0.0.1:2');
  });

  it('writes expiry times as nginx writes cookie times', () => {
    // ngx_http_cookie_time: 2-digit years up to 2037 (as nginx's userid_expires max prints), 4 after
    expect(cookieTime(Date.UTC(2037, 11, 31, 23, 55, 55) / 1000)).toBe('Thu, 31-Dec-37 23:55:55 GMT');
    expect(cookieTime(Date.UTC(2040, 0, 1) / 1000)).toBe('Sun, 01-Jan-2040 00:00:00 GMT');
  });
});

describe('sticky route', () => {
  it.each(METHODS.map((m) => [m || 'round robin', m] as const))('routes by the first non-empty variable with %s', (_name, method) => {
    const g = loadGroup(`${method}\nserver 127.0.0.1:1 route=a;\nserver 127.0.0.1:2 route=b;\nserver 127.0.0.1:3 route=c;\nsticky route $arg_none $arg_route $cookie_route;`);
    for (let i = 0; i < 10; i++) {
      expect(pick(g, { path: `/x${i}?route=b` }).peer.name).toBe('127.0.0.1:2');
      expect(pick(g, { path: `/y${i}`, cookie: 'route=c' }).peer.name).toBe('127.0.0.1:3');
    }
    const unbound = new Set(Array.from({ length: 60 }, (_v, i) => pick(g, { path: `/z${i}?route=zz`, from: `10.${i}.1.1` }).peer.name));
    expect(unbound.size).toBeGreaterThan(1);
  });
});

describe('sticky learn', () => {
  it('learns sessions from responses and forgets them after the timeout', () => {
    const g = loadGroup(`${SERVERS}\nsticky learn create=$arg_new lookup=$arg_sid lookup=$cookie_sid zone=client_sessions:1m timeout=1m header;`);
    let now = 1_700_000_000_000;
    setClock(() => now);
    try {
      const created = pick(g, { path: '/login?new=s1' });
      for (let i = 0; i < 6; i++) expect(pick(g, { path: '/page?sid=s1' }).peer).toBe(created.peer);
      expect(pick(g, { path: '/page', cookie: 'sid=s1' }).peer).toBe(created.peer);
      // lookups keep a session alive; a minute without one ends it
      now += 50_000;
      expect(pick(g, { path: '/page?sid=s1' }).state.sticky?.reason).toBe('learned session s1');
      now += 61_000;
      expect(pick(g, { path: '/page?sid=s1' }).state.sticky?.reason).toBe('session s1 unknown');
    } finally {
      setClock();
    }
  });
});

describe('sticky configuration', () => {
  const verdict = (body: string): string => {
    const dir = tempDir('upstream-sticky');
    try {
      fs.mkdirSync(path.join(dir, 'logs'));
      fs.writeFileSync(path.join(dir, 'nginx.conf'), `events {}\nhttp {\n upstream u {\n  server 127.0.0.1:1;\n  ${body}\n }\n}\n`);
      const r = testConfig({ prefix: dir, confFile: path.join(dir, 'nginx.conf') });
      return r.error ? r.error.text.split(dir).join('{dir}') : 'ok';
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  it.each([
    ['sticky cookie a;', 'ok'],
    ['sticky cookie a;\n sticky route $arg_r;', '[emerg] "sticky" directive is duplicate in {dir}/nginx.conf:6'],
    ['sticky cookie;', '[emerg] invalid number of arguments in "sticky" directive in {dir}/nginx.conf:5'],
    ['sticky cookie a expires=soon;', '[emerg] invalid parameter "expires=soon" in {dir}/nginx.conf:5'],
    ['sticky magic;', '[emerg] invalid parameter "magic" in {dir}/nginx.conf:5'],
    ['sticky route arg;', '[emerg] invalid parameter "arg" in {dir}/nginx.conf:5'],
    ['sticky learn lookup=$arg_a zone=z:1m;', '[emerg] "create" parameter is missing in "sticky" directive in {dir}/nginx.conf:5'],
    ['sticky learn create=$arg_a lookup=$arg_a zone=z:1k;', '[emerg] zone "z" is too small in {dir}/nginx.conf:5'],
    ['sticky learn create=$arg_a lookup=$arg_a zone=z:1m header sync;', 'ok'],
  ])('%s', (body, want) => {
    expect(verdict(body)).toBe(want);
  });
});
