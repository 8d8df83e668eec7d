import * as crypto from 'node:crypto';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { header, rawRequest, readLines, startPair, type RawResponse, type Running } from './helpers/http';

// gzip and gzip_static: nginx and nodinx on the same config and tree. Each
// request must get the same status and the same headers that compression
// touches; a gzipped body must inflate to the file (the deflated bytes need
// not be nginx's), any other body must be nginx's.

const text = (n: number): string => {
  let s = '';
  for (let i = 0; s.length < n; i++) s += `line ${i} of a text file that compresses well\n`;
  return s.slice(0, n);
};

const FILES: Record<string, string | Buffer> = {
  'html/t0.txt': '',
  'html/t1.txt': 'x',
  'html/t100.txt': text(100),
  'html/t64k.txt': text(64 * 1024),
  'html/t1m.txt': text(1024 * 1024),
  // deflates to about 3/4: the gzip stream outruns a client that does not read
  'html/r2m.txt': crypto.randomBytes(1536 * 1024).toString('base64'),
  'html/page.html': text(300),
  'html/data.bin': text(300),
  'html/pre.txt': text(5000),
  'html/pre.txt.gz': zlib.gzipSync(text(5000)),
  'html/pre.css': text(2000),
  'html/pre.css.gz': zlib.gzipSync(text(2000)),
  'html/empty.txt': text(100),
  'html/empty.txt.gz': '',
  'html/dir.txt': text(100),
  'html/dir.txt.gz/': '',
};

const CONFIG = `
worker_processes 1;
events { worker_connections 64; }
http {
    types { text/html html; text/plain txt; text/css css; }
    default_type application/octet-stream;
    access_log off;
    server_tokens off;
    log_format ratio '$uri $status $body_bytes_sent $gzip_ratio';
    server {
        listen 127.0.0.1:{PORT};
        root html;
        gzip on;
        gzip_types text/plain;
        location /lvl/ { alias html/; gzip_comp_level 9; gzip_buffers 4 16k; }
        location /min/ { alias html/; gzip_min_length 1000; }
        location /min0/ { alias html/; gzip_min_length 0; }
        location /vary/ { alias html/; gzip_vary on; }
        location /star/ { alias html/; gzip_types *; }
        location /html/ { alias html/; gzip_types text/css; }
        location /off/ { alias html/; gzip off; gzip_vary on; }
        location /v10/ { alias html/; gzip_http_version 1.0; }
        location /pany/ { alias html/; gzip_proxied any; }
        location /pnc/ { alias html/; gzip_proxied no-cache; add_header Cache-Control "public, no-cache"; }
        location /pns/ { alias html/; gzip_proxied no-store private; add_header Cache-Control no-cache; }
        location /pexp/ { alias html/; gzip_proxied expired; expires -1; }
        location /pfut/ { alias html/; gzip_proxied expired; expires 1h; }
        location /pauth/ { alias html/; gzip_proxied auth; }
        location /petag/ { alias html/; gzip_proxied no_etag; }
        location /plm/ { alias html/; gzip_proxied no_last_modified; }
        location /dis/ { alias html/; gzip_disable "^curl/" msie6; }
        location /ife/ { alias html/; gzip off; if ($arg_z) { gzip on; } }
        location /st/ { alias html/; gzip off; gzip_static on; }
        location /stv/ { alias html/; gzip off; gzip_static on; gzip_vary on; }
        location /sta/ { alias html/; gzip off; gzip_static always; }
        location /stg/ { alias html/; gzip_static on; gzip_types *; }
        location /ratio/ { alias html/; gzip_types *; access_log logs/ratio.log ratio; }
        location /cs/ { alias html/; charset utf-8; gzip_static on; }
        location /err/ { alias html/; gzip_types *; error_page 404 /t64k.txt; }
    }
}
`;

/** The body of a chunked response, unframed. */
function dechunk(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  let p = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', p);
    if (eol < 0) throw new Error('truncated chunked body');
    const n = parseInt(b.subarray(p, eol).toString('latin1'), 16);
    if (n === 0) return Buffer.concat(parts);
    parts.push(b.subarray(eol + 2, eol + 2 + n));
    p = eol + 2 + n + 2;
  }
}

function body(res: RawResponse): Buffer {
  const b = header(res, 'transfer-encoding') === 'chunked' ? dechunk(res.body) : res.body;
  return header(res, 'content-encoding') === 'gzip' && b.length > 0 ? zlib.gunzipSync(b) : b;
}

