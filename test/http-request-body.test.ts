import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/conf/load';
import { HttpRuntime } from '../src/http/runtime';
import { ErrorLog } from '../src/process/error-log';
import { setContentHandler } from '../src/http/phases';
import { sendHeader } from '../src/http/header-filter';
import { DONE, type HttpRequest, type PhaseHandler } from '../src/http/request';
import { readRequestBody, RequestBodyError } from '../src/http/request-body';
import type { LocationConf } from '../src/http/core-conf';
import {
  ensureNginx, freePort, readLines, startNginx, tempDir, writeTree, type Running,
} from './helpers/http';
import { exchange, splitResponses, type Piece } from './helpers/raw-socket';

// Reading request bodies (ngx_http_read_client_request_body). nginx reads a
// body when it proxies it: /b with proxy_request_buffering on, /u with it
// off, to a small Node backend that answers "length sha256". nodinx runs the
// same locations with a content handler of this test that reads the body
// the same two ways and answers the same. The same raw bytes go to both;
// statuses, bodies, access-log statuses and error-log messages must agree.

const LOCATIONS = ['/b', '/u', '/small/b', '/small/u', '/slow/b', '/slow/u', '/mem/b'];

function config(port: number, content: (loc: string) => string): string {
  const loc = (name: string): string => `location ${name} { ${content(name)} }`;
  return `events {}
error_log logs/error.log info;
http {
  log_format st '$request_uri $status $request_length [$request_body]';
  access_log logs/access.log st;
  server {
    listen 127.0.0.1:${port};
    server_tokens off;
    client_max_body_size 100;
    ${loc('/b')} ${loc('/u')}
    location /small/ { client_max_body_size 100; ${loc('/small/b')} ${loc('/small/u')} }
    location /slow/ { client_body_timeout 1s; ${loc('/slow/b')} ${loc('/slow/u')} }
    location /mem/ { client_body_buffer_size 100; client_max_body_size 1k; ${loc('/mem/b')} }
    location /late/ { ${loc('/late/b')} }
    location /early/ { client_max_body_size 0; ${loc('/early/u')} ${loc('/early/twice')} }
    location /big/ { client_max_body_size 0; ${loc('/big/b')} ${loc('/big/u')} }
  }
}
`;
}

const digest = (n: number, h: ReturnType<typeof createHash>): string => `${n} ${h.digest('hex')}\n`;

/** The test's content handler: reads the body as the proxy would, answers "length sha256". */
function echo(buffered: boolean, onChunk?: (r: HttpRequest, readable: number) => Promise<void>): PhaseHandler {
  return async (r) => {
    const body = await readRequestBody(r, { buffered, action: buffered ? undefined : 'sending request to upstream' });
    if (typeof body === 'number') return body;
    const h = createHash('sha256');
    let n = 0;
    if (body.buffered) {
      for (const b of body.buffered) (h.update(b), (n += b.length));
    } else {
      try {
        for await (const c of body.stream!) {
          h.update(c as Buffer);
          n += (c as Buffer).length;
          await onChunk?.(r, body.stream!.readableLength);
        }
      } catch (e) {
        if (e instanceof RequestBodyError) return e.status;
        throw e;
      }
    }
    return answer(r, digest(n, h));
  };
}

function answer(r: HttpRequest, text: string): number {
  r.status = 200;
  r.out.contentLength = text.length;
  const rc = sendHeader(r);
  if (rc !== DONE) return rc;
  r.bodyBytesSent += text.length;
  r.res.end(text);
  return DONE;
}

function findLoc(loc: LocationConf, name: string): LocationConf | undefined {
  if (loc.name === name) return loc;
  for (const l of loc.locations) {
    const found = findLoc(l, name);
    if (found) return found;
  }
  return undefined;
}

