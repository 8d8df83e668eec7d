import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StickyBalancer } from '../src/upstream/sticky-balancer';
import type { UpstreamGroup } from '../src/upstream/types';
import { startMemcached, type Memcached } from './helpers/memcached';
import { cleanup, errorLog, load, request, run } from './sticky-harness';

// `sticky learn ... memcached=`: two loads of the same config stand for two
// nodinx instances (or one before and after a restart); they share a real
// memcached (Debian's, started here on a free port). The end-to-end version
// through proxy_pass is in sticky-proxy.test.ts.

/** One meta-protocol command: `mg KEY v t` answers the value and the TTL left. */
function memcachedCommand(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => {
      out += d.toString('latin1');
      if (/(?:^|\r\n)(?:EN|HD|END|ERROR)\r\n$/.test(out) || /\r\n[^\r\n]*\r\n$/.test(out) && out.startsWith('VA')) s.end();
    });
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.write(`${line}\r\n`);
  });
}

const CONF = (port: number) => `upstream backend {
    server 127.0.0.1:1001 route=a;
    server 127.0.0.1:1002 route=b;
    sticky learn create=$upstream_cookie_jsessionid lookup=$cookie_jsessionid zone=s:1m timeout=10m header
                 memcached=n1:127.0.0.1:${port};
}`;

async function stored(port: number, key: string): Promise<void> {
  // the set is fire-and-forget: wait until memcached has it
  for (let i = 0; i < 200; i++) {
    if ((await memcachedCommand(port, `mg ${key} v`)).startsWith('VA')) return;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`${key} never stored`);
}

describe('sticky learn over memcached', () => {
  let port = 0;
  let mc: Memcached | undefined;
  let a: UpstreamGroup, b: UpstreamGroup;

  beforeAll(async () => {
    mc = await startMemcached();
    port = mc.port;
    a = load(CONF(port))('backend');
    b = load(CONF(port))('backend');
  });
  afterAll(async () => {
    for (const g of [a, b]) (g?.balancer as StickyBalancer | undefined)?.store?.close?.();
    await mc?.stop();
    cleanup();
  });

  it('a session learned by one instance is routed by the other, whichever takes the request', async () => {
    const one = await run(a, request(), { headers: [['set-cookie', 'JSESSIONID=4F2A-n1.tomcat2; Path=/']] });
    await stored(port, 'sticky:backend:4F2A-n1.tomcat2');
    for (let i = 0; i < 100; i++) {
      const got = await run(i % 2 ? a : b, request({ cookie: 'JSESSIONID=4F2A-n1.tomcat2' }));
      expect(got.peer).toBe((i % 2 ? a : b).peers.find((p) => p.route === one.peer!.route));
      expect(got.state.reason).toBe('sticky: learned session 4F2A-n1.tomcat2');
    }
  });

  it("stores the server's route under an MSM-safe key with the learn timeout as TTL", async () => {
    const got = await memcachedCommand(port, 'mg sticky:backend:4F2A-n1.tomcat2 v t');
    expect(got).toMatch(/^VA 1 t(\d+)\r\n[ab]\r\n$/);
    const ttl = Number(/t(\d+)/.exec(got)![1]);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  it('memcached down: requests go to the balancer, one log line per failure window, then it is used again', async () => {
    await mc!.stop();
    errorLog.length = 0;
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const got = await run(a, request({ cookie: 'JSESSIONID=4F2A-n1.tomcat2' }));
      seen.add(got.peer!.route!);
      expect(got.state.reason).toMatch(/^sticky: session 4F2A-n1.tomcat2: table unavailable; round robin/);
    }
    // round robin, both servers: no sticky decision was made
    expect([...seen].sort()).toEqual(['a', 'b']);
    expect(errorLog.filter((l) => l.startsWith('[error]'))).toHaveLength(1);
    expect(errorLog[0]).toMatch(/^\[error\] \*1 sticky learn memcached node "n1" \(127\.0\.0\.1:\d+\) failed \(.*\), upstream "backend" balances without it, client: 192\.0\.2\.1/);
    // a new memcached on the same port (empty): the node is tried again after its 1 s down time
    await mc!.start();
    await new Promise((res) => setTimeout(res, 1100));
    const got = await run(a, request({ cookie: 'JSESSIONID=77-n1.tomcat1' }), { headers: [['set-cookie', 'JSESSIONID=77-n1.tomcat1']] });
    expect(errorLog.some((l) => l.startsWith('[notice] *1 sticky learn memcached node "n1"') && l.includes('answers again'))).toBe(true);
    await stored(port, 'sticky:backend:77-n1.tomcat1');
    expect((await run(b, request({ cookie: 'JSESSIONID=77-n1.tomcat1' }))).peer!.route).toBe(got.peer!.route);
  });
});

describe('sticky learn over a memcached that never answers', () => {
  it('a lookup gives up after the operation timeout and the balancer picks', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const g = load(CONF(port))('backend');
    try {
      errorLog.length = 0;
      // the lookup ends by memjs's operation timeout; a hang would end in vitest's
      const got = await run(g, request({ cookie: 'JSESSIONID=S-n1.a' }));
      expect(got.peer).toBeDefined();
      expect(got.state.reason).toMatch(/^sticky: session S-n1\.a: table unavailable; round robin/);
      expect(errorLog).toHaveLength(1);
      expect(errorLog[0]).toMatch(/sticky learn memcached node "n1" .* failed \(.*\), upstream "backend" balances without it/);
      // within the node's down time the next lookup does not wait for it
      expect((await run(g, request({ cookie: 'JSESSIONID=S-n1.a' }))).state.reason).toMatch(/table unavailable/);
    } finally {
      (g.balancer as StickyBalancer).store?.close?.();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
      cleanup();
    }
  });
});
