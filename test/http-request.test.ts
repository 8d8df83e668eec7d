import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureNginx, freePort, readLines, startNginx, startNodinx, tempDir, writeTree, type Running } from './helpers/http';
import { exchange, splitResponses, type Exchange, type Piece } from './helpers/raw-socket';

// The request layer against the real nginx: the same bytes on a raw socket
// to both — well-formed, malformed, too large, too slow, pipelined, with
// bodies — and the same answer expected: status lines, the headers that
// matter, bodies, whether the connection closed, access-log lines and the
// error log's info lines about the client.

const CONFIG = `
error_log logs/error.log info;
events { worker_connections 64; }
http {
    log_format cmp '"$request" $status $body_bytes_sent $bytes_sent rl=$request_length u="$uri" a="$args" '
                   'ru="$request_uri" m=$request_method p=$server_protocol h="$host" s="$server_name" '
                   'x="$http_x_c" i="$http_x_y" c=$connection_requests';
    access_log logs/access.log cmp;
    client_header_timeout 1s;
    lingering_timeout 1s;
    keepalive_timeout 5s;

    server {
        listen 127.0.0.1:{P1} default_server;
        server_name localhost;
        root html;
        location /small/ { client_max_body_size 10; }
        location /slow/ { send_timeout 1s; }
        location /mr1/ { max_ranges 1; }
        location /mr0/ { max_ranges 0; }
    }
    server {
        listen 127.0.0.1:{P1};
        server_name other.test;
        root html/other;
    }
    server {
        listen 127.0.0.1:{P2};
        server_name tiny;
        root html;
        client_header_buffer_size 100;
        large_client_header_buffers 2 600;
    }
    server {
        listen 127.0.0.1:{P3};
        server_name lax;
        root html;
        underscores_in_headers on;
        ignore_invalid_headers off;
        merge_slashes off;
        max_headers 5;
        lingering_close off;
    }
}
`;

const FILES: Record<string, string | Buffer> = {
  'html/a.txt': 'a text file\n',
  'html/dir/index.html': 'dir index\n',
  'html/small/f.txt': 'small\n',
  'html/other/index.html': 'other server\n',
  'html/slow/big.bin': Buffer.alloc(32 * 1024 * 1024, 'x'),
  'html/mr1/f.txt': '0123456789\n',
  'html/mr0/f.txt': '0123456789\n',
};

