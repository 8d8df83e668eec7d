import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { explain, explainText } from '../src/cli/explain';
import { freePort, readLines, startNodinx, tempDir, type Running } from './helpers/http';
import { startMemcached, type Memcached } from './helpers/memcached';

// Sticky sessions end to end: nodinx proxying to small Node backends that
// behave as Tomcat does with a jvmRoute (a request whose JSESSIONID does not
// end in ".<own route>" gets a new session id "HEX-n1.<route>" in
// Set-Cookie). Each client keeps its cookies as a browser would. nginx OSS
// has no `sticky`, so there is no nginx run to compare with here; the
// proxying itself is compared with nginx in the proxy's own tests.

interface Backend {
  route: string;
  port: number;
  server: http.Server;
  hits: number;
  stop(): Promise<void>;
}

let sessionSeq = 0;

async function backend(route: string): Promise<Backend> {
  const b = { route, hits: 0 } as Backend;
  b.server = http.createServer((req, res) => {
    b.hits++;
    const m = /(?:^|;\s*)JSESSIONID=([^;]+)/i.exec(req.headers.cookie ?? '');
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (!m || !m[1].endsWith(`.${route}`)) {
      const id = `${(++sessionSeq).toString(16).toUpperCase().padStart(32, '0')}-n1.${route}`;
      headers['set-cookie'] = `JSESSIONID=${id}; Path=/; HttpOnly`;
    }
    res.writeHead(200, headers);
    res.end(`from ${route}\n`);
  });
  await new Promise<void>((resolve) => b.server.listen(0, '127.0.0.1', resolve));
  b.port = (b.server.address() as AddressInfo).port;
  b.stop = () => new Promise((resolve) => {
    b.server.close(() => resolve());
    b.server.closeAllConnections();
  });
  return b;
}

/** a browser: keeps the cookies it is given */
class Client {
  readonly jar = new Map<string, string>();
  constructor(cookies: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(cookies)) this.jar.set(k, v);
  }

  get(port: number, uri = '/'): Promise<{ status: number; body: string; setCookie: string[] }> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: uri, agent: false, headers: cookie ? { cookie } : {} }, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          const setCookie = res.headers['set-cookie'] ?? [];
          for (const line of setCookie) {
            const [pair] = line.split(';');
            const eq = pair.indexOf('=');
            this.jar.set(pair.slice(0, eq), pair.slice(eq + 1));
          }
          resolve({ status: res.statusCode!, body, setCookie });
        });
      });
      req.on('error', reject);
    });
  }
}

const LOG_FORMAT = `log_format up '$status $upstream_addr $upstream_status';`;

async function nodinx(upstream: string, extraHttp = ''): Promise<Running> {
  const dir = tempDir('sticky-proxy');
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `events {}
http {
    ${LOG_FORMAT}
    access_log logs/access.log up;
    ${extraHttp}
    ${upstream}
    server {
        listen 127.0.0.1:${port};
        location / { proxy_pass http://backend; }
    }
}
`);
  return startNodinx(dir, port);
}

const routeOf = (body: string): string => /^from (\w+)/.exec(body)![1];

const running: Running[] = [];
let backends: Backend[] = [];

async function start(upstream: (b: Backend[]) => string, extraHttp = ''): Promise<Running> {
  backends = [await backend('tomcat1'), await backend('tomcat2')];
  const n = await nodinx(upstream(backends), extraHttp);
  running.push(n);
  return n;
}

afterEach(async () => {
  for (const n of running.splice(0)) {
    await n.stop();
    fs.rmSync(n.dir, { recursive: true, force: true });
  }
  for (const b of backends) await b.stop();
});

/** 100 requests keep their backend; it stops; the session moves once and stays */
async function keepsThenMovesOnce(n: Running, client: Client, earlier = 0): Promise<void> {
  const first = await client.get(n.port);
  expect(first.status).toBe(200);
  const home = routeOf(first.body);
  for (let i = 0; i < 100; i++) expect(routeOf((await client.get(n.port)).body)).toBe(home);
  const gone = backends.find((b) => b.route === home)!;
  const other = backends.find((b) => b.route !== home)!;
  const log = path.join(n.dir, 'logs/access.log');
  const before = earlier + 101;
  expect(await readLines(log, before)).toHaveLength(before);
  await gone.stop();
  const seen: string[] = [];
  for (let i = 0; i < 20; i++) {
    const res = await client.get(n.port);
    expect(res.status).toBe(200);
    seen.push(routeOf(res.body));
  }
  expect(seen.every((r) => r === other.route)).toBe(true);
  // the access log: the stopped server was tried first once ("A, B" / "502, 200"), then never again
  const after = (await readLines(log, before + 20)).slice(before);
  expect(after).toHaveLength(20);
  expect(after[0]).toBe(`200 127.0.0.1:${gone.port}, 127.0.0.1:${other.port} 502, 200`);
  for (const l of after.slice(1)) expect(l).toBe(`200 127.0.0.1:${other.port} 200`);
}

