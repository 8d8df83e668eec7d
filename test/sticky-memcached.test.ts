import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpRequest } from '../src/http/request';
import { compileTemplate, Variables } from '../src/http/variables';
import { registerCoreVariables } from '../src/http/core-variables';
import { stickyBalancer, type StickyBalancer } from '../src/upstream/sticky-balancer';
import { parseSticky } from '../src/upstream/sticky-conf';
import { NO_LIVE, type Balancer, type Peer, type PickState, type UpstreamGroup } from '../src/upstream/types';
import { freePort, waitForPort } from './helpers/ports';

// `sticky learn ... memcached=`: two balancers built from the same config
// stand for two nodinx instances (or one before and after a restart); they
// share a real memcached (Debian's, started here on a free port). The
// end-to-end version through proxy_pass is in sticky-proxy.test.ts.

/** Debian's memcached, installed if missing, without starting the system service. */
export function ensureMemcached(): void {
  if (fs.existsSync('/usr/bin/memcached')) return;
  if (!fs.existsSync('/usr/sbin/policy-rc.d')) fs.writeFileSync('/usr/sbin/policy-rc.d', '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  const r = spawnSync('apt-get', ['install', '-y', '-q', 'memcached'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error('apt-get install memcached failed');
}

export async function startMemcached(port: number): Promise<ChildProcess> {
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16'];
  if (process.getuid?.() === 0) args.push('-u', 'nobody');
  const child = spawn('/usr/bin/memcached', args, { stdio: 'ignore' });
  await waitForPort(port);
  return child;
}

export function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

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

const vars = new Variables();
registerCoreVariables(vars);

function peer(name: string): Peer {
  const [host, port] = name.split(':');
  return {
    name, server: name, host, port: Number(port), weight: 1, maxFails: 1, failTimeout: 10000, maxConns: 0, backup: false,
    down: false, conns: 0, fails: 0, accessed: 0, checked: 0, currentWeight: 0, effectiveWeight: 1,
    available(this: Peer) {
      return !this.down && this.fails < this.maxFails;
    },
  } as Peer;
}

/** always the first untried peer: a balancer whose pick is known */
const first: Balancer & { picks: number } = {
  method: 'first', picks: 0,
  select(g: UpstreamGroup, state: PickState) {
    const p = g.peers.find((x) => !state.tried.has(x) && x.available(0));
    if (!p) return NO_LIVE;
    state.tried.add(p);
    this.picks++;
    return p;
  },
};

const logged: string[] = [];

function request(cookie?: string): HttpRequest {
  return {
    req: { rawHeaders: cookie ? ['Cookie', cookie] : [], headers: {} }, headerLimit: Infinity, vars: [], ctx: {},
    out: { headers: [], contentLength: -1, lastModified: -1 }, res: new EventEmitter(), requestLine: 'GET / HTTP/1.1',
    conn: { id: 1, remoteAddr: '127.0.0.1', ctx: { errorLogFor: () => ({ log: (level: string, line: string) => logged.push(`[${level}] ${line}`) }) } },
  } as unknown as HttpRequest;
}

function instance(peers: Peer[], mcPort: number, timeout = '10m'): { g: UpstreamGroup; b: StickyBalancer } {
  const compile = (s: string) => compileTemplate(s, vars);
  const conf = parseSticky(
    ['learn', 'create=$upstream_cookie_jsessionid', 'lookup=$cookie_jsessionid', 'zone=s:1m', `timeout=${timeout}`, 'header', `memcached=n1:127.0.0.1:${mcPort}`],
    compile, new Map(),
  );
  const g = { name: 'backend', peers, backup: [] } as unknown as UpstreamGroup;
  const b = stickyBalancer(g, first, conf);
  (g as { balancer: Balancer }).balancer = b;
  return { g, b };
}

async function route(g: UpstreamGroup, r: HttpRequest): Promise<{ peer: Peer; state: PickState }> {
  const state: PickState = { r, tried: new Set(), tries: g.peers.length };
  await g.balancer.prepare?.(g, state);
  const peer = g.balancer.select(g, state);
  if (peer === NO_LIVE) throw new Error('no live upstreams');
  peer.conns = 0;
  return { peer, state };
}

describe('sticky learn over memcached', () => {
  let port = 0;
  let mc: ChildProcess | undefined;
  const peers = [peer('127.0.0.1:1001'), peer('127.0.0.1:1002')];
  let a: ReturnType<typeof instance>, b: ReturnType<typeof instance>;

  beforeAll(async () => {
    ensureMemcached();
    port = await freePort();
    mc = await startMemcached(port);
    a = instance(peers, port);
    b = instance(peers, port);
  });
  afterAll(async () => {
    a?.b.store?.close?.();
    b?.b.store?.close?.();
    await stopProcess(mc);
  });

  it('a session learned by one instance is routed by the other', async () => {
    // instance A: a new session, the balancer's pick (the first server) creates it on 127.0.0.1:1002
    peers[0].down = true as never;
    const r = request();
    const one = await route(a.g, r);
    expect(one.peer).toBe(peers[1]);
    a.b.responded!(a.g, one.state, one.peer, r, { 'set-cookie': 'JSESSIONID=4F2A-n1.tomcat2; Path=/' });
    (peers[0] as { down: boolean }).down = false;
    // the set is fire-and-forget: wait until memcached has it
    for (let i = 0; i < 100 && !(await memcachedCommand(port, 'mg sticky:backend:4F2A-n1.tomcat2 v')).startsWith('VA'); i++) {
      await new Promise((res) => setTimeout(res, 10));
    }
    const picks = first.picks;
    for (let i = 0; i < 100; i++) {
      const inst = i % 2 ? a : b;
      expect((await route(inst.g, request('JSESSIONID=4F2A-n1.tomcat2'))).peer).toBe(peers[1]);
    }
    expect(first.picks).toBe(picks);
  });

  it("stores the server's route under an MSM-safe key with the learn timeout as TTL", async () => {
    const got = await memcachedCommand(port, 'mg sticky:backend:4F2A-n1.tomcat2 v t');
    // md5("127.0.0.1:1002") names the server, as in the sticky cookie
    const md5 = (await import('node:crypto')).createHash('md5').update('127.0.0.1:1002').digest('hex');
    expect(got).toMatch(new RegExp(`^VA 32 t(\\d+)\\r\\n${md5}\\r\\n$`));
    const ttl = Number(/t(\d+)/.exec(got)![1]);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  it('memcached down: requests go to the balancer, one log line per failure window, then it is used again', async () => {
    await stopProcess(mc);
    logged.length = 0;
    const picks = first.picks;
    for (let i = 0; i < 5; i++) expect((await route(a.g, request('JSESSIONID=4F2A-n1.tomcat2'))).peer).toBe(peers[0]);
    expect(first.picks).toBe(picks + 5);
    expect(logged.filter((l) => l.startsWith('[error]'))).toHaveLength(1);
    expect(logged[0]).toMatch(/^\[error\] \*1 sticky learn memcached node "n1" \(127\.0\.0\.1:\d+\) failed \(.*\), upstream "backend" balances without it, client: 127\.0\.0\.1/);
    // a new memcached on the same port (empty): the node is tried again after its 1 s down time
    mc = await startMemcached(port);
    await new Promise((res) => setTimeout(res, 1100));
    const r = request('JSESSIONID=77-n1.tomcat1');
    const got = await route(a.g, r);
    a.b.responded!(a.g, got.state, got.peer, r, { 'set-cookie': 'JSESSIONID=77-n1.tomcat1' });
    expect(logged.some((l) => l.startsWith('[notice] *1 sticky learn memcached node "n1"') && l.includes('answers again'))).toBe(true);
    for (let i = 0; i < 100 && !(await memcachedCommand(port, 'mg sticky:backend:77-n1.tomcat1 v')).startsWith('VA'); i++) {
      await new Promise((res) => setTimeout(res, 10));
    }
    expect((await route(b.g, request('JSESSIONID=77-n1.tomcat1'))).peer).toBe(got.peer);
  });
});
