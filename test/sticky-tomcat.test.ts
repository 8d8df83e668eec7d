import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, header, rawRequest, readLines, startNodinx, tempDir, type Running } from './helpers/http';
import { startTomcats, type Tomcat } from './helpers/tomcat';

// Sticky routing to real Tomcats (Debian's tomcat10, jvmRoute tomcat1 and
// tomcat2 on their Engine), configured exactly as nginx's documentation
// shows it: two maps take the jvmRoute from the JSESSIONID cookie or from a
// ;jsessionid= path parameter, and `sticky route` sends the request to the
// server with that `route=`. The page counts the requests of its session,
// so a session that stays on its Tomcat counts up without a gap.

let tomcats: Tomcat[] = [];
let proxy: Running | undefined;

beforeAll(async () => {
  tomcats = await startTomcats(['tomcat1', 'tomcat2']);
  const port = await freePort();
  const dir = tempDir('sticky-tomcat');
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `events {}
http {
    log_format up '$status $upstream_addr $upstream_status';
    access_log logs/access.log up;
    map $cookie_jsessionid $route_cookie {
        ~.+\\.(?P<route>\\w+)$ $route;
    }
    map $request_uri $route_uri {
        ~jsessionid=.+\\.(?P<route>\\w+)$ $route;
    }
    upstream tomcats {
        server ${tomcats[0].addr} route=tomcat1;
        server ${tomcats[1].addr} route=tomcat2;
        sticky route $route_cookie $route_uri;
    }
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://tomcats;
        }
    }
}
`);
  proxy = await startNodinx(dir, port);
}, 180000);

afterAll(async () => {
  await proxy?.stop();
  if (proxy) fs.rmSync(proxy.dir, { recursive: true, force: true });
  await Promise.all(tomcats.map((t) => t.stop()));
}, 60000);

interface Page {
  from: string;
  session: string;
  count: number;
  setCookie?: string;
}

async function get(uri: string, cookie?: string): Promise<Page> {
  const res = await rawRequest(proxy!.port, `GET ${uri} HTTP/1.1\r\nHost: localhost\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}Connection: close\r\n\r\n`, { wait: 30000 });
  expect(res.status).toBe(200);
  const body = res.body.toString();
  return {
    from: /^from (\S+)/m.exec(body)![1],
    session: /^session: (\S+)/m.exec(body)![1],
    count: Number(/^count: (\d+)/m.exec(body)![1]),
    setCookie: header(res, 'set-cookie'),
  };
}

describe('sticky route to Tomcat by jvmRoute', () => {
  it('a ;jsessionid= path parameter routes as the cookie does', async () => {
    // round robin would alternate: each Tomcat named in the URI takes every one of its requests
    for (const t of [...tomcats, ...tomcats]) {
      for (let i = 0; i < 3; i++) {
        const page = await get(`/;jsessionid=0123456789ABCDEF0123456789ABCDEF.${t.name}`);
        expect(page.from).toBe(t.name);
      }
    }
  });

  it('a session keeps its Tomcat over 100 requests; when it stops, the session moves once and stays', async () => {
    const first = await get('/');
    expect(first.session).toMatch(new RegExp(`\\.${first.from}$`));
    expect(first.setCookie).toMatch(new RegExp(`^JSESSIONID=${first.session.replace('.', '\\.')}; Path=/; HttpOnly`));
    let cookie = `JSESSIONID=${first.session}`;
    for (let i = 2; i <= 101; i++) {
      const page = await get('/', cookie);
      expect(page.from).toBe(first.from);
      expect(page.count).toBe(i);
    }
    const home = tomcats.find((t) => t.name === first.from)!;
    const other = tomcats.find((t) => t !== home)!;
    const logged = (await readLines(path.join(proxy!.dir, 'logs/access.log'), 103)).length;
    await home.stop();
    const moved = await get('/', cookie);
    expect(moved.from).toBe(other.name);
    expect(moved.count).toBe(1);
    expect(moved.session).toMatch(new RegExp(`\\.${other.name}$`));
    cookie = `JSESSIONID=${moved.session}`;
    for (let i = 2; i <= 20; i++) {
      const page = await get('/', cookie);
      expect(page.from).toBe(other.name);
      expect(page.count).toBe(i);
    }
    const lines = (await readLines(path.join(proxy!.dir, 'logs/access.log'), logged + 20)).slice(logged);
    expect(lines[0]).toBe(`200 ${home.addr}, ${other.addr} 502, 200`);
    for (const l of lines.slice(1)) expect(l).toBe(`200 ${other.addr} 200`);
  }, 120000);
});