const G = 'GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n';
const get = (uri: string, extra = '', host = 'localhost'): string => `GET ${uri} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;

interface Case {
  name: string;
  send: Piece[];
  port?: 1 | 2 | 3;
  shut?: boolean;
  /** ms of silence after which an open connection counts as kept alive */
  idle?: number;
  head?: boolean;
  /** whether the connection was reset (not just closed) is compared too */
  reset?: boolean;
}

const c = (name: string, send: Piece | Piece[], more: Omit<Case, 'name' | 'send'> = {}): Case =>
  ({ name, send: Array.isArray(send) ? send : [send], ...more });

const CASES: Case[] = [
  // versions, keep-alive, pipelining
  c('HTTP/1.1 keep-alive', G),
  c('HTTP/1.0 closes', 'GET /a.txt HTTP/1.0\r\n\r\n'),
  c('HTTP/1.0 keep-alive', 'GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'),
  c('Connection: close', get('/a.txt', 'Connection: close\r\n')),
  c('Connection headers: the last word wins', get('/a.txt', 'Connection: close\r\nConnection: keep-alive\r\n')),
  c('HTTP/0.9', 'GET /a.txt\r\n'),
  c('HTTP/0.9 missing file', 'GET /nope\r\n'),
  c('HTTP/0.9 POST', 'POST /a.txt\r\n'),
  c('HTTP/1.2 is 1.x', 'GET /a.txt HTTP/1.2\r\nHost: localhost\r\n\r\n'),
  c('pipelined three in one packet', G + get('/missing') + get('/a.txt', 'Connection: close\r\n')),
  c('pipelined, the second invalid', G + get('/a%zz') + G),
  c('empty lines before the request', '\r\n\r\n' + G),
  c('bare LF line ends', 'GET /a.txt HTTP/1.1\nHost: localhost\n\n'),
  c('request in pieces', ['GET /a', { pause: 50 }, '.txt HTTP/1.1\r\nHo', { pause: 50 }, 'st: localhost\r\n\r\n']),
  // absolute URIs
  c('absolute URI picks the server', 'GET http://Other.Test/index.html HTTP/1.1\r\nHost: localhost\r\n\r\n'),
  c('absolute URI without a path', 'GET http://localhost HTTP/1.1\r\nHost: x\r\n\r\n'),
  c('absolute URI with port and query', 'GET http://localhost:99/a.txt?x=1 HTTP/1.1\r\nHost: x\r\n\r\n'),
  c('absolute URI with only a query', 'GET http://localhost?q HTTP/1.1\r\nHost: x\r\n\r\n'),
  c('invalid host in the request line', 'GET http://a..b/ HTTP/1.1\r\nHost: x\r\n\r\n'),
  // request line errors
  c('lowercase method', 'get /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n'),
  c('unknown method', 'FOO /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n'),
  c('NUL in the request line', 'GET /a\x00b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n'),
  c('NUL in the method', 'G\x00T /a.txt HTTP/1.1\r\n\r\n'),
  c('space in the URI', 'GET /a b HTTP/1.1\r\nHost: localhost\r\n\r\n'),
  c('control character in the URI', 'GET /a\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n'),
  c('HTTP/2.0', 'GET /a.txt HTTP/2.0\r\nHost: localhost\r\n\r\n'),
  c('junk after the version', 'GET /a.txt HTTP/1.1 x\r\nHost: localhost\r\n\r\n'),
  c('CR without LF', 'GET /a.txt HTTP/1.1\rHost: localhost\r\n\r\n'),
  c('CONNECT', 'CONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n'),
  c('TRACE', 'TRACE /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n'),
  c('request line of 10 kB', get('/' + 'a'.repeat(10000))),
  c('request line of 1 MB', get('/' + 'b'.repeat(1024 * 1024)), { idle: 1500 }),
  // the URI
  c('traversal above the root', get('/../../etc/passwd')),
  c('encoded traversal', get('/%2e%2e/%2e%2e/etc/passwd')),
  c('encoded NUL', get('/a%00.txt')),
  c('invalid percent-encoding', get('/a%zz.txt')),
  c('truncated percent-encoding', get('/a.txt%2')),
  c('dot segments inside', get('/dir/../a.txt')),
  c('trailing dot-dot', get('/dir/..')),
  c('dot segment', get('/./a.txt')),
  c('merged slashes', get('//dir///index.html')),
  c('encoded slash', get('/dir%2F..%2Fa.txt')),
  c('fragment', get('/a.txt#frag')),
  c('encoded question mark', get('/a%3F.txt?q=1')),
  c('empty query', get('/a.txt?')),
  c('bytes above 0x7f', get('/\xc3\xa9')),
  // headers
  c('Host with a slash', get('/a.txt', '', 'a/b')),
  c('Host with dot-dot', get('/a.txt', '', 'a..b')),
  c('Host with a port and a trailing dot', get('/', '', 'OTHER.TEST.:8080')),
  c('two Host headers', 'GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'),
  c('HTTP/1.1 without Host', 'GET /a.txt HTTP/1.1\r\n\r\n'),
  c('HTTP/1.0 without Host', 'GET /a.txt HTTP/1.0\r\n\r\n'),
  c('NUL in a header value', get('/a.txt', 'X-C: b\x00c\r\n')),
  c('space in a header name', get('/a.txt', 'X Y: b\r\n')),
  c('space before the colon', 'GET /a.txt HTTP/1.1\r\nHost : localhost\r\n\r\n'),
  c('invalid character in a header name: ignored', get('/a.txt', 'X@Y: b\r\nX-Y: ok\r\n')),
  c('underscore in a header name: ignored', get('/a.txt', 'X_C: under\r\n')),
  c('header line without a colon', get('/a.txt', 'XYZ\r\n')),
  c('empty header name', get('/a.txt', ': b\r\n')),
  c('folded header line', get('/a.txt', 'X-C: b\r\n  c\r\n')),
  c('tab and trailing spaces in a value', get('/a.txt', 'X-C: a\tb   \r\n')),
  c('header line of 10 kB', get('/a.txt', 'X-Long: ' + 'a'.repeat(10000) + '\r\n')),
  c('10,000 headers', get('/a.txt', Array.from({ length: 10000 }, (_, i) => `X-H${i}: v\r\n`).join(''))),
  c('duplicate Content-Length', get('/a.txt', 'Content-Length: 3\r\nContent-Length: 3\r\n') + 'abc'),
  c('invalid Content-Length', get('/a.txt', 'Content-Length: 3x\r\n')),
  c('Content-Length and Transfer-Encoding', get('/a.txt', 'Transfer-Encoding: chunked\r\nContent-Length: 3\r\n') + 'abc'),
  c('unknown Transfer-Encoding', get('/a.txt', 'Transfer-Encoding: gzip\r\n')),
  c('Transfer-Encoding in HTTP/1.0', 'GET /a.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n'),
  // bodies
  c('GET with a body, then another request', get('/a.txt', 'Content-Length: 5\r\n') + 'hello' + G),
  c('POST to a file with a body, then another', `POST /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello` + G),
  c('chunked body, then another request', get('/a.txt', 'Transfer-Encoding: chunked\r\n') + '5;ext\r\nhello\r\n0\r\nTrailer: x\r\n\r\n' + G),
  c('invalid chunked body', get('/a.txt', 'Transfer-Encoding: chunked\r\n') + 'zz\r\nhello\r\n0\r\n\r\n'),
  c('chunked POST over client_max_body_size', `POST /small/f.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n${'x'.repeat(64)}\r\n0\r\n\r\n` + G),
  c('body over client_max_body_size', `POST /small/f.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n${'y'.repeat(20)}`),
  c('body still to come: lingering_timeout', get('/a.txt', 'Content-Length: 100\r\n') + 'abc', { idle: 1800 }),
  c('chunked body still to come', get('/a.txt', 'Transfer-Encoding: chunked\r\n') + '5\r\nhel', { idle: 1800 }),
  // Expect: 100-continue
  c('Expect on a GET without a body', get('/a.txt', 'Expect: 100-continue\r\n')),
  c('Expect on a GET with a body', [get('/a.txt', 'Expect: 100-continue\r\nContent-Length: 5\r\n'), { pause: 100 }, 'hello']),
  c('Expect on a missing file', get('/nope', 'Expect: 100-continue\r\nContent-Length: 5\r\n') + 'hello'),
  c('Expect on a POST to a file', `POST /a.txt HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello`),
  c('Expect in HTTP/1.0', 'GET /a.txt HTTP/1.0\r\nExpect: 100-continue\r\n\r\n'),
  c('two Expect headers', get('/a.txt', 'Expect: 100-continue\r\nExpect: 100-continue\r\n')),
  // slow and vanishing clients (client_header_timeout 1s)
  c('nothing sent', [], { idle: 2000 }),
  c('partial request line', 'GET /a.t', { idle: 2000 }),
  c('partial headers', 'GET /a.txt HTTP/1.1\r\nHost: loc', { idle: 2000 }),
  c('one byte every 300 ms', Array.from('GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n').flatMap((ch) => [ch, { pause: 300 }]), { idle: 2000 }),
  c('client closes before sending', [], { shut: true }),
  c('client closes mid-request', 'GET /a.txt HTTP/1.1\r\nHost: loc', { shut: true }),
  c('client closes after a request', G, { shut: true }),
  // header buffers: client_header_buffer_size 100, large_client_header_buffers 2 600
  c('request line in a large buffer', get('/' + 'a'.repeat(540), '', 'tiny'), { port: 2 }),
  c('request line of 599 bytes', get('/' + 'a'.repeat(585), '', 'tiny'), { port: 2 }),
  c('request line of 600 bytes', get('/' + 'a'.repeat(586), '', 'tiny'), { port: 2 }),
  c('header of 590 bytes', get('/a.txt', 'X: ' + 'a'.repeat(585) + '\r\n', 'tiny'), { port: 2 }),
  c('two headers of 450 bytes', get('/a.txt', `X: ${'a'.repeat(447)}\r\nY: ${'a'.repeat(447)}\r\n`, 'tiny'), { port: 2 }),
  c('three headers of 450 bytes', get('/a.txt', `X: ${'a'.repeat(447)}\r\nY: ${'a'.repeat(447)}\r\nZ: ${'a'.repeat(447)}\r\n`, 'tiny'), { port: 2 }),
  c('300 small headers', get('/a.txt', Array.from({ length: 300 }, (_, i) => `X${i}: v\r\n`).join(''), 'tiny'), { port: 2 }),
  c('a buffer of empty lines first', '\r\n'.repeat(70) + get('/a.txt', '', 'tiny'), { port: 2 }),
  // underscores_in_headers on, ignore_invalid_headers off, merge_slashes off, max_headers 5, lingering_close off
  c('underscores in header names kept', get('/a.txt', 'X_C: under\r\n', 'lax'), { port: 3 }),
  c('invalid header names kept', get('/a.txt', 'X@Y: odd\r\n', 'lax'), { port: 3 }),
  c('slashes not merged', get('//dir//', '', 'lax'), { port: 3 }),
  c('six headers over max_headers 5', get('/a.txt', 'A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n', 'lax'), { port: 3 }),
  // lingering close: the rest of the input is read and dropped, so the answer arrives whole
  c('input after an error, lingering_close on', get('/a%zz') + 'z'.repeat(200000), { idle: 1500, reset: true }),
  c('input after an error, lingering_close off', get('/a%zz', '', 'lax') + 'z'.repeat(200000), { port: 3, idle: 1500, reset: true }),
  // max_ranges
  c('two ranges, max_ranges 1', get('/mr1/f.txt', 'Range: bytes=0-1,4-5\r\n')),
  c('one range, max_ranges 1', get('/mr1/f.txt', 'Range: bytes=0-1\r\n')),
  c('max_ranges 0', get('/mr0/f.txt', 'Range: bytes=0-1\r\n')),
];

interface Side {
  run: Running;
  ports: Record<1 | 2 | 3, number>;
  answers: Map<string, Exchange>;
}

let ngx: Side;
let ndx: Side;

function shape(x: Exchange, head = false, reset = false): object {
  const norm = (s: string): string => s.split('nginx/1.22.1').join('nodinx/0.1.0');
  const KEEP = ['content-type', 'content-length', 'location', 'connection', 'etag', 'last-modified', 'accept-ranges', 'server'];
  return {
    responses: splitResponses(x.data, head).map((r) => ({
      status: r.statusLine,
      order: r.headers.map(([k]) => k),
      headers: r.headers.filter(([k]) => KEEP.includes(k.toLowerCase())).map(([k, v]) => norm(`${k}: ${v}`)),
      body: norm(r.body),
    })),
    closed: x.closed,
    ...(reset ? { reset: x.reset } : {}),
  };
}

function normLog(lines: string[], side: Side): string[] {
  let out = lines.map((l) => l.split(side.run.dir).join('{dir}'));
  for (const [k, p] of Object.entries(side.ports)) out = out.map((l) => l.split(`:${p}`).join(`:P${k}`));
  return out.map((l) => l
    .replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (\*\d+ )?/, '[$1] ')
    // an error-log line is cut at 2048 bytes, its prefix holds the pid: compare what any pid leaves
    .slice(0, /^\d{4}\//.test(l) ? 1900 : undefined)
    // long runs of one byte as "a{8192}", for a readable diff
    .replace(/(.)\1{63,}/g, (m, ch: string) => `${ch}{${m.length}}`));
}

async function start(kind: 'nginx' | 'nodinx'): Promise<Side> {
  const ports = { 1: await freePort(), 2: await freePort(), 3: await freePort() };
  const dir = tempDir(`req-${kind}`);
  writeTree(dir, FILES);
  fs.writeFileSync(path.join(dir, 'nginx.conf'), CONFIG.replace(/\{P(\d)\}/g, (_, n: string) => String(ports[Number(n) as 1])));
  const run = kind === 'nginx' ? await startNginx(dir, ports[1]) : await startNodinx(dir, ports[1], 'info');
  return { run, ports, answers: new Map() };
}

describe('the request layer compared with nginx', () => {
  beforeAll(async () => {
    ensureNginx();
    [ngx, ndx] = await Promise.all([start('nginx'), start('nodinx')]);
    // nginx's start-up lines are not about requests
    await new Promise((r) => setTimeout(r, 100));
    for (const side of [ngx, ndx]) fs.writeFileSync(path.join(side.run.dir, 'logs/error.log'), '');
    // one case at a time, both servers at once, so that the logs line up
    for (const k of CASES) {
      const [a, b] = await Promise.all([ngx, ndx].map((s) => exchange(s.ports[k.port ?? 1], k.send, { idle: k.idle, shut: k.shut })));
      ngx.answers.set(k.name, a);
      ndx.answers.set(k.name, b);
    }
  }, 300000);

  afterAll(async () => {
    await Promise.all([ngx?.run.stop(), ndx?.run.stop()]);
    for (const s of [ngx, ndx]) if (s) fs.rmSync(s.run.dir, { recursive: true, force: true });
  });

  it.each(CASES.map((k) => [k.name, k] as const))('%s', (name, k) => {
    expect(shape(ndx.answers.get(name)!, k.head, k.reset)).toEqual(shape(ngx.answers.get(name)!, k.head, k.reset));
  });

  it('writes the same access-log lines', async () => {
    const a = normLog(await readLines(path.join(ngx.run.dir, 'logs/access.log'), 1), ngx);
    const b = normLog(await readLines(path.join(ndx.run.dir, 'logs/access.log'), a.length), ndx);
    expect(a.length).toBeGreaterThan(CASES.length - 10);
    expect(b).toEqual(a);
  });

  it('writes the same error-log lines about clients', async () => {
    const pick = (lines: string[]): string[] => lines.filter((l) => l.includes('client'));
    const a = pick(normLog(await readLines(path.join(ngx.run.dir, 'logs/error.log'), 1), ngx));
    const b = pick(normLog(await readLines(path.join(ndx.run.dir, 'logs/error.log'), a.length), ndx));
    expect(a.length).toBeGreaterThan(30);
    expect(b).toEqual(a);
  });

  it('closes a connection whose client stops reading after send_timeout', async () => {
    // runs after the log comparisons: how much was sent before the stall depends on socket buffers
    const stalled = (port: number): Promise<{ got: number; closed: boolean }> => new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write('GET /slow/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n'));
      let got = 0;
      sock.pause();
      setTimeout(() => sock.resume(), 2500);
      sock.on('data', (d) => (got += d.length));
      sock.on('close', () => resolve({ got, closed: true }));
      sock.on('error', () => undefined);
      setTimeout(() => (sock.destroy(), resolve({ got, closed: false })), 8000);
    });
    const [a, b] = await Promise.all([stalled(ngx.ports[1]), stalled(ndx.ports[1])]);
    for (const x of [a, b]) {
      expect(x.closed).toBe(true);
      expect(x.got).toBeLessThan(32 * 1024 * 1024);
    }
    for (const side of [ngx, ndx]) {
      const errors = await readLines(path.join(side.run.dir, 'logs/error.log'), 1);
      expect(errors.at(-1)).toMatch(/client timed out \(110: Connection timed out\) while sending response to client, client: 127\.0\.0\.1, server: localhost, request: "GET \/slow\/big\.bin HTTP\/1\.1", host: "localhost"$/);
      const access = await readLines(path.join(side.run.dir, 'logs/access.log'), 1);
      expect(access.at(-1)).toMatch(/^"GET \/slow\/big\.bin HTTP\/1\.1" 200 /);
    }
  });

  it('counts client_header_timeout from the connection, not per byte', () => {
    for (const side of [ngx, ndx]) {
      const x = side.answers.get('one byte every 300 ms')!;
      expect(x.closed).toBe(true);
      expect(x.data.length).toBe(0);
      // 34 bytes at 300 ms would take 10 s
      expect(x.ms).toBeLessThan(2000);
    }
  });
});
