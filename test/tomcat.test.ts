import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureNginx, freePort, header, rawRequest, readLines, startNginx, startNodinx, tempDir, type Running } from './helpers/http';
import { startTomcats, type Tomcat } from './helpers/tomcat';

// Debian's tomcat10 behind the proxy (issue 6): two instances with
// jvmRoute tomcat1 and tomcat2 in one upstream block. Both must answer
// through the proxy, each with its own JSESSIONID suffix, and a session
// must live on the instance that made it. nginx runs the same config as
// the reference; nodinx runs it once it has proxy_pass and upstream blocks.

let tomcats: Tomcat[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  tomcats = await startTomcats(['tomcat1', 'tomcat2']);
}, 180000);

afterAll(async () => {
  await Promise.all(tomcats.map((t) => t.stop()));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}, 60000);

interface Page {
  from?: string;
  session?: string;
  count?: number;
  cookie?: string;
}

async function get(port: number, cookie?: string): Promise<Page> {
  const res = await rawRequest(port, `GET / HTTP/1.1\r\nHost: localhost\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}Connection: close\r\n\r\n`, { wait: 30000 });
  expect(res.status).toBe(200);
  const body = res.body.toString();
  return {
    from: /^from (\S+)/m.exec(body)?.[1],
    session: /^session: (\S+)/m.exec(body)?.[1],
    count: Number(/^count: (\d+)/m.exec(body)?.[1]),
    cookie: header(res, 'set-cookie'),
  };
}

function config(port: number): string {
  return `events {}
http {
    log_format up '$status $upstream_addr $upstream_status';
    access_log logs/access.log up;
    upstream tomcats {
        server ${tomcats[0].addr};
        server ${tomcats[1].addr};
    }
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://tomcats;
        }
    }
}
`;
}

async function startProxy(which: 'nginx' | 'nodinx'): Promise<Running> {
  const port = await freePort();
  const dir = tempDir(`tomcat-${which}`);
  dirs.push(dir);
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.writeFileSync(path.join(dir, 'nginx.conf'), config(port));
  if (which === 'nginx') {
    ensureNginx();
    return startNginx(dir, port);
  }
  return startNodinx(dir, port);
}

describe('tomcat10 behind the proxy', () => {
  it('each instance answers on its own with its jvmRoute in JSESSIONID', async () => {
    for (const t of tomcats) {
      const first = await get(t.port);
      expect(first.from).toBe(t.name);
      expect(first.count).toBe(1);
      expect(first.session).toMatch(new RegExp(`^[0-9A-F]+\\.${t.name}$`));
      expect(first.cookie).toBe(`JSESSIONID=${first.session}; Path=/; HttpOnly`);
      const again = await get(t.port, `JSESSIONID=${first.session}`);
      expect([again.session, again.count, again.cookie]).toEqual([first.session, 2, undefined]);
    }
  }, 60000);

  for (const which of ['nginx', 'nodinx'] as const) {
    it(`both instances answer through ${which}, round robin, sessions kept on their instance`, async () => {
      const proxy = await startProxy(which);
      try {
        const a = await get(proxy.port);
        const b = await get(proxy.port);
        expect([a.from, b.from].sort()).toEqual(['tomcat1', 'tomcat2']);
        for (const p of [a, b]) {
          expect(p.count).toBe(1);
          expect(p.session!.endsWith(`.${p.from}`)).toBe(true);
          expect(p.cookie).toBe(`JSESSIONID=${p.session}; Path=/; HttpOnly`);
        }
        // round robin sends the next request to the instance that made a's session
        const c = await get(proxy.port, `JSESSIONID=${a.session}`);
        expect([c.from, c.session, c.count]).toEqual([a.from, a.session, 2]);
      } finally {
        await proxy.stop();
      }
    }, 60000);
  }

  // last: it stops an instance
  it('with one instance down, the other answers through nginx and nodinx alike', async () => {
    await tomcats[1].stop();
    const names = (l: string): string => tomcats.reduce((s, t) => s.split(t.addr).join(t.name), l);
    const seen: Record<string, string[]> = {};
    for (const which of ['nginx', 'nodinx'] as const) {
      const proxy = await startProxy(which);
      try {
        for (let i = 0; i < 3; i++) expect((await get(proxy.port)).from).toBe('tomcat1');
        seen[which] = (await readLines(path.join(proxy.dir, 'logs/access.log'), 3)).map(names);
      } finally {
        await proxy.stop();
      }
    }
    // the refused try is logged beside the answer, then the instance is left alone for fail_timeout
    expect(seen.nginx).toEqual(['200 tomcat1 200', '200 tomcat2, tomcat1 502, 200', '200 tomcat1 200']);
    if (seen.nodinx) expect(seen.nodinx).toEqual(seen.nginx);
  }, 60000);
});
