import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { header, normLog, rawRequest, readLines, startPair, type RawResponse, type Running } from './helpers/http';

// ngx_http_charset_module against nginx on the same config and tree:
// Content-Type and the body byte for byte, for the maps nginx ships in
// /etc/nginx (koi-utf, koi-win, win-utf) in both directions.

const ALL = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
// Cyrillic, the euro, a CJK character and an emoji no 8-bit charset has,
// then sequences nginx finds invalid (overlong, cut by ASCII, a stray
// continuation byte) and one the file ends in the middle of
const UTF8 = Buffer.concat([
  Buffer.from('<p>Привет, мир! Ёё € • – “x” 日 😀 ÿ</p>\n', 'utf8'),
  Buffer.from([0xc0, 0x80, 0x41, 0xd0, 0x41, 0x80, 0x42, 0xf8, 0x80, 0x80, 0x80, 0x43, 0x0a, 0xe2, 0x82]),
]);
// a long name of two-byte characters and one of three-byte ones, for autoindex's column
const NAMES = ['ж'.repeat(60) + '.txt', 'あ'.repeat(48) + '.txt', 'é'.repeat(49), 'short-ü.txt'];

const FILES: Record<string, string | Buffer> = {
  'html/koi/all.html': ALL, 'html/koi/all.txt': ALL, 'html/koi/all.css': ALL, 'html/koi/all.json': ALL, 'html/koi/all.bin': ALL,
  'html/win/all.html': ALL,
  'html/utf/text.html': UTF8, 'html/utf/long.html': Buffer.concat(Array(3000).fill(UTF8.subarray(0, UTF8.length - 2))),
  ...Object.fromEntries(NAMES.map((n) => [`html/list/${n}`, 'x'])),
};

const CONFIG = `
events {}
http {
    include /etc/nginx/koi-utf;
    include /etc/nginx/koi-win;
    include /etc/nginx/win-utf;
    types { text/html html; text/plain txt; text/css css; application/json json; }
    default_type application/octet-stream;
    access_log off;
    server {
        listen 127.0.0.1:{PORT};
        root html;
        location /on/ { alias html/koi/; charset koi8-r; }
        location /off/ { alias html/koi/; charset koi8-r; location /off/in/ { alias html/koi/; charset off; } }
        location /types/ { alias html/koi/; charset KOI8-R; charset_types text/css; }
        location /star/ { alias html/koi/; charset koi8-r; charset_types *; }
        location /k2u/ { alias html/koi/; source_charset koi8-r; charset utf-8; }
        location /u2k/ { alias html/utf/; source_charset utf-8; charset koi8-r; }
        location /k2w/ { alias html/koi/; source_charset koi8-r; charset windows-1251; }
        location /w2k/ { alias html/win/; source_charset windows-1251; charset koi8-r; }
        location /w2u/ { alias html/win/; source_charset windows-1251; charset utf-8; }
        location /u2w/ { alias html/utf/; source_charset utf-8; charset windows-1251; }
        location /same/ { alias html/koi/; source_charset koi8-r; charset KOI8-R; }
        location /ret/ { source_charset utf-8; charset koi8-r; default_type text/plain; return 200 "Ёж € 日\\n"; }
        location /redir/ { source_charset koi8-r; charset utf-8; return 302 /x; }
        location /gz/ { alias html/; source_charset utf-8; charset windows-1251; gzip on; gzip_min_length 1; gzip_types text/plain; }
        # gzip_min_length after charset: a recode to or from UTF-8 leaves no length, an 8-bit one keeps it
        location /gzmin/ { alias html/; source_charset utf-8; charset koi8-r; gzip on; gzip_min_length 100000; gzip_types text/html text/plain; }
        location /gzmin8/ { alias html/; source_charset koi8-r; charset windows-1251; gzip on; gzip_min_length 100000; gzip_types text/html text/plain; }
        location /var/ { alias html/koi/; set $cs windows-1251; charset $cs; source_charset koi8-r; }
        location /varbad/ { alias html/koi/; set $cs bogus; charset $cs; source_charset koi8-r; }
        location /varsame/ { alias html/koi/; set $cs koi8-r; set $src KOI8-R; charset $cs; source_charset $src; }
        location /list/ { autoindex on; charset utf-8; }
        location /list8/ { alias html/list/; autoindex on; charset koi8-r; }
        location /xml/ { alias html/list/; autoindex on; autoindex_format xml; charset windows-1251; }
        location /xmlover/ { alias html/list/; autoindex on; autoindex_format xml; charset windows-1251; override_charset on; }
        location /xmlkoi/ { alias html/list/; autoindex on; autoindex_format xml; charset koi8-r; override_charset on; }
    }
}
`;

/** The body without chunk framing: chunk sizes are the server's own. */
function dechunk(res: RawResponse): Buffer {
  if (header(res, 'transfer-encoding') !== 'chunked') return res.body;
  const parts: Buffer[] = [];
  let b = res.body;
  for (;;) {
    const eol = b.indexOf('\r\n');
    const n = parseInt(b.subarray(0, eol).toString('latin1'), 16);
    if (!(n > 0)) break;
    parts.push(b.subarray(eol + 2, eol + 2 + n));
    b = b.subarray(eol + 4 + n);
  }
  return Buffer.concat(parts);
}

