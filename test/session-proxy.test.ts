import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureNginx, freePort, startNginx, startNodinx, stopPair, tempDir, type Running } from './helpers/http';
import { CookieClient, demoAnswer, startDemoProcess, type DemoProcess } from './helpers/demo';
import { startMemcached, type Memcached } from './helpers/memcached';

// The seed's scenario end to end: conf/examples/tomcat-memcached.conf in
// front of two demo app servers sharing sessions through memcached, with
// nginx and with nodinx as the proxy.

const EXAMPLE = path.resolve(__dirname, '../conf/examples/tomcat-memcached.conf');

function exampleConf(port: number, apps: number[]): string {
  return fs.readFileSync(EXAMPLE, 'utf8')
    .replace('listen       8080;', `listen       127.0.0.1:${port};`)
    .replace('127.0.0.1:8081', `127.0.0.1:${apps[0]}`)
    .replace('127.0.0.1:8082', `127.0.0.1:${apps[1]}`);
}

const proxies: Array<[string, (dir: string, port: number) => Promise<Running>]> = [
  ['nginx', startNginx],
  ['nodinx', startNodinx],
];

describe.each(proxies)('sessions in memcached behind %s', (name, startProxy) => {
  let mc: Memcached[] = [];
  let apps: DemoProcess[] = [];
  let proxy: Running | undefined;
  let url = '';
  const client = new CookieClient();
  let id = '';
  let count = 0;

  beforeAll(async () => {
    ensureNginx();
    mc = [await startMemcached(), await startMemcached()];
    const nodes = `${mc[0].node('n1')} ${mc[1].node('n2')}`;
    // generous timeouts: 2 cores shared by many test processes must not make
    // a healthy node look down (MSM's 100 ms sync timeout would)
    const opts = ['--locking-mode', 'all', '--backup-timeout', '2000', '--operation-timeout', '3000'];
    apps = [await startDemoProcess('a', nodes, opts), await startDemoProcess('b', nodes, opts)];
    const port = await freePort();
    const dir = tempDir('session-proxy');
    fs.writeFileSync(path.join(dir, 'nginx.conf'), exampleConf(port, apps.map((a) => a.port)));
    proxy = await startProxy(dir, port);
    url = `http://127.0.0.1:${port}/test1`;
  });

  afterAll(async () => {
    await stopPair(proxy);
    for (const a of apps) await a.stop();
    for (const m of mc) await m.stop();
  });

  test('-t accepts the example as it is', async () => {
    const { execFileSync } = await import('node:child_process');
    const dir = tempDir('session-t');
    fs.mkdirSync(path.join(dir, 'logs'));
    const bin = name === 'nginx' ? ['/usr/sbin/nginx'] : [process.execPath, path.resolve(__dirname, '../bin/nodinx')];
    try {
      // a failed test exits non-zero, which execFileSync throws
      execFileSync(bin[0], [...bin.slice(1), '-t', '-p', `${dir}/`, '-c', EXAMPLE, '-e', path.join(dir, 'logs/error.log'), '-g', `pid ${dir}/nginx.pid;`], { stdio: 'pipe' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a client that keeps its cookie: one session, a count rising by one, across both app servers', async () => {
    const from = new Set<string>();
    for (let i = 1; i <= 10; i++) {
      const r = await client.get(url);
      expect(r.status).toBe(200);
      const a = demoAnswer(r.body);
      if (i === 1) {
        id = a.session;
        expect(id).toMatch(/^[0-9A-F]{32}-n[12]$/);
        expect(r.setCookie).toEqual([`JSESSIONID=${id}; Path=/; HttpOnly`]);
      } else {
        expect(r.setCookie).toEqual([]);
      }
      expect([a.session, a.count]).toEqual([id, i]);
      from.add(a.from);
    }
    expect([...from].sort()).toEqual(['a', 'b']);
    count = 10;
  });

  test('lockingMode all: 100 parallel increments of one session give 100', async () => {
    const rs = await Promise.all(Array.from({ length: 100 }, () => client.get(url)));
    expect(rs.map((r) => r.status)).toEqual(Array(100).fill(200));
    const counts = rs.map((r) => demoAnswer(r.body).count).sort((x, y) => x - y);
    expect(counts).toEqual(Array.from({ length: 100 }, (_, i) => count + 1 + i));
    count += 100;
    expect(demoAnswer((await client.get(url)).body).count).toBe(++count);
  });

  test('the memcached node holding the session stops: found from its backup, relocated, new cookie', async () => {
    const node = /-(n[12])$/.exec(id)![1];
    const other = node === 'n1' ? 'n2' : 'n1';
    await mc[node === 'n1' ? 0 : 1].stop();
    const r = await client.get(url);
    const a = demoAnswer(r.body);
    expect(a.count).toBe(++count);
    expect(a.session).toBe(id.replace(`-${node}`, `-${other}`));
    expect(r.setCookie).toEqual([`JSESSIONID=${a.session}; Path=/; HttpOnly`]);
    id = a.session;
    for (let i = 0; i < 4; i++) {
      const n = await client.get(url);
      expect([demoAnswer(n.body).session, demoAnswer(n.body).count, n.setCookie]).toEqual([id, ++count, []]);
    }
    expect(apps.map((x) => x.log()).join('')).toMatch(/restored from its backup/);
  });

  test('an app server stops: no session is lost', async () => {
    await apps[0].stop();
    for (let i = 0; i < 4; i++) {
      const a = demoAnswer((await client.get(url)).body);
      expect([a.from, a.session, a.count]).toEqual(['b', id, ++count]);
    }
  });
});