describe('sticky through proxy_pass', () => {
  it("sticky route, nginx's Tomcat map: a session keeps its server, and moves once when it stops", async () => {
    const n = await start((b) => `upstream backend {
        server 127.0.0.1:${b[0].port} route=tomcat1;
        server 127.0.0.1:${b[1].port} route=tomcat2;
        sticky route $route_cookie $route_uri;
    }`, `map $cookie_jsessionid $route_cookie { ~.+\\.(?P<route>\\w+)$ $route; }
    map $request_uri $route_uri { ~jsessionid=.+\\.(?P<route>\\w+)$ $route; }`);
    await keepsThenMovesOnce(n, new Client());
  });

  it('sticky cookie: bound by the cookie nodinx sets', async () => {
    const n = await start((b) => `upstream backend {
        server 127.0.0.1:${b[0].port};
        server 127.0.0.1:${b[1].port};
        sticky cookie srv_id path=/;
    }`);
    const client = new Client();
    const first = await client.get(n.port);
    expect(first.setCookie.some((c) => /^srv_id=[0-9a-f]{32}; path=\/$/.test(c))).toBe(true);
    await keepsThenMovesOnce(n, client, 1);
  });

  it('sticky learn: bound by the session the backend creates', async () => {
    const n = await start((b) => `upstream backend {
        server 127.0.0.1:${b[0].port};
        server 127.0.0.1:${b[1].port};
        sticky learn create=$upstream_cookie_jsessionid lookup=$cookie_jsessionid zone=sessions:1m;
    }`);
    await keepsThenMovesOnce(n, new Client());
  });

  it('nodinx explain says which sticky rule decided', async () => {
    const n = await start((b) => `upstream backend {
        server 127.0.0.1:${b[0].port} route=tomcat1;
        server 127.0.0.1:${b[1].port} route=tomcat2;
        sticky route $cookie_jsessionid;
    }`);
    const ask = async (cookie: string) => {
      const e = await explain({ prefix: n.dir, confFile: 'nginx.conf', headers: [`Cookie: ${cookie}`], request: 'GET http://localhost/' });
      return explainText(e, n.dir).split('\n').filter((l) => l.startsWith('sticky'));
    };
    expect(await ask('JSESSIONID=ABC-n1.tomcat2')).toEqual([`sticky    upstream backend: route tomcat2 (the jvmRoute of ABC-n1.tomcat2) → 127.0.0.1:${backends[1].port}`]);
    const [line] = await ask('JSESSIONID=ABC-n1.tomcat9');
    expect(line).toMatch(new RegExp(`^sticky    upstream backend: route ABC-n1\\.tomcat9 names no server; round robin chooses → 127\\.0\\.0\\.1:(${backends[0].port}|${backends[1].port})$`));
  });

  it('a cookie naming a route no server has is served by the balancer', async () => {
    const n = await start((b) => `upstream backend {
        server 127.0.0.1:${b[0].port} route=tomcat1;
        server 127.0.0.1:${b[1].port} route=tomcat2;
        sticky route $cookie_jsessionid;
    }`);
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await new Client({ JSESSIONID: 'ABC-n1.tomcat9' }).get(n.port);
      expect(res.status).toBe(200);
      seen.push(routeOf(res.body));
    }
    expect(seen).toEqual(['tomcat1', 'tomcat2', 'tomcat1', 'tomcat2']);
  });
});

describe('sticky learn in memcached that is not there', () => {
  it('requests are served by the balancer, and the error log says so once', async () => {
    const nothing = await freePort();
    const n = await start((b) => `upstream backend {
        server 127.0.0.1:${b[0].port};
        server 127.0.0.1:${b[1].port};
        sticky learn create=$upstream_cookie_jsessionid lookup=$cookie_jsessionid zone=s:1m memcached=n1:127.0.0.1:${nothing};
    }`);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const res = await new Client({ JSESSIONID: 'ABC-n1.tomcat1' }).get(n.port);
      expect(res.status).toBe(200);
      seen.add(routeOf(res.body));
    }
    expect([...seen].sort()).toEqual(['tomcat1', 'tomcat2']);
    const errors = fs.readFileSync(path.join(n.dir, 'logs/error.log'), 'latin1').split('\n').filter((l) => l.includes('[error]'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`\\[error\\] \\d+#\\d+: \\*\\d+ sticky learn memcached node "n1" \\(127\\.0\\.0\\.1:${nothing}\\) failed \\(.+\\), upstream "backend" balances without it, client: 127\\.0\\.0\\.1, server: , request: "GET / HTTP/1\\.1", host: "127\\.0\\.0\\.1:${n.port}"$`));
  });
});

describe('sticky learn in memcached, shared by two nodinx instances', () => {
  let mcPort = 0;
  let mc: Memcached | undefined;
  beforeAll(async () => {
    mc = await startMemcached();
    mcPort = mc.port;
  });
  afterAll(() => mc?.stop());

  it('one session goes to one backend whichever instance takes it, and after a restart', async () => {
    backends = [await backend('tomcat1'), await backend('tomcat2')];
    const upstream = `upstream backend {
        server 127.0.0.1:${backends[0].port};
        server 127.0.0.1:${backends[1].port};
        sticky learn create=$upstream_cookie_jsessionid lookup=$cookie_jsessionid zone=sessions:1m header
               memcached=n1:127.0.0.1:${mcPort};
    }`;
    const a = await nodinx(upstream);
    let b = await nodinx(upstream);
    running.push(a, b);
    for (let s = 0; s < 6; s++) {
      const client = new Client();
      // a new session on A (round robin spreads the sessions over both backends)
      const home = routeOf((await client.get(a.port)).body);
      for (let i = 0; i < 20; i++) expect(routeOf((await client.get(i % 2 ? a.port : b.port)).body)).toBe(home);
    }
    // B restarted: it knows nothing in memory, memcached still does
    const client = new Client();
    const home = routeOf((await client.get(b.port)).body);
    await b.stop();
    b = await nodinx(upstream);
    running.push(b);
    for (let i = 0; i < 10; i++) expect(routeOf((await client.get(b.port)).body)).toBe(home);
  });
});