/** What is compared: the server's name, version and port made the same. */
function seen(res: RawResponse, port: number) {
  const norm = (s: string): string => s.replace(/\b(nginx|nodinx)\/[\d.]+/g, 'SERVER').split(`:${port}`).join(':PORT');
  return {
    status: res.statusLine,
    headers: res.headers.filter(([k]) => k !== 'Date' && k !== 'Server').map(([k, v]) => [k, norm(v)]),
    // compressed bytes depend on where each server's buffers end
    body: norm((header(res, 'content-encoding') === 'gzip' ? zlib.gunzipSync(dechunk(res)) : dechunk(res)).toString('latin1')),
  };
}

describe('charset against nginx', () => {
  let nginx: Running;
  let nodinx: Running;
  beforeAll(async () => {
    [nginx, nodinx] = await startPair('charset', FILES, CONFIG);
  });
  afterAll(async () => {
    await nginx?.stop();
    await nodinx?.stop();
  });

  async function both(target: string, method = 'GET', extra = ''): Promise<ReturnType<typeof seen>> {
    const req = `${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extra}\r\n`;
    const head = method === 'HEAD';
    const [a, b] = await Promise.all([rawRequest(nginx.port, req, { head }), rawRequest(nodinx.port, req, { head })]);
    const [sa, sb] = [seen(a, nginx.port), seen(b, nodinx.port)];
    expect(sb).toEqual(sa);
    return sa;
  }

  it('adds the charset to the types in charset_types, and only there', async () => {
    for (const f of ['all.html', 'all.txt', 'all.css', 'all.json', 'all.bin']) {
      await both(`/on/${f}`);
      await both(`/types/${f}`);
      await both(`/star/${f}`);
    }
    expect(header(await rawRequest(nodinx.port, 'GET /on/all.txt HTTP/1.0\r\n\r\n'), 'content-type')).toBe('text/plain; charset=koi8-r');
  });

  it('charset off in an inner location', async () => {
    const r = await both('/off/in/all.html');
    expect(r.headers).toContainEqual(['Content-Type', 'text/html']);
    await both('/off/all.html');
  });

  it('recodes with each shipped map, both ways', async () => {
    for (const l of ['k2u', 'k2w', 'same']) for (const f of ['all.html', 'all.bin']) await both(`/${l}/${f}`);
    for (const l of ['w2k', 'w2u']) await both(`/${l}/all.html`);
    for (const l of ['u2k', 'u2w']) for (const f of ['text.html', 'long.html']) await both(`/${l}/${f}`);
    const r = await both('/u2k/text.html');
    expect(r.body).toContain('&#26085;');
    await both('/k2u/all.html', 'HEAD');
    await both('/k2w/all.html', 'GET', 'Range: bytes=128-131\r\n');
    await both('/k2u/all.html', 'GET', 'Range: bytes=128-131\r\n');
  });

  it('gzip compresses the recoded body, and matches its types without the charset', async () => {
    for (const f of ['utf/text.html', 'utf/long.html', 'koi/all.txt']) {
      const r = await both(`/gz/${f}`, 'GET', 'Accept-Encoding: gzip\r\n');
      expect(r.headers).toContainEqual(['Content-Encoding', 'gzip']);
    }
  });

  it('gzip_min_length applies to the length the charset filter left, as nginx runs charset first', async () => {
    const recoded = await both('/gzmin/utf/text.html', 'GET', 'Accept-Encoding: gzip\r\n');
    expect(recoded.headers).toContainEqual(['Content-Encoding', 'gzip']);
    const kept = await both('/gzmin8/koi/all.txt', 'GET', 'Accept-Encoding: gzip\r\n');
    expect(kept.headers.map(([k]) => k)).not.toContain('Content-Encoding');
  });

  it('charsets named by variables', async () => {
    for (const l of ['var', 'varbad', 'varsame']) await both(`/${l}/all.html`);
    // a charset no map joins is logged, and the answer goes out unnamed
    const logged = async (run: Running): Promise<string[]> => normLog(await readLines(path.join(run.dir, 'logs/error.log'), 1), run)
      .filter((l) => l.includes('charset_map')).map((l) => l.replace(/, client: .*/, ''));
    const theirs = await logged(nginx);
    expect(theirs).toEqual(['[error] no "charset_map" between the charsets "koi8-r" and "bogus" while sending response to client']);
    expect(await logged(nodinx)).toEqual(theirs);
  });

  it('recodes what return and error pages send', async () => {
    await both('/ret/');
    await both('/redir/');
    await both('/k2u/missing.html');
  });

  it('autoindex counts UTF-8 names in characters only under charset utf-8', async () => {
    await both('/list/');
    await both('/list8/');
  });

  it('override_charset recodes what names its own charset', async () => {
    await both('/xml/');
    await both('/xmlover/');
    await both('/xmlkoi/');
  });
});