const COMPARED = ['content-type', 'content-length', 'transfer-encoding', 'connection', 'last-modified', 'etag', 'content-encoding', 'vary', 'accept-ranges', 'content-range', 'cache-control'];

/** The headers gzip touches, in the order sent. */
function shape(res: RawResponse): string[] {
  return [res.statusLine, ...res.headers.filter(([k]) => COMPARED.includes(k.toLowerCase())).map(([k, v]) => `${k}: ${v}`)];
}

let nginx: Running;
let nodinx: Running;

beforeAll(async () => {
  [nginx, nodinx] = await startPair('gzip', FILES, CONFIG);
}, 60000);

afterAll(async () => {
  await Promise.all([nginx?.stop(), nodinx?.stop()]);
});

async function both(uri: string, headers = 'Accept-Encoding: gzip\r\n', opts: { method?: string; version?: string } = {}): Promise<[RawResponse, RawResponse]> {
  const method = opts.method ?? 'GET';
  const req = `${method} ${uri} HTTP/${opts.version ?? '1.1'}\r\nHost: localhost\r\nConnection: close\r\n${headers}\r\n`;
  const head = method === 'HEAD';
  return Promise.all([rawRequest(nginx.port, req, { head }), rawRequest(nodinx.port, req, { head })]);
}

async function same(uri: string, headers?: string, opts?: { method?: string; version?: string }): Promise<RawResponse> {
  const [a, b] = await both(uri, headers, opts);
  expect(shape(b)).toEqual(shape(a));
  // nodinx's own error pages sign "nodinx" where nginx's sign "nginx"
  const text = (res: RawResponse): string => body(res).toString('latin1').replace('<center>nodinx</center>', '<center>nginx</center>');
  if (opts?.method !== 'HEAD') expect(text(b)).toBe(text(a));
  return b;
}

const gzipped = (res: RawResponse): boolean => header(res, 'content-encoding') === 'gzip';

