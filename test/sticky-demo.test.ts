import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, readLines, startNodinx, tempDir, type Running } from './helpers/http';
import { CookieClient, demoAnswer, startDemoProcess, type DemoProcess } from './helpers/demo';
import { startMemcached, type Memcached } from './helpers/memcached';

// Sticky routing in front of the demo app servers (bin/nodinx-demo) in MSM's
// sticky mode, with jvmRoute tomcat1/tomcat2, sessions backed up in two
// memcached: each of cookie, route and learn keeps a session on the app that
// made it for 100 requests; when that app stops, the session moves once to
// the other app, which takes it over from memcached (a new cookie with its
// own jvmRoute) and keeps counting.

let mc: Memcached[] = [];
let nodes = '';
let apps: DemoProcess[] = [];
let proxy: Running | undefined;

beforeAll(async () => {
  mc = [await startMemcached(), await startMemcached()];
  nodes = `${mc[0].node('n1')} ${mc[1].node('n2')}`;
});

afterAll(async () => {
  for (const m of mc) await m.stop();
});

afterEach(async () => {
  await proxy?.stop();
  if (proxy) fs.rmSync(proxy.dir, { recursive: true, force: true });
  proxy = undefined;
  for (const a of apps) await a.stop();
  apps = [];
});

async function setUp(sticky: string, extraHttp = ''): Promise<string> {
  // generous timeouts: a loaded machine must not make a healthy memcached look down
  const opts = (route: string) => ['--sticky', '--jvm-route', route, '--backup-timeout', '2000', '--operation-timeout', '3000'];
  apps = [await startDemoProcess('tomcat1', nodes, opts('tomcat1')), await startDemoProcess('tomcat2', nodes, opts('tomcat2'))];
  const port = await freePort();
  const dir = tempDir('sticky-demo');
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `events {}
http {
    log_format up '$status $upstream_addr $upstream_status';
    access_log logs/access.log up;
    ${extraHttp}
    upstream tom {
        server 127.0.0.1:${apps[0].port} route=tomcat1;
        server 127.0.0.1:${apps[1].port} route=tomcat2;
        ${sticky}
    }
    server {
        listen 127.0.0.1:${port};
        location / { proxy_pass http://tom; }
    }
}
`);
  proxy = await startNodinx(dir, port);
  return `http://127.0.0.1:${port}/`;
}

async function keepsThenMovesOnce(url: string): Promise<void> {
  const client = new CookieClient();
  const first = demoAnswer((await client.get(url)).body);
  expect(first.session).toMatch(new RegExp(`^[0-9A-F]{32}-n[12]\\.${first.from}$`));
  for (let i = 2; i <= 100; i++) {
    const a = demoAnswer((await client.get(url)).body);
    expect(a).toEqual({ from: first.from, session: first.session, count: i });
  }
  const home = apps.find((a) => a.name === first.from)!;
  const other = apps.find((a) => a !== home)!;
  const log = path.join(proxy!.dir, 'logs/access.log');
  expect(await readLines(log, 100)).toHaveLength(100);
  await home.stop();
  const moved = await client.get(url);
  const m = demoAnswer(moved.body);
  // the other app took the session over: same base and node, its own jvmRoute, the count goes on
  expect(m).toEqual({ from: other.name, session: first.session.replace(/\.\w+$/, `.${other.name}`), count: 101 });
  expect(moved.setCookie.some((c) => c.startsWith(`JSESSIONID=${m.session};`))).toBe(true);
  for (let i = 102; i <= 120; i++) expect(demoAnswer((await client.get(url)).body)).toEqual({ ...m, count: i });
  const after = (await readLines(log, 120)).slice(100);
  expect(after[0]).toBe(`200 127.0.0.1:${home.port}, 127.0.0.1:${other.port} 502, 200`);
  for (const l of after.slice(1)) expect(l).toBe(`200 127.0.0.1:${other.port} 200`);
}

describe('sticky in front of the demo app servers (MSM sticky mode)', () => {
  it('sticky route with the jvmRoute maps', async () => {
    await keepsThenMovesOnce(await setUp('sticky route $route_cookie $route_uri;', `
    map $cookie_jsessionid $route_cookie { ~.+\\.(?P<route>\\w+)$ $route; }
    map $request_uri $route_uri { ~jsessionid=.+\\.(?P<route>\\w+)$ $route; }`));
  }, 60000);

  it('sticky cookie', async () => {
    await keepsThenMovesOnce(await setUp('sticky cookie srv_id path=/;'));
  }, 60000);

  it('sticky learn', async () => {
    await keepsThenMovesOnce(await setUp('sticky learn create=$upstream_cookie_jsessionid lookup=$cookie_jsessionid zone=sessions:1m;'));
  }, 60000);

  it('sticky learn in memcached, beside the sessions', async () => {
    await keepsThenMovesOnce(await setUp(`sticky learn create=$upstream_cookie_jsessionid lookup=$cookie_jsessionid zone=shared:1m "memcached=${nodes}";`));
  }, 60000);
});