let backend: http.Server;
let ngx: Running;
let ndx: Running;
let runtime: HttpRuntime;
let errorLog: ErrorLog;
/** what the slow consumer of /big/u saw: pauses of the client socket, the most its stream held */
const big = { pauses: 0, maxReadable: 0 };

beforeAll(async () => {
  ensureNginx();
  backend = http.createServer((req, res) => {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (d: Buffer) => (h.update(d), (n += d.length)));
    req.on('end', () => {
      const text = digest(n, h);
      res.writeHead(200, { 'content-length': text.length });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const bport = (backend.address() as net.AddressInfo).port;
  const [p1, p2] = [await freePort(), await freePort()];
  const d1 = tempDir('body-nginx');
  const d2 = tempDir('body-nodinx');
  for (const d of [d1, d2]) writeTree(d, { 'html/index.html': 'x\n', 'logs/': '' });
  fs.writeFileSync(path.join(d1, 'nginx.conf'), config(p1, (loc) => `proxy_pass http://127.0.0.1:${bport};`
    + (loc.endsWith('/u') ? ' proxy_request_buffering off; proxy_http_version 1.1;' : '')));
  fs.writeFileSync(path.join(d2, 'nginx.conf'), config(p2, () => ''));
  ngx = await startNginx(d1, p1);
  const cycle = loadConfig({ prefix: d2, confFile: 'nginx.conf' });
  const srvLoc = cycle.http!.servers[0].core.loc!;
  for (const name of LOCATIONS) setContentHandler(findLoc(srvLoc, name)!, echo(name.endsWith('/b')));
  setContentHandler(findLoc(srvLoc, '/big/b')!, echo(true));
  setContentHandler(findLoc(srvLoc, '/big/u')!, echo(false, async (r, readable) => {
    if (!r.ctx.probed) r.conn.socket.on('pause', () => big.pauses++);
    r.ctx.probed = true;
    big.maxReadable = Math.max(big.maxReadable, readable);
    await new Promise((res) => setTimeout(res, 1));
  }));
  // a handler that asks for the body only a while after the head (a proxy resolving its upstream)
  const late = echo(true);
  setContentHandler(findLoc(srvLoc, '/late/b')!, async (r) => {
    await new Promise((res) => setTimeout(res, 200));
    return late(r);
  });
  setContentHandler(findLoc(srvLoc, '/early/u')!, async (r) => {
    // a handler that answers after the first bytes, as a proxy whose upstream answered early
    const body = await readRequestBody(r, { buffered: false });
    if (typeof body === 'number') return body;
    for await (const c of body.stream!) {
      void c;
      break;
    }
    return answer(r, 'early\n');
  });
  setContentHandler(findLoc(srvLoc, '/early/twice')!, async (r) => {
    const one = await readRequestBody(r, { buffered: true });
    const two = await readRequestBody(r, { buffered: true });
    if (typeof one === 'number' || typeof two === 'number') return 500;
    return answer(r, `${one === two} ${Buffer.concat(two.buffered!).toString()}\n`);
  });
  errorLog = new ErrorLog();
  errorLog.open([{ file: path.join(d2, 'logs/error.log'), level: 'info', debug: false }]);
  runtime = new HttpRuntime({ errorLog });
  await runtime.listen(cycle);
  ndx = {
    port: p2, dir: d2,
    async stop() {
      await runtime.close(false);
      errorLog.close();
    },
  };
});

afterAll(async () => {
  await ngx?.stop();
  await ndx?.stop();
  await new Promise((resolve) => backend?.close(resolve));
  if (!process.env.KEEP) for (const r of [ngx, ndx]) if (r) fs.rmSync(r.dir, { recursive: true, force: true });
});

interface Seen {
  responses: string[];
  closed: boolean;
  access: string[];
  errors: string[];
}

const logSize = (run: Running, name: string): number => {
  const f = path.join(run.dir, 'logs', name);
  return fs.existsSync(f) ? fs.statSync(f).size : 0;
};

/** The log lines written since `from` bytes, once at least `n` are there. */
async function linesSince(run: Running, name: string, from: number, n: number, ms = 2000): Promise<string[]> {
  const file = path.join(run.dir, 'logs', name);
  const until = Date.now() + ms;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file).subarray(from).toString('latin1') : '';
    const lines = text.split('\n').filter((l) => l !== '');
    if (lines.length >= n || Date.now() > until) return lines;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** An error-log line's level and message, without time, pid, connection and what follows "client:". */
const message = (l: string): string => l.replace(/^\S+ \S+ \[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').replace(/, client: .*/, '');

/** Sends the pieces; what the client saw and what the logs say (error lines: level and message only). */
async function run(target: Running, pieces: Piece[], opts: { idle?: number; shut?: boolean; requests?: number } = {}): Promise<Seen> {
  const a0 = logSize(target, 'access.log');
  const e0 = logSize(target, 'error.log');
  const ex = await exchange(target.port, pieces, { idle: opts.idle ?? 400, shut: opts.shut });
  // the built-in error pages name the server: nodinx's says "nodinx" where nginx's says "nginx"
  const responses = splitResponses(ex.data).map((r) => `${r.statusLine}\n${r.body.replace('<center>nodinx</center>', '<center>nginx</center>')}`);
  const access = await linesSince(target, 'access.log', a0, opts.requests ?? 1);
  await new Promise((r) => setTimeout(r, 50));
  const errors = (await linesSince(target, 'error.log', e0, 0, 0)).map(message)
    // the keep-alive close at the end of a session is not what is compared
    .filter((l) => !l.includes('closed keepalive connection') && !l.includes('open()'));
  return { responses, closed: ex.closed, access, errors };
}

async function both(pieces: Piece[], opts: { idle?: number; shut?: boolean; requests?: number } = {}): Promise<[Seen, Seen]> {
  return [await run(ngx, pieces, opts), await run(ndx, pieces, opts)];
}

const post = (uri: string, headers: string): string => `POST ${uri} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`;
const x = (n: number, ch = 'x'): string => ch.repeat(n);

describe('request bodies, read as nginx reads them', () => {
  for (const mode of ['b', 'u']) {
    describe(mode === 'b' ? 'buffered' : 'unbuffered', () => {
      it('Content-Length body in pieces with pauses', async () => {
        const [g, d] = await both([post(`/${mode}`, 'Content-Length: 10\r\n') + 'abc', { pause: 100 }, 'defg', { pause: 100 }, 'hij']);
        expect(d.responses).toEqual(g.responses);
        expect(d.responses[0]).toMatch(/^HTTP\/1.1 200 OK\n10 /);
        expect(d.access).toEqual(g.access);
        expect(d.errors).toEqual(g.errors);
      });

      it('chunked body with extensions and a trailer, then a pipelined request', async () => {
        const body = `50;a=b\r\n${x(80)}\r\n5 ; q\r\nabcde\r\n0\r\nTrailer-A: 1\r\n\r\n`;
        const [g, d] = await both([post(`/${mode}`, 'Transfer-Encoding: chunked\r\n') + body.slice(0, 30), { pause: 50 },
          body.slice(30) + 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n'], { requests: 2 });
        expect(d.responses).toEqual(g.responses);
        expect(d.responses.map((r) => r.split('\n')[0])).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
        expect(d.responses[0]).toContain('\n85 ');
        expect(d.access).toEqual(g.access);
        expect(d.errors).toEqual(g.errors);
      });

      it('pipelined requests after bodies in one write', async () => {
        const one = post(`/${mode}`, 'Content-Length: 3\r\n') + 'one';
        const two = post(`/${mode}`, 'Transfer-Encoding: chunked\r\n') + '3\r\ntwo\r\n0\r\n\r\n';
        const [g, d] = await both([one + two + one], { requests: 3 });
        expect(d.responses).toEqual(g.responses);
        expect(d.responses).toHaveLength(3);
        expect(d.access).toEqual(g.access);
      });

      it('answers "Expect: 100-continue" when the body is read', async () => {
        const [g, d] = await both([post(`/${mode}`, 'Content-Length: 5\r\nExpect: 100-continue\r\n'), { pause: 150 }, 'abcde']);
        expect(d.responses).toEqual(g.responses);
        expect(d.responses[0]).toBe('HTTP/1.1 100 Continue\n');
        expect(d.access).toEqual(g.access);
      });

      it('"Expect: 100-continue" without a body, and before a 413', async () => {
        const [g, d] = await both([post(`/${mode}`, 'Expect: 100-continue\r\n') + post(`/small/${mode}`, 'Content-Length: 101\r\nExpect: 100-continue\r\n')], { requests: 2 });
        expect(d.responses).toEqual(g.responses);
        expect(d.responses.map((r) => r.split('\n')[0])).toEqual(['HTTP/1.1 100 Continue', 'HTTP/1.1 200 OK', 'HTTP/1.1 413 Request Entity Too Large']);
        expect(d.access).toEqual(g.access);
      });

      it('client_body_timeout: 408 in the access log, no answer, no error line', async () => {
        const [g, d] = await both([post(`/slow/${mode}`, 'Content-Length: 10\r\n') + 'abc'], { idle: 1600 });
        expect(d.responses).toEqual([]);
        expect(g.responses).toEqual([]);
        expect(d.closed).toBe(true);
        expect(d.access).toEqual(g.access);
        expect(d.access[0]).toMatch(/ 408 /);
        expect(d.errors).toEqual(g.errors);
      });

      it('too large chunked body: 413 and nginx\'s line', async () => {
        const body = `50\r\n${x(80)}\r\n40\r\n${x(64)}\r\n0\r\n\r\n`;
        const [g, d] = await both([post(`/small/${mode}`, 'Transfer-Encoding: chunked\r\n') + '50\r\n', { pause: 100 }, body.slice(4)]);
        expect(d.responses.map((r) => r.split('\n')[0])).toEqual(['HTTP/1.1 413 Request Entity Too Large']);
        expect(d.responses).toEqual(g.responses);
        expect(d.closed).toBe(g.closed);
        expect(d.access).toEqual(g.access);
        expect(d.errors).toEqual(g.errors);
        expect(d.errors.join('\n')).toContain('client intended to send too large chunked body: 80+64 bytes');
      });

      it('too large Content-Length: 413 before reading', async () => {
        const [g, d] = await both([post(`/small/${mode}`, 'Content-Length: 101\r\n')]);
        expect(d.responses).toEqual(g.responses);
        expect(d.errors).toEqual(g.errors);
        expect(d.errors).toEqual(['[error] client intended to send too large body: 101 bytes']);
      });

      it('invalid chunked body: 400 and nginx\'s line', async () => {
        const [g, d] = await both([post(`/${mode}`, 'Transfer-Encoding: chunked\r\n') + '5\r\nabcde\r\nzz\r\n']);
        expect(d.responses.map((r) => r.split('\n')[0])).toEqual(['HTTP/1.1 400 Bad Request']);
        expect(d.responses).toEqual(g.responses);
        expect(d.closed).toBe(g.closed);
        expect(d.access).toEqual(g.access);
        expect(d.errors).toEqual(g.errors);
      });

      it('client resetting mid-body: 400 in the access log and nginx\'s line', async () => {
        const bytes = post(`/${mode}`, 'Content-Length: 10\r\n') + 'abc';
        const seen: Seen[] = [];
        for (const run of [ngx, ndx]) {
          const a0 = logSize(run, 'access.log');
          const e0 = logSize(run, 'error.log');
          await new Promise<void>((resolve) => {
            const s = net.connect(run.port, '127.0.0.1', () => {
              s.write(bytes);
              setTimeout(() => (s.resetAndDestroy(), resolve()), 150);
            });
            s.on('error', () => undefined);
          });
          const access = await linesSince(run, 'access.log', a0, 1);
          const errors = (await linesSince(run, 'error.log', e0, 1)).map(message);
          seen.push({ responses: [], closed: true, access, errors });
        }
        const [g, d] = seen;
        expect(d.access).toEqual(g.access);
        expect(d.access[0]).toMatch(/ 400 /);
        expect(d.errors).toEqual(g.errors);
        expect(d.errors[0]).toMatch(/^\[info\] recv\(\) failed \(104: Connection reset by peer\)/);
      });

      it('client closing mid-body: 400 in the access log and nginx\'s line', async () => {
        const [g, d] = await both([post(`/${mode}`, 'Content-Length: 10\r\n') + 'abc', { pause: 100 }], { shut: true });
        expect(d.responses).toEqual([]);
        expect(g.responses).toEqual([]);
        expect(d.access).toEqual(g.access);
        expect(d.access[0]).toMatch(/ 400 /);
        expect(d.errors).toEqual(g.errors);
      });
    });
  }
});

describe('a body asked for late', () => {
  it('the client closed before: 400 and nginx\'s line', async () => {
    const [g, d] = await both([post('/late/b', 'Content-Length: 10\r\n') + 'abc'], { shut: true });
    expect(d.responses).toEqual(g.responses);
    expect(d.access).toEqual(g.access);
    expect(d.access[0]).toMatch(/ 400 /);
    expect(d.errors).toEqual(g.errors);
  });

  it('the whole body came meanwhile', async () => {
    const [g, d] = await both([post('/late/b', 'Content-Length: 10\r\n') + 'abc', { pause: 50 }, 'defghij']);
    expect(d.responses).toEqual(g.responses);
    expect(d.access).toEqual(g.access);
  });
});

describe('discarded bodies', () => {
  for (const [name, pieces] of [
    ['Content-Length, with the head', [post('/index.html', 'Content-Length: 10\r\n') + x(10) + 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n']],
    ['Content-Length, apart', [post('/index.html', 'Content-Length: 10\r\n'), { pause: 100 }, x(10), { pause: 100 }, 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n']],
    ['chunked, apart', [post('/index.html', 'Transfer-Encoding: chunked\r\n'), { pause: 100 }, '3\r\nabc\r\n0\r\n\r\n', { pause: 100 }, 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n']],
  ] as Array<[string, Piece[]]>) {
    it(`${name}: status and $request_length`, async () => {
      const [g, d] = await both(pieces, { requests: 2 });
      expect(d.responses).toEqual(g.responses);
      expect(d.access).toEqual(g.access);
    });
  }
});

describe('$request_body', () => {
  // nginx has it only for a body kept in memory buffers, not one it wrote to a temporary file
  const cases: Array<[string, Piece[]]> = [];
  for (const n of [50, 124, 125, 200]) {
    const head = post(`/mem/b?n=${n}`, `Content-Length: ${n}\r\nConnection: close\r\n`);
    cases.push([`Content-Length ${n}, apart from the head`, [head, { pause: 100 }, x(n, 'a')]]);
    cases.push([`Content-Length ${n}, with the head`, [head + x(n, 'a')]]);
    cases.push([`Content-Length ${n}, partly with the head`, [head + x(10, 'a'), { pause: 100 }, x(n - 10, 'a')]]);
  }
  for (const n of [89, 90, 200, 2000]) {
    const head = post(`/mem/b?c=${n}`, 'Transfer-Encoding: chunked\r\nConnection: close\r\n');
    const body = `${n.toString(16)}\r\n${x(n, 'a')}\r\n0\r\n\r\n`;
    cases.push([`chunked ${n}, apart from the head`, [head, { pause: 100 }, body]]);
    cases.push([`chunked ${n}, with the head`, [head + body]]);
  }
  for (const [name, pieces] of cases) {
    it(name, async () => {
      const [g, d] = await both(pieces);
      expect(d.responses).toEqual(g.responses);
      expect(d.access).toEqual(g.access);
    });
  }
});

describe('nodinx only: what a handler may do with the reader', () => {
  it('answered before the body was read: the connection is not kept alive', async () => {
    const ex = await exchange(ndx.port, [post('/early/u', 'Content-Length: 100000\r\n') + x(1000), { pause: 100 }, x(1000),
      { pause: 100 }, 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n'], { idle: 1000 });
    const responses = splitResponses(ex.data);
    expect(responses.map((r) => `${r.statusLine} ${r.body}`)).toEqual(['HTTP/1.1 200 OK early\n']);
    expect(ex.closed).toBe(true);
  });

  it('reading twice gives the same body', async () => {
    const ex = await exchange(ndx.port, [post('/early/twice', 'Content-Length: 5\r\n') + 'hello']);
    expect(splitResponses(ex.data).map((r) => r.body)).toEqual(['true hello\n']);
  });

  it('no "100 Continue" for HTTP/1.0', async () => {
    const ex = await exchange(ndx.port, ['POST /b HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n', { pause: 100 }, 'ab']);
    expect(splitResponses(ex.data).map((r) => r.statusLine)).toEqual(['HTTP/1.1 200 OK']);
  });
});

describe('a big streamed body', () => {
  for (const chunked of [false, true]) {
    it(`50 MiB${chunked ? ', chunked,' : ''} to a slow consumer: the socket is paused, little is buffered`, async () => {
      big.pauses = 0;
      big.maxReadable = 0;
      const size = 50 * 1024 * 1024;
      const block = Buffer.alloc(1024 * 1024, 'z');
      const h = createHash('sha256');
      for (let i = 0; i < 50; i++) h.update(block);
      const want = digest(size, h);
      const framing = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${size}`;
      const got = await new Promise<string>((resolve, reject) => {
        const s = net.connect(ndx.port, '127.0.0.1', async () => {
          s.write(`POST /big/u HTTP/1.1\r\nHost: x\r\n${framing}\r\n\r\n`);
          for (let i = 0; i < 50; i++) {
            const piece = chunked ? Buffer.concat([Buffer.from('100000\r\n'), block, Buffer.from('\r\n')]) : block;
            if (!s.write(piece)) await new Promise((r) => s.once('drain', r));
          }
          if (chunked) s.write('0\r\n\r\n');
        });
        let text = '';
        s.on('data', (d) => {
          text += d.toString('latin1');
          if (text.endsWith('\n') && text.includes('\r\n\r\n')) (s.destroy(), resolve(text));
        });
        s.on('error', reject);
      });
      expect(got.slice(got.indexOf('\r\n\r\n') + 4)).toBe(want);
      expect(big.pauses).toBeGreaterThan(0);
      // the stream's own buffer stays near its high-water mark, never the body
      expect(big.maxReadable).toBeLessThan(1024 * 1024);
    }, 60000);
  }
});

describe('directives of bodies nodinx keeps in memory', () => {
  for (const [directive, value] of [['client_body_in_file_only', 'on'], ['client_body_in_file_only', 'clean'], ['client_body_in_single_buffer', 'on']]) {
    it(`refuses "${directive} ${value}" and accepts "off"`, () => {
      const dir = tempDir('body-conf');
      try {
        const write = (v: string): void => fs.writeFileSync(path.join(dir, 'nginx.conf'), `events {}\nhttp {\n  server {\n    ${directive} ${v};\n  }\n}\n`);
        write(value);
        expect(() => loadConfig({ prefix: dir, confFile: 'nginx.conf' }))
          .toThrow(`the "${value}" parameter of "${directive}" is not supported by nodinx in ${dir}/nginx.conf:4`);
        write('off');
        expect(() => loadConfig({ prefix: dir, confFile: 'nginx.conf' })).not.toThrow();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