describe('gzip filter', () => {
  it.each(['/t0.txt', '/t1.txt', '/t100.txt', '/t64k.txt', '/t1m.txt', '/page.html', '/data.bin', '/min0/t0.txt', '/min0/t1.txt'])(
    '%s as nginx, body inflates to the file', async (uri) => {
      await same(uri);
    });

  it('compresses a text file by default rules and leaves short ones', async () => {
    expect(gzipped(await same('/t100.txt'))).toBe(true);
    expect(gzipped(await same('/t1.txt'))).toBe(false);
    expect(gzipped(await same('/min0/t1.txt'))).toBe(true);
  });

  it('gzip_comp_level and gzip_buffers change nothing nginx shows', async () => {
    expect(gzipped(await same('/lvl/t64k.txt'))).toBe(true);
  });

  it('gzip_min_length compares with Content-Length', async () => {
    expect(gzipped(await same('/min/t100.txt'))).toBe(false);
    expect(gzipped(await same('/min/t64k.txt'))).toBe(true);
  });

  it('gzip_types: text/html always, * any type', async () => {
    expect(gzipped(await same('/html/page.html'))).toBe(true);
    expect(gzipped(await same('/html/t100.txt'))).toBe(false);
    expect(gzipped(await same('/data.bin'))).toBe(false);
    expect(gzipped(await same('/star/data.bin'))).toBe(true);
  });

  it('gzip_vary adds Vary whether or not the client takes gzip', async () => {
    expect(header(await same('/vary/t100.txt'), 'vary')).toBe('Accept-Encoding');
    expect(header(await same('/vary/t100.txt', ''), 'vary')).toBe('Accept-Encoding');
    expect(header(await same('/vary/t1.txt'), 'vary')).toBeUndefined();
    expect(header(await same('/off/t100.txt'), 'vary')).toBeUndefined();
  });

  it.each([
    ['none', ''],
    ['gzip', 'Accept-Encoding: gzip\r\n'],
    ['GZIP upper', 'Accept-Encoding: GZIP\r\n'],
    ['gzip, deflate', 'Accept-Encoding: gzip, deflate\r\n'],
    ['deflate, gzip', 'Accept-Encoding: deflate, gzip\r\n'],
    ['q=0', 'Accept-Encoding: gzip;q=0\r\n'],
    ['q=0.000', 'Accept-Encoding: gzip;q=0.000\r\n'],
    ['q=0.5', 'Accept-Encoding: gzip; q=0.5\r\n'],
    ['q=1.0', 'Accept-Encoding: deflate, gzip;q=1.0\r\n'],
    ['q=1.5', 'Accept-Encoding: gzip;q=1.5\r\n'],
    ['q=0.0001', 'Accept-Encoding: gzip;q=0.0001\r\n'],
    ['x-gzip', 'Accept-Encoding: x-gzip\r\n'],
    ['gzipx', 'Accept-Encoding: gzipx\r\n'],
    ['identity', 'Accept-Encoding: identity\r\n'],
    ['*', 'Accept-Encoding: *\r\n'],
    ['two headers', 'Accept-Encoding: identity\r\nAccept-Encoding: gzip\r\n'],
  ])('Accept-Encoding %s as nginx', async (_name, h) => {
    await same('/t100.txt', h);
  });

  it('HEAD, HTTP/1.0 and a 304 as nginx', async () => {
    await same('/t64k.txt', undefined, { method: 'HEAD' });
    expect(gzipped(await same('/v10/t64k.txt', undefined, { version: '1.0' }))).toBe(true);
    expect(gzipped(await same('/t64k.txt', undefined, { version: '1.0' }))).toBe(false);
    const res = await same('/t64k.txt');
    await same('/t64k.txt', `Accept-Encoding: gzip\r\nIf-None-Match: ${header(res, 'etag')}\r\n`);
    await same('/t64k.txt', 'Accept-Encoding: gzip\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n');
  });

  it('a Range request gets the whole gzipped body', async () => {
    expect(gzipped(await same('/t64k.txt', 'Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n'))).toBe(true);
    expect((await same('/t64k.txt', 'Range: bytes=0-9\r\n')).status).toBe(206);
  });

  it('error pages and a 404 are compressed as nginx does', async () => {
    await same('/err/missing');
    await same('/missing.txt');
  });

  it.each(['/t100.txt', '/pany/t100.txt', '/pnc/t100.txt', '/pns/t100.txt', '/pexp/t100.txt', '/pfut/t100.txt', '/pauth/t100.txt', '/petag/t100.txt', '/plm/t100.txt'])(
    'gzip_proxied: %s with Via as nginx', async (uri) => {
      await same(uri, 'Accept-Encoding: gzip\r\nVia: 1.1 proxy\r\n');
      await same(uri, 'Accept-Encoding: gzip\r\nVia: 1.1 proxy\r\nAuthorization: Basic eDp5\r\n');
    });

  it('gzip_proxied any compresses for a proxy, off does not', async () => {
    expect(gzipped(await same('/pany/t100.txt', 'Accept-Encoding: gzip\r\nVia: 1.1 proxy\r\n'))).toBe(true);
    expect(gzipped(await same('/t100.txt', 'Accept-Encoding: gzip\r\nVia: 1.1 proxy\r\n'))).toBe(false);
  });

  it.each([
    'curl/8.0', 'Curl/8.0', 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)', 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)',
    'Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)', 'Opera/9.0 (MSIE 6.0; X)', 'Mozilla/5.0 Firefox',
  ])('gzip_disable: User-Agent %s as nginx', async (ua) => {
    await same('/dis/t100.txt', `Accept-Encoding: gzip\r\nUser-Agent: ${ua}\r\n`);
  });

  it('with charset: the type is matched without the charset nginx appends', async () => {
    expect(gzipped(await same('/cs/page.html'))).toBe(true);
    expect(gzipped(await same('/cs/pre.txt'))).toBe(true);
  });

  it('gzip inside if', async () => {
    expect(gzipped(await same('/ife/t100.txt?z=1'))).toBe(true);
    expect(gzipped(await same('/ife/t100.txt'))).toBe(false);
  });
});

