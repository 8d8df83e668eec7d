import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { loadConfig } from '../src/conf/load';
import type { HttpRequest } from '../src/http/request';
import { freePeer, getPeer, initPick, NO_LIVE, setClock, type UpstreamGroup } from '../src/upstream';
import { upstreamMain } from '../src/upstream/upstream-module';
import { ensureNginx, freePort, readLines, startNginx, tempDir, type Running } from './helpers/http';

// What the upstream tests share: tiny backends that answer their own
// address, nginx proxying to an upstream block (which backend answered,
// read from $upstream_addr), and the same block run in-process through
// initPick/getPeer/freePeer with the same failures fed in.

export interface Backends {
  ports: number[];
  /** requests to /hold... wait here until release() */
  held: http.ServerResponse[];
  release(): void;
  /** a port nothing listens on: connections are refused */
  dead: number;
  close(): Promise<void>;
}

export async function startBackends(n: number): Promise<Backends> {
  const servers: http.Server[] = [];
  const ports: number[] = [];
  const held: http.ServerResponse[] = [];
  for (let i = 0; i < n; i++) {
    const srv = http.createServer((req, res) => {
      req.resume();
      res.setHeader('connection', 'close');
      if (req.url?.startsWith('/hold')) held.push(res);
      else res.end(`b${i}`);
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    servers.push(srv);
    ports.push((srv.address() as net.AddressInfo).port);
  }
  const dead = await freePort();
  return {
    ports, dead, held,
    release() {
      for (const res of held.splice(0)) res.end('held');
    },
    close: () => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined),
  };
}

/** {B0}, {B1}... become backend ports, {DEAD} the closed port. */
export function fill(text: string, b: Backends): string {
  return text.replace(/\{B(\d+)\}/g, (_m, i) => String(b.ports[Number(i)])).split('{DEAD}').join(String(b.dead));
}

export interface Req {
  path: string;
  /** the client's source address (a loopback address: 127.a.b.c) */
  from?: string;
  /** ms on the simulated clock since the run started */
  at?: number;
  /** a Cookie header */
  cookie?: string;
}

/** A request the backend holds until the end of the run: its connection stays counted. */
export const held = (): Req => ({ path: '/hold' });

/** One HTTP/1.0 request from a given source address; resolves with the body. */
export function send(port: number, req: Req, n = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress: req.from });
    let buf = '';
    sock.on('connect', () => sock.write(`GET ${req.path} HTTP/1.0\r\nHost: test\r\nX-N: ${n}\r\n\r\n`));
    sock.on('data', (d) => (buf += d.toString('latin1')));
    sock.on('end', () => resolve(buf.slice(buf.indexOf('\r\n\r\n') + 4)));
    sock.on('error', reject);
  });
}

function nginxConf(block: string, port: number): string {
  return `events {}
http {
    log_format up '$http_x_n $upstream_addr';
    access_log logs/access.log up;
    error_log logs/error.log warn;
    upstream u {
${block}
    }
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://u;
            proxy_connect_timeout 2s;
        }
    }
}
`;
}

export interface RunResult {
  /** $upstream_addr of each request, with ports as {B0}.. and {DEAD} */
  addrs: string[];
  /** "[warn] upstream server temporarily disabled", "[error] no live upstreams" counts */
  disabled: number;
  noLive: number;
}

function unfill(s: string, b: Backends): string {
  let out = s.split(`127.0.0.1:${b.dead}`).join('{DEAD}');
  b.ports.forEach((p, i) => (out = out.split(`127.0.0.1:${p}`).join(`{B${i}}`)));
  return out;
}

