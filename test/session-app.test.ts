import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { parseDemoArgs, startDemo } from '../src/session/demo/main';
import { MemjsClient } from '../src/session/memcached';
import { decodeSessionData } from '../src/session/codec';
import { freePort } from './helpers/ports';
import { CookieClient, demoAnswer } from './helpers/demo';
import { startBlackhole, startMemcached, type Memcached } from './helpers/memcached';

// The fastify plugin and the demo app server against real memcached, with
// no proxy: Tomcat's cookie handling, ignored requests, sticky takeover, and
// bad input that must still be served.

const apps: FastifyInstance[] = [];
const stops: Array<() => Promise<void>> = [];

async function demo(args: string[], log: string[] = []): Promise<{ url: string; log: string[] }> {
  const port = await freePort();
  const app = await startDemo(parseDemoArgs(['--name', 'x', '--listen', `127.0.0.1:${port}`, ...args]), (l) => log.push(l));
  apps.push(app);
  return { url: `http://127.0.0.1:${port}`, log };
}

async function get(url: string, cookie?: string) {
  const res = await fetch(url, { headers: cookie ? { cookie } : {} });
  return { status: res.status, setCookie: res.headers.getSetCookie(), body: await res.text() };
}

let mc: Memcached[];
let nodes: string;

beforeAll(async () => {
  mc = [await startMemcached(), await startMemcached()];
  nodes = `${mc[0].node('n1')} ${mc[1].node('n2')}`;
});

afterAll(async () => {
  for (const a of apps) await a.close();
  for (const s of stops) await s();
  for (const m of mc) await m.stop();
});

describe('Tomcat\'s JSESSIONID', () => {
  test('the ;jsessionid= path parameter carries the session; the cookie wins over it', async () => {
    const { url } = await demo(['--memcached-nodes', nodes]);
    const first = demoAnswer((await get(`${url}/`)).body);
    const second = await get(`${url}/;jsessionid=${first.session}?a=1`);
    expect([demoAnswer(second.body).session, demoAnswer(second.body).count, second.setCookie]).toEqual([first.session, 2, []]);
    const other = demoAnswer((await get(`${url}/`)).body);
    const third = demoAnswer((await get(`${url}/;jsessionid=${first.session}`, `JSESSIONID=${other.session}`)).body);
    expect([third.session, third.count]).toEqual([other.session, 2]);
  });

  test('Path is the context path, or / for the root context; always HttpOnly', async () => {
    const { url } = await demo(['--memcached-nodes', nodes, '--context-path', '/shop']);
    expect((await get(`${url}/`)).setCookie[0]).toMatch(/^JSESSIONID=[0-9A-F]{32}-n[12]; Path=\/shop; HttpOnly$/);
  });

  test('fastify.inject (light-my-request with cookie@2, which declares node>=22) works on this Node', async () => {
    const port = await freePort();
    const app = await startDemo(parseDemoArgs(['--name', 'i', '--listen', `127.0.0.1:${port}`, '--memcached-nodes', nodes]), () => undefined);
    apps.push(app);
    const r = await app.inject({ method: 'GET', url: '/' });
    expect(r.statusCode).toBe(200);
    expect(r.cookies[0].name).toBe('JSESSIONID');
    const r2 = await app.inject({ method: 'GET', url: '/', cookies: { JSESSIONID: r.cookies[0].value } });
    expect(demoAnswer(r2.body).count).toBe(2);
  });
});

describe('requestUriIgnorePattern', () => {
  test('matching requests never touch memcached (counted by memcached\'s stats)', async () => {
    const { url } = await demo(['--memcached-nodes', nodes, '--ignore-pattern', 'GET /static/.*\\.css']);
    const first = await get(`${url}/`);
    const cookie = first.setCookie[0].split(';')[0];
    await new Promise((r) => setTimeout(r, 50));
    const before = [await mc[0].ops(), await mc[1].ops()];
    for (let i = 0; i < 10; i++) expect((await get(`${url}/static/a.css`, cookie)).body).toBe('static\n');
    expect([await mc[0].ops(), await mc[1].ops()]).toEqual(before);
    // the pattern matches the whole `GET /uri?query`: with a query it no longer matches (MSM's pitfall)
    await get(`${url}/static/a.css?v=1`, cookie);
    expect((await mc[0].ops()) + (await mc[1].ops())).toBeGreaterThan(before[0] + before[1]);
  });
});

describe('sticky mode', () => {
  test('a session moves to another jvmRoute: taken over under the new route, old key deleted, new cookie', async () => {
    const one = await demo(['--memcached-nodes', nodes, '--sticky', '--jvm-route', 'jvm1']);
    const two = await demo(['--memcached-nodes', nodes, '--sticky', '--jvm-route', 'jvm2']);
    const c = new CookieClient();
    const a = demoAnswer((await c.get(`${one.url}/`)).body);
    expect(a.session).toMatch(/^[0-9A-F]{32}-n[12]\.jvm1$/);
    expect(demoAnswer((await c.get(`${one.url}/`)).body).count).toBe(2);
    const moved = await c.get(`${two.url}/`);
    const b = demoAnswer(moved.body);
    expect([b.session, b.count]).toEqual([a.session.replace('.jvm1', '.jvm2'), 3]);
    expect(moved.setCookie[0]).toBe(`JSESSIONID=${b.session}; Path=/; HttpOnly`);
    const node = /-(n[12])\./.exec(a.session)![1];
    const raw = new MemjsClient('127.0.0.1', mc[node === 'n1' ? 0 : 1].port, { timeout: 1000 });
    try {
      expect(await raw.get(a.session)).toBeNull();
      expect(decodeSessionData((await raw.get(b.session))!)!.attributes.toString()).toBe('{"count":3}');
    } finally {
      raw.close();
    }
  });
});