describe('gzip_static', () => {
  it.each([
    ['/st/pre.txt', 'Accept-Encoding: gzip\r\n'],
    ['/st/pre.txt', ''],
    ['/st/pre.css', 'Accept-Encoding: gzip\r\n'],
    ['/st/t100.txt', 'Accept-Encoding: gzip\r\n'],
    ['/st/empty.txt', 'Accept-Encoding: gzip\r\n'],
    ['/st/dir.txt', 'Accept-Encoding: gzip\r\n'],
    ['/stv/pre.txt', 'Accept-Encoding: gzip\r\n'],
    ['/stv/pre.txt', ''],
    ['/stv/t100.txt', ''],
    ['/sta/pre.txt', ''],
    ['/sta/pre.txt', 'Range: bytes=0-9\r\n'],
    ['/stg/pre.txt', 'Accept-Encoding: gzip\r\n'],
    ['/stg/pre.txt', 'Accept-Encoding: gzip;q=0\r\n'],
    ['/st/pre.txt', 'Accept-Encoding: gzip\r\nVia: 1.1 proxy\r\n'],
  ])('%s with %j as nginx', async (uri, h) => {
    await same(uri, h);
  });

  it('serves the .gz with the original type, its own ETag and no Accept-Ranges', async () => {
    const res = await same('/st/pre.css');
    expect(gzipped(res)).toBe(true);
    expect(header(res, 'content-type')).toBe('text/css');
    expect(header(res, 'content-length')).toBe(String((FILES['html/pre.css.gz'] as Buffer).length));
    expect(header(res, 'etag')).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(header(res, 'accept-ranges')).toBeUndefined();
    await same('/st/pre.css', undefined, { method: 'HEAD' });
  });

  it('a conditional request on the .gz is a 304, a Range is ignored', async () => {
    const res = await same('/st/pre.txt');
    expect((await same('/st/pre.txt', `Accept-Encoding: gzip\r\nIf-None-Match: ${header(res, 'etag')}\r\n`)).status).toBe(304);
    expect((await same('/st/pre.txt', 'Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n')).status).toBe(200);
    // a 412 is an error page: nodinx's is a byte longer (it signs "nodinx"), the rest must agree
    for (const uri of ['/st/pre.txt', '/t64k.txt']) {
      const [a, b] = await both(uri, 'Accept-Encoding: gzip\r\nIf-Match: "nope"\r\n');
      const drop = (res: RawResponse): string[] => shape(res).filter((h) => !h.startsWith('Content-Length:'));
      expect(b.status).toBe(412);
      expect(drop(b)).toEqual(drop(a));
    }
  });
});

/** Connects, sends, waits `pause` ms before reading anything, then reads to the close. */
function slowRequest(port: number, req: string, pause: number, abort = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    sock.pause();
    sock.on('connect', () => {
      sock.write(req);
      setTimeout(() => {
        if (abort) {
          sock.destroy();
          resolve(Buffer.alloc(0));
          return;
        }
        sock.resume();
      }, pause);
    });
    sock.on('data', (d) => parts.push(d));
    sock.on('end', () => resolve(Buffer.concat(parts)));
    sock.on('error', reject);
  });
}

describe('gzip stream', () => {
  const req = 'GET /star/r2m.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAccept-Encoding: gzip\r\n\r\n';

  it('a client that reads late still gets the whole body, inflating to the file', async () => {
    const raw = await slowRequest(nodinx.port, req, 300);
    const end = raw.indexOf('\r\n\r\n');
    expect(raw.subarray(0, end).toString('latin1')).toMatch(/Transfer-Encoding: chunked\r\n[^]*Content-Encoding: gzip/);
    expect(zlib.gunzipSync(dechunk(raw.subarray(end + 4))).toString('latin1')).toBe(FILES['html/r2m.txt']);
  });

  it('a client that goes away mid-body leaves the server serving', async () => {
    await slowRequest(nodinx.port, req, 100, true);
    await new Promise((r) => setTimeout(r, 100));
    expect(gzipped(await same('/t1m.txt'))).toBe(true);
  });
});

describe('$gzip_ratio', () => {
  it('is in/out of deflate as nginx rounds it, "-" when nothing was compressed', async () => {
    for (const [uri, h] of [['/ratio/t100.txt', undefined], ['/ratio/t64k.txt', undefined], ['/ratio/page.html', undefined], ['/ratio/t100.txt', ''], ['/ratio/pre.txt.gz', undefined]]) {
      await same(uri!, h);
    }
    const [a, b] = await Promise.all([nginx, nodinx].map((s) => readLines(path.join(s.dir, 'logs/ratio.log'), 5)));
    // Node links Chromium's zlib, whose deflate output differs from Debian's zlib past a few bytes
    const parse = (l: string): [string, number] => [l.slice(0, l.indexOf(' ', l.indexOf(' ') + 1)), Number(l.slice(l.lastIndexOf(' ') + 1))];
    expect(b.map((l) => parse(l)[0])).toEqual(a.map((l) => parse(l)[0]));
    b.forEach((l, i) => {
      const [x, y] = [parse(l)[1], parse(a[i])[1]];
      if (Number.isNaN(y)) expect(l).toBe(a[i]);
      else expect(Math.abs(x - y) / y).toBeLessThan(0.05);
    });
    expect(b[0]).toBe(a[0]);
    expect(b[0]).toMatch(/^\/ratio\/t100.txt 200 83 \d+\.\d\d$/);
    expect(b[3]).toBe('/ratio/t100.txt 200 100 -');
  });
});