async function waitUntil(t0: number, at: number): Promise<void> {
  const wait = t0 + at - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/**
 * The requests through real nginx. Times (`at`) are kept from a start
 * 300 ms past a second boundary, so that nginx's whole-second clock reads
 * the same seconds as the simulation's.
 */
export async function runNginx(name: string, block: string, b: Backends, reqs: Req[]): Promise<RunResult> {
  ensureNginx();
  const dir = tempDir(`upstream-${name}`);
  let nginx: Running | undefined;
  try {
    const port = await freePort();
    fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(fill(block, b), port));
    nginx = await startNginx(dir, port);
    await new Promise((r) => setTimeout(r, 1300 - (Date.now() % 1000)));
    const t0 = Date.now();
    const pending: Array<Promise<string>> = [];
    for (const [n, req] of reqs.entries()) {
      if (req.at !== undefined) await waitUntil(t0, req.at);
      if (req.path.startsWith('/hold')) {
        // nginx has picked once the backend holds it (or once it answered, if nothing could take it)
        const before = b.held.length;
        let answered = false;
        pending.push(send(port, req, n).finally(() => (answered = true)));
        while (b.held.length === before && !answered) await new Promise((r) => setTimeout(r, 5));
      } else {
        await send(port, req, n);
      }
    }
    b.release();
    await Promise.all(pending);
    const access = await readLines(path.join(dir, 'logs/access.log'), reqs.length);
    const errors = fs.readFileSync(path.join(dir, 'logs/error.log'), 'latin1');
    return {
      // held requests are logged when they end: back to the order they came in
      addrs: access.map((l) => l.split(' ')).sort((x, y) => Number(x[0]) - Number(y[0])).map((l) => unfill(l.slice(1).join(' '), b)),
      disabled: errors.split('upstream server temporarily disabled').length - 1,
      noLive: errors.split('no live upstreams').length - 1,
    };
  } finally {
    await nginx?.stop();
    if (!process.env.KEEP) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The group `u` of a config holding the block, loaded as nodinx loads it. */
export function loadGroup(block: string, b?: Backends): UpstreamGroup {
  const dir = tempDir('upstream-sim');
  try {
    fs.writeFileSync(path.join(dir, 'nginx.conf'), `events {}\nhttp {\n    upstream u {\n${b ? fill(block, b) : block}\n    }\n}\n`);
    const cycle = loadConfig({ prefix: dir, confFile: 'nginx.conf' });
    return upstreamMain(cycle.http!).upstreams.find((u) => u.name === 'u')!;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A request as far as the balancers look at it. */
export function fakeRequest(req: Req): HttpRequest {
  const addr = req.from ?? '127.0.0.1';
  const q = req.path.indexOf('?');
  return {
    uri: q < 0 ? req.path : req.path.slice(0, q), requestUri: req.path, args: q < 0 ? '' : req.path.slice(q + 1),
    hasArgs: q >= 0, bare: false, vars: [], ctx: {}, headerLimit: req.cookie === undefined ? 0 : 2,
    req: { rawHeaders: req.cookie === undefined ? [] : ['Cookie', req.cookie], headers: {} },
    conn: { remoteAddr: addr, socket: { remoteAddress: addr }, id: 1 },
  } as unknown as HttpRequest;
}

/**
 * The same requests through initPick/getPeer/freePeer: a try on a dead
 * peer fails (as a refused connection does) and the next try follows while
 * tries are left, as proxy_next_upstream error does.
 */
export function simulate(group: UpstreamGroup, b: Backends | undefined, reqs: Req[]): RunResult {
  const result: RunResult = { addrs: [], disabled: 0, noLive: 0 };
  const deadName = b ? `127.0.0.1:${b.dead}` : '';
  let now = 1_700_000_000_000;
  setClock(() => now);
  const holding: Array<() => void> = [];
  try {
    for (const req of reqs) {
      if (req.at !== undefined) now = 1_700_000_000_000 + req.at;
      const state = initPick(group, fakeRequest(req), 0);
      state.log = () => result.disabled++;
      const tried: string[] = [];
      for (;;) {
        const peer = getPeer(group, state);
        if (peer === NO_LIVE) {
          tried.push(group.name);
          result.noLive++;
          break;
        }
        tried.push(peer.name);
        const failed = peer.name === deadName;
        if (!failed && req.path.startsWith('/hold')) {
          holding.push(() => freePeer(group, peer, state, false));
          break;
        }
        freePeer(group, peer, state, failed);
        if (!failed || state.tries === 0) break;
      }
      result.addrs.push(b ? unfill(tried.join(', '), b) : tried.join(', '));
    }
    for (const free of holding) free();
  } finally {
    setClock();
  }
  return result;
}
