import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normLog, rawRequest, readLines } from './helpers/http';
import { waitFor } from './helpers/ports';
import { ok, type Received, type Reply } from './helpers/backend';
import { startProxyPair, stopProxyPair, type Side } from './helpers/proxy-pair';

// Upstream failures the proxy must ride as nginx does, compared with the
// real nginx on the same config and the same scripted backend: a kept-alive
// connection the upstream resets on reuse is retried on a new one (the
// access log lists both tries); retries across two servers and the
// "502, 200" lists; and clients that abort mid-download leave no upstream
// connection and no socket behind.

const CONFIG = `
events {}
http {
  server_tokens off;
  log_format up '$status "$request" $upstream_addr "$upstream_status" $body_bytes_sent';
  access_log logs/access.log up;
  error_log logs/error.log error;
  upstream ka { server 127.0.0.1:{B}; keepalive 8; }
  upstream two { server 127.0.0.1:{B} max_fails=0; server 127.0.0.1:{B2} max_fails=0; }
  server {
    listen 127.0.0.1:{PORT};
    location /ka/ {
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://ka;
    }
    location /two/ {
      proxy_next_upstream error timeout http_503;
      proxy_pass http://two;
    }
    location /post/ {
      proxy_pass http://two;
    }
    location /slow/ {
      proxy_buffering off;
      proxy_pass http://ka;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;

/** Backend 1: resets the second request of every connection (a keep-alive connection gone stale). */
function first(req: Received): Reply {
  const uri = req.head.split(' ')[1];
  if (uri.startsWith('/ka/') && req.onConn === 2) return 'reset';
  if (uri.startsWith('/two/')) return ok('b1 503\n', [], '503 Service Unavailable');
  if (uri.startsWith('/post/')) return 'reset';
  if (uri.startsWith('/slow/')) return { parts: ['HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n', 'x'.repeat(1000), 'hang'.repeat(25000)], gap: 2000 };
  return ok(`b1 ${uri}\n`);
}

/** Backend 2: answers. */
function second(req: Received): Reply {
  return ok(`b2 ${req.head.split(' ')[1]}\n`);
}

/** Two requests on one client connection (the second reuses the kept upstream connection). */
function twoOnOneConnection(port: number, a: string, b: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('connect', () => {
      s.write(`GET ${a} HTTP/1.1\r\nHost: x\r\n\r\n`);
      setTimeout(() => s.write(`GET ${b} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), 200);
    });
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('end', () => resolve(out.replace(/\r\nDate: [^\r]*/g, '').replace(/\r\nServer: nodinx/g, '\r\nServer: nginx')));
    s.on('error', reject);
  });
}

/** A log's lines, with the ports of the run made comparable. */
const lines = async (side: Side, n: number, file = 'access.log'): Promise<string[]> =>
  normLog(await readLines(path.join(side.server.dir, 'logs', file), n), side.server)
    .map((l) => l.split(String(side.backend.port)).join('B1').split(String(side.backend2.port)).join('B2'));

describe('upstream failures against nginx', () => {
  let ng: Side | undefined;
  let nd: Side | undefined;
  beforeAll(async () => {
    [ng, nd] = await startProxyPair('proxy-fail', CONFIG, first, {}, second);
  }, 60000);
  afterAll(async () => {
    await stopProxyPair(ng, nd);
  });

  it('a kept-alive connection reset on reuse: retried on a new connection, the client never sees it', async () => {
    const a = await twoOnOneConnection(ng!.server.port, '/ka/1', '/ka/2');
    const b = await twoOnOneConnection(nd!.server.port, '/ka/1', '/ka/2');
    expect(b).toBe(a);
    expect(a).toContain('b1 /ka/2');
    expect(await lines(nd!, 2)).toEqual(await lines(ng!, 2));
  });

  it('proxy_next_upstream http_503: the next server answers, both tries listed', async () => {
    const a = await rawRequest(ng!.server.port, 'GET /two/x HTTP/1.1\r\nHost: x\r\n\r\n');
    const b = await rawRequest(nd!.server.port, 'GET /two/x HTTP/1.1\r\nHost: x\r\n\r\n');
    expect([b.status, b.body.toString()]).toEqual([a.status, a.body.toString()]);
    const [la, lb] = [await lines(ng!, 3), await lines(nd!, 3)];
    expect(lb[2]).toBe(la[2]);
    expect(la[2]).toContain('"503, 200"');
  });

  it('a POST reset by the upstream is not retried (non_idempotent): 502 with the error line', async () => {
    const req = 'POST /post/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc';
    const a = await rawRequest(ng!.server.port, req);
    const b = await rawRequest(nd!.server.port, req);
    expect(b.status).toBe(a.status);
    expect((await lines(nd!, 4))[3]).toBe((await lines(ng!, 4))[3]);
    const errs = async (s: Side) => (await lines(s, 1, 'error.log')).filter((l) => l.includes('/post/x'));
    expect(await errs(nd!)).toEqual(await errs(ng!));
  });
});

describe('clients that abort mid-download', () => {
  let ng: Side | undefined;
  let nd: Side | undefined;
  beforeAll(async () => {
    [ng, nd] = await startProxyPair('proxy-abort', CONFIG, first, {}, second);
  }, 60000);
  afterAll(async () => {
    await stopProxyPair(ng, nd);
  });

  /** Reads the head and a first piece of the body, then goes away. */
  const abortAfterFirstBytes = (port: number): Promise<void> => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => s.write('GET /slow/x HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.once('data', () => {
      s.destroy();
      resolve();
    });
    s.on('error', () => resolve());
  });

  it('the upstream connection is closed and nothing stays open, as with nginx', async () => {
    const sockets = (): number => process.getActiveResourcesInfo().filter((t) => t === 'TCPSocketWrap').length;
    const before = sockets();
    for (let i = 0; i < 30; i++) await abortAfterFirstBytes(nd!.server.port);
    await abortAfterFirstBytes(ng!.server.port);
    // every upstream connection of an aborted request is closed, none is kept alive
    await waitFor(() => nd!.backend.open.size === 0 && ng!.backend.open.size === 0, 5000);
    await waitFor(() => sockets() <= before, 5000);
    expect(nd!.backend.open.size).toBe(0);
    const [a] = await lines(ng!, 1);
    const b = await lines(nd!, 30);
    expect(b.length).toBe(30);
    // the head was sent at once (proxy_buffering off): 200 as nginx logs it
    for (const l of b) expect(l).toBe(a);
  });
});