describe('jvmRoute in non-sticky mode', () => {
  test('new ids end with .ROUTE as Tomcat makes them; another route serves the same id unchanged', async () => {
    const log: string[] = [];
    const one = await demo(['--memcached-nodes', nodes, '--jvm-route', 'jvm1'], log);
    const two = await demo(['--memcached-nodes', nodes, '--jvm-route', 'jvm2']);
    const c = new CookieClient();
    const a = demoAnswer((await c.get(`${one.url}/`)).body);
    expect(a.session).toMatch(/^[0-9A-F]{32}-n[12]\.jvm1$/);
    const b = await c.get(`${two.url}/`);
    expect([demoAnswer(b.body).session, demoAnswer(b.body).count, b.setCookie]).toEqual([a.session, 2, []]);
    expect(log.join('\n')).toContain('jvmRoute "jvm1": sessions are not taken over by route in non-sticky mode');
  });
});

describe('bad input: the request is still served, with a clear log line', () => {
  test('memcached down at start: sessions without a node, then a node once memcached is up', async () => {
    const port = await freePort();
    const log: string[] = [];
    const { url } = await demo(['--memcached-nodes', `n1:127.0.0.1:${port}`, '--backup-timeout', '2000'], log);
    const r = await get(`${url}/`);
    expect(r.status).toBe(200);
    expect(demoAnswer(r.body).session).toMatch(/^[0-9A-F]{32}$/);
    expect(log.join('\n')).toMatch(/memcached node "n1" marked unavailable: .*ECONNREFUSED/);
    expect(log.join('\n')).toMatch(/no memcached node available: session "[0-9A-F]{32}" is not stored/);
    // the same port comes to life: after the 1 s availability cache, sessions are stored again
    const { spawn } = await import('node:child_process');
    const child = spawn('/usr/bin/memcached', ['-l', '127.0.0.1', '-p', String(port), '-U', '0', ...(process.getuid?.() === 0 ? ['-u', 'root'] : [])], { stdio: 'ignore' });
    const exited = new Promise((res) => child.once('exit', res));
    stops.push(async () => {
      child.kill('SIGTERM');
      await exited;
    });
    await new Promise((res) => setTimeout(res, 1200));
    const c = new CookieClient();
    const a = demoAnswer((await c.get(`${url}/`)).body);
    expect(a.session).toMatch(/^[0-9A-F]{32}-n1$/);
    expect(demoAnswer((await c.get(`${url}/`)).body).count).toBe(2);
  });

  test('a node that accepts and never answers: operationTimeout, marked down, served anyway', async () => {
    const hole = await startBlackhole();
    stops.push(() => hole.stop());
    const log: string[] = [];
    const { url } = await demo(['--memcached-nodes', `n1:127.0.0.1:${hole.port}`, '--operation-timeout', '300'], log);
    const r = await get(`${url}/`, 'JSESSIONID=0123456789ABCDEF0123456789ABCDEF-n1');
    expect(r.status).toBe(200);
    expect(demoAnswer(r.body).count).toBe(1);
    expect(log.join('\n')).toMatch(/memcached node "n1" marked unavailable: memcached 127\.0\.0\.1:\d+: get "ping-n1" timed out/);
  });

  test('a value not in MSM\'s format, forged, over-long and unknown-node ids: a new session each', async () => {
    const log: string[] = [];
    const { url } = await demo(['--memcached-nodes', nodes], log);
    const raw = new MemjsClient('127.0.0.1', mc[0].port, { timeout: 1000 });
    await raw.set('0123456789ABCDEF0123456789ABCDEF-n1', Buffer.from('a value some other client wrote here'), 60);
    raw.close();
    for (const [cookie, line] of [
      ['JSESSIONID=0123456789ABCDEF0123456789ABCDEF-n1', /is not MSM's format, ignored/],
      [`JSESSIONID=${'A'.repeat(5000)}-n1`, /session id of 5003 characters, over 200: treated as no session/],
      ['JSESSIONID=AB\\x01CD-n1', /holds characters a session id never has/],
      ['JSESSIONID=0123456789ABCDEF-n7', /names memcached node "n7", which is not in memcachedNodes/],
    ] as const) {
      const r = await get(`${url}/`, cookie);
      expect(r.status).toBe(200);
      const a = demoAnswer(r.body);
      expect(a.count).toBe(1);
      expect(r.setCookie[0]).toBe(`JSESSIONID=${a.session}; Path=/; HttpOnly`);
      expect(log.join('\n')).toMatch(line);
    }
  });
});
