import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { header, normLog, rawRequest, readLines, startPair, type RawResponse, type Running } from './helpers/http';

// Bad input for static content: hostile Range headers, path tricks and files
// that change on disk while being sent, nodinx compared with the real nginx.

const CONFIG = `
worker_processes 1;
events { worker_connections 64; }
http {
    default_type application/octet-stream;
    access_log off;
    # room for a 10,000-range header; a 1 MB line still exceeds it
    large_client_header_buffers 4 128k;
    keepalive_timeout 65;
    server {
        listen {PORT} default_server;
        root data;
        location /i {
            alias data/i/;
        }
        location /one/ {
            max_ranges 1;
        }
        location /sf/ {
            sendfile on;
        }
    }
}
`;

const BIG = Buffer.alloc(64 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = 32 + (i % 90);

const FILES: Record<string, string | Buffer> = {
  'data/big.bin': BIG,
  'data/one/big.bin': BIG,
  'data/x': 'SECRET outside the alias\n',
  'data/i/in.txt': 'inside the alias\n',
  'data/a': 'a\n',
  'data/trunc.bin': Buffer.alloc(10 * 1024 * 1024, 0x61),
  'data/del.bin': Buffer.alloc(10 * 1024 * 1024, 0x62),
  'data/sf/trunc.bin': Buffer.alloc(10 * 1024 * 1024, 0x63),
};

const get = (uri: string, extra = ''): string => `GET ${uri} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`;

const MATTER = ['content-type', 'content-length', 'content-range', 'accept-ranges', 'connection'];

/** The comparable part of a response; multipart boundaries are random on both sides. */
function view(res: RawResponse): Record<string, unknown> {
  const ct = header(res, 'content-type') ?? '';
  const boundary = /boundary=(\S+)/.exec(ct)?.[1];
  let body = res.body.toString('latin1').replace(/<center>(nginx|nodinx)\/[\d.]+<\/center>/, '<center>SERVER</center>');
  const headers = res.headers.filter(([k]) => MATTER.includes(k.toLowerCase())).map(([k, v]) => `${k}: ${v}`);
  if (boundary) {
    body = body.split(boundary).join('BOUNDARY');
    for (let i = 0; i < headers.length; i++) headers[i] = headers[i].split(boundary).join('BOUNDARY');
  }
  return { statusLine: res.statusLine, headers, body, closed: res.closed };
}

let nginx: Running;
let nodinx: Running;

beforeAll(async () => {
  [nginx, nodinx] = await startPair('static-bad', FILES, CONFIG);
});

afterAll(async () => {
  await nginx?.stop();
  await nodinx?.stop();
});

async function both(req: string): Promise<[RawResponse, RawResponse]> {
  return [await rawRequest(nginx.port, req), await rawRequest(nodinx.port, req)];
}

const manyRanges = Array.from({ length: 10000 }, (_, i) => `${2 * i}-${2 * i}`).join(',');

const SAME: Array<[string, string]> = [
  ['10,000 ranges', get('/big.bin', `Range: bytes=${manyRanges}\r\n`)],
  ['overlapping ranges', get('/big.bin', 'Range: bytes=0-100,50-150\r\n')],
  ['max_ranges 1, several ranges', get('/one/big.bin', 'Range: bytes=0-1,4-5\r\n')],
  ['max_ranges 1, one range', get('/one/big.bin', 'Range: bytes=4-5\r\n')],
  ['1 MB Range header line', get('/big.bin', `Range: bytes=${'0-0,'.repeat(262144)}0-0\r\n`)],
  ['/../../etc/passwd', get('/../../etc/passwd')],
  ['/%2e%2e/%2e%2e/etc/passwd', get('/%2e%2e/%2e%2e/etc/passwd')],
  ['/a%00b', get('/a%00b')],
  ['//etc/passwd', get('//etc/passwd')],
];

describe('static bad input: same answer as nginx', () => {
  for (const [name, req] of SAME) {
    it(name, async () => {
      const [a, b] = await both(req);
      expect(view(b)).toEqual(view(a));
      if (name === '10,000 ranges') expect(a.statusLine).toBe('HTTP/1.1 206 Partial Content');
    });
  }
});

describe('alias traversal', () => {
  it('/i../x stays inside the alias directory', async () => {
    const [a, b] = await both(get('/i../x'));
    // nginx 1.22 answers 200 with data/x here (the alias + ../ escape)
    expect(a.status).toBe(200);
    expect([403, 404]).toContain(b.status);
    expect(b.body.toString('latin1')).not.toContain('SECRET');
  });
});

interface Slow {
  status: number;
  contentLength: number;
  bodyBytes: number;
  /** the server closed the connection (rather than the reader giving up) */
  closed: boolean;
  timedOut: boolean;
}

/**
 * GETs uri, stops reading once the headers are in, runs change() on the
 * file, then reads on to the end (or gives up after ms).
 */
function slowRead(port: number, uri: string, change: () => void, ms = 10000): Promise<Slow> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let head: { status: number; contentLength: number; start: number } | undefined;
    let changed = false;
    const timer = setTimeout(() => done(false, true), ms);
    const done = (closed: boolean, timedOut: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      if (!head) return reject(new Error('no response'));
      resolve({ status: head.status, contentLength: head.contentLength, bodyBytes: buf.length - head.start, closed, timedOut });
    };
    sock.on('connect', () => sock.write(get(uri)));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!head) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = buf.subarray(0, end).toString('latin1');
        head = { status: Number(text.split(' ')[1]), contentLength: Number(/content-length: *(\d+)/i.exec(text)?.[1] ?? -1), start: end + 4 };
      }
      if (buf.length - head.start >= head.contentLength) {
        setTimeout(() => done(sock.readableEnded, false), 50);
        return;
      }
      if (!changed) {
        changed = true;
        sock.pause();
        setTimeout(() => {
          change();
          setTimeout(() => sock.resume(), 300);
        }, 300);
      }
    });
    sock.on('end', () => done(true, false));
    sock.on('close', () => done(true, false));
    sock.on('error', () => done(true, false));
  });
}

/** The error-log lines of a run that contain `what`, comparable between servers. */
async function alerts(run: Running, what: string): Promise<string[]> {
  const file = path.join(run.dir, 'logs/error.log');
  const lines = await readLines(file, 1).catch(() => [] as string[]);
  return normLog(lines, run).filter((l) => l.includes(what));
}

describe('file changed while being sent', () => {
  const MIB10 = 10 * 1024 * 1024;

  it('truncated: the connection closes, no more than Content-Length', async () => {
    const run = async (r: Running): Promise<Slow> =>
      slowRead(r.port, '/trunc.bin', () => fs.truncateSync(path.join(r.dir, 'data/trunc.bin'), 1024));
    const a = await run(nginx);
    const b = await run(nodinx);
    // nginx: "file was truncated", short body, connection closed
    expect(a).toMatchObject({ status: 200, contentLength: MIB10, closed: true, timedOut: false });
    expect(a.bodyBytes).toBeLessThan(MIB10);
    expect(b).toMatchObject({ status: 200, contentLength: MIB10, closed: true, timedOut: false });
    expect(b.bodyBytes).toBeLessThanOrEqual(MIB10);
    // nginx's alert: its next 32 KiB read from the file came back empty
    const theirs = await alerts(nginx, 'read only');
    expect(theirs).toEqual([`[alert] pread() read only 0 of 32768 from "{dir}/data/trunc.bin" while sending response to client, client: 127.0.0.1, server: , request: "GET /trunc.bin HTTP/1.1", host: "localhost"`]);
    expect(await alerts(nodinx, 'read only')).toEqual(theirs);
    // still serving
    expect((await rawRequest(nodinx.port, get('/a'))).status).toBe(200);
  });

  it('truncated under sendfile: the alert names the offset it stopped at', async () => {
    const run = async (r: Running): Promise<Slow> =>
      slowRead(r.port, '/sf/trunc.bin', () => fs.truncateSync(path.join(r.dir, 'data/sf/trunc.bin'), 1024));
    const a = await run(nginx);
    const b = await run(nodinx);
    expect(a).toMatchObject({ status: 200, contentLength: MIB10, closed: true, timedOut: false });
    expect(b).toMatchObject({ status: 200, contentLength: MIB10, closed: true, timedOut: false });
    // where it stopped depends on how much the socket took before the truncation
    const offset = (lines: string[]): string[] => lines.map((l) => l.replace(/truncated at \d+/, 'truncated at N'));
    const theirs = offset(await alerts(nginx, 'sendfile()'));
    expect(theirs).toEqual([`[alert] sendfile() reported that "{dir}/data/sf/trunc.bin" was truncated at N while sending response to client, client: 127.0.0.1, server: , request: "GET /sf/trunc.bin HTTP/1.1", host: "localhost"`]);
    expect(offset(await alerts(nodinx, 'sendfile()'))).toEqual(theirs);
  });

  it('deleted: no crash or hang, no more than Content-Length', async () => {
    const run = async (r: Running): Promise<Slow> =>
      slowRead(r.port, '/del.bin', () => fs.rmSync(path.join(r.dir, 'data/del.bin')));
    const a = await run(nginx);
    const b = await run(nodinx);
    // nginx keeps sending from the open descriptor: the whole file, connection kept
    expect(a).toMatchObject({ status: 200, contentLength: MIB10, bodyBytes: MIB10, closed: false, timedOut: false });
    expect(b).toMatchObject({ status: 200, contentLength: MIB10, bodyBytes: MIB10, closed: false, timedOut: false });
    expect((await rawRequest(nodinx.port, get('/a'))).status).toBe(200);
  });
});
