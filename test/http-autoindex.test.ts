import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureNginx, freePort, readLines, startNginx, startNodinx, stopPair, tempDir, type Running,
} from './helpers/http';
import { autoindexHtml } from '../src/http/autoindex-format';
import { readEntries, sortEntries } from '../src/http/autoindex-module';

// nginx and nodinx list the same directory tree under every format and
// option of ngx_http_autoindex_module; status line, headers (Date aside),
// the body as it went on the wire (chunk framing included) and the log lines
// must be the same. Only what names the server is normalised.

// a zone with daylight saving time: nginx shifts every file by the offset of
// now, not by the one the zone had at the file's time
const ZONE = 'America/New_York';

const B = (s: string): Buffer => Buffer.from(s, 'utf8');
const KIB = 1024;
const MIB = 1024 * KIB;

/** name (UTF-8 unless a Buffer) → size; a name ending in "/" is a directory */
const LIST: Array<[string | Buffer, number]> = [
  ['sub/', 0], ['Zdir/', 0], ['a&b<c>"d\'e/', 0], ['D'.repeat(49) + '/', 0], ['E'.repeat(50) + '/', 0], ['F'.repeat(60) + '/', 0],
  ['.hiddendir/', 0], ['.hidden', 3],
  ['empty', 0], ['one.txt', 1], ['k1023', 1023], ['k1024', 1024], ['n9999', 9999], ['n10000', 10000], ['k10', 10 * KIB],
  ['k511', 10 * KIB + 511], ['k512', 10 * KIB + 512], ['m1plus', MIB + 1], ['m1half', MIB + MIB / 2], ['m1halfminus', MIB + MIB / 2 - 1],
  ['g5', 5 * 1024 * MIB], ['g1half', 1024 * MIB + 512 * MIB],
  ['space name.txt', 5], ['quote"amp&lt<gt>apos\'.txt', 5], ['pct%20sign.txt', 5], ['colon:name.txt', 5],
  ['plus+eq=semi;hash#q?.txt', 5], ['tilde~dash-under_dot.txt', 5], ['!bang*(paren)$,@[].txt', 5],
  ['B.txt', 1], ['a.txt', 1], ['_u.txt', 1], ['0.txt', 1], ['ab', 1], ['a', 1],
  ['ünïcödé.txt', 7], ['日本語のファイル.txt', 7], ['😀.txt', 7],
  ['L'.repeat(60), 2], ['A'.repeat(50), 2], ['C'.repeat(51), 2], ['G'.repeat(47) + '&<>', 2], ['H'.repeat(45) + '&&&&&&', 2],
  ['é'.repeat(30), 2], ['あ'.repeat(17), 2], ['x'.repeat(48) + 'é', 2], ['y'.repeat(46) + '€€', 2], ['ü'.repeat(50), 2], ['ö'.repeat(51), 2], ['z'.repeat(50) + 'ß', 2],
  ['ç'.repeat(49) + '/', 0], ['ñ'.repeat(50) + '/', 0], ['ø'.repeat(52) + '/', 0],
  [Buffer.from('caf\xe9-latin1.txt', 'latin1'), 2], [Buffer.from('bad\xc3(utf8', 'latin1'), 2],
];

/** mtimes, seconds: winter, summer, a minute boundary, before 2000 */
const TIMES = [1700000000, 1689000000, 946684799, 915148800, 1709251199];

function buildTree(root: string): void {
  const list = path.join(root, 'list');
  fs.mkdirSync(list, { recursive: true });
  LIST.forEach(([name, size], i) => {
    const p = Buffer.concat([B(list + '/'), typeof name === 'string' ? B(name) : name]);
    const t = TIMES[i % TIMES.length] + i * 61;
    if (typeof name === 'string' && name.endsWith('/')) fs.mkdirSync(p);
    else {
      fs.writeFileSync(p, 'x'.repeat(Math.min(size, 16)));
      if (size > 16) fs.truncateSync(p, size);
    }
    fs.utimesSync(p, t, t);
  });
  fs.symlinkSync('one.txt', path.join(list, 'link-to-file'));
  fs.symlinkSync('sub', path.join(list, 'link-to-dir'));
  fs.symlinkSync('nowhere', path.join(list, 'dangling'));
  fs.symlinkSync('loop', path.join(list, 'loop'));
  for (const l of ['dangling', 'loop']) fs.lutimesSync(path.join(list, l), 1600000000, 1600000000);
  fs.writeFileSync(path.join(list, 'sub', 'inner.txt'), 'inner\n');
  fs.mkdirSync(path.join(root, 'empty'));
  fs.mkdirSync(path.join(root, 'withindex'));
  fs.writeFileSync(path.join(root, 'withindex', 'index.html'), '<p>index wins</p>\n');
  fs.writeFileSync(path.join(root, 'withindex', 'other.txt'), 'other\n');
  fs.writeFileSync(path.join(root, 'file.txt'), 'a file\n');
  for (const d of ['list/sub', 'list/Zdir', 'list/a&b<c>"d\'e', 'list', 'empty', 'withindex', 'file.txt', '.']) {
    fs.utimesSync(path.join(root, d), 1700000000, 1700000000);
  }
}

const LOCATIONS: Record<string, string> = {
  html: '',
  'html-approx': 'autoindex_exact_size off;',
  'html-local': 'autoindex_localtime on;',
  'html-local-approx': 'autoindex_localtime on; autoindex_exact_size off;',
  json: 'autoindex_format json;',
  'json-local': 'autoindex_format json; autoindex_localtime on; autoindex_exact_size off;',
  jsonp: 'autoindex_format jsonp;',
  xml: 'autoindex_format xml;',
  'xml-local': 'autoindex_format xml; autoindex_localtime on;',
  'no-chunked': 'chunked_transfer_encoding off;',
};

function config(port: number, tree: string, extra = ''): string {
  const locs = Object.entries(LOCATIONS).map(([name, opts]) => `        location /${name}/ { alias ${tree}/; autoindex on; ${opts} }`).join('\n');
  return `worker_processes 1;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    types { text/html html; text/plain txt; }
    log_format cmp '"$request" $status $body_bytes_sent "$sent_http_content_type" "$sent_http_transfer_encoding"';
    access_log logs/access.log cmp;
    server {
        listen 127.0.0.1:${port};
        server_name localhost;
        root ${tree};
        autoindex on;
${locs}
        location /off/ { alias ${tree}/; autoindex off; }
        location /nested/ { alias ${tree}/; autoindex_format json; location /nested/list/ { autoindex_format xml; } }
        location /noslash/ { alias ${tree}/list; autoindex on; }
${extra}
    }
}
`;
}

const get = (uri: string, extra = '', method = 'GET', version = 'HTTP/1.1'): string =>
  `${method} ${uri} ${version}\r\nHost: localhost\r\n${extra}\r\n`;

const MATRIX: Array<[string, string, { head?: boolean; count?: number }?]> = [];
for (const loc of Object.keys(LOCATIONS)) {
  for (const dir of ['', 'list/', 'empty/', 'list/sub/', 'list/a%26b%3Cc%3E%22d\'e/']) MATRIX.push([`${loc} /${dir}`, get(`/${loc}/${dir}`)]);
  MATRIX.push([`${loc} HEAD`, get(`/${loc}/list/`, '', 'HEAD'), { head: true }]);
  MATRIX.push([`${loc} HTTP/1.0`, get(`/${loc}/list/`, '', 'GET', 'HTTP/1.0')]);
}
MATRIX.push(
  ['root location', get('/list/')],
  ['server root', get('/')],
  ['without slash: 301', get('/html/list')],
  ['missing directory', get('/html/missing/')],
  ['a file as directory', get('/html/file.txt/')],
  ['index wins', get('/html/withindex/')],
  ['autoindex off: 403', get('/off/list/')],
  ['nested location', get('/nested/list/')],
  ['nested parent', get('/nested/')],
  ['alias without slash', get('/noslash/')],
  ['POST: static 403', `POST /html/list/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc`],
  ['PUT: 405', `PUT /html/list/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n`],
  ['HTTP/1.0 keep-alive', get('/json/list/', 'Connection: keep-alive\r\n', 'GET', 'HTTP/1.0')],
  ['Connection: close', get('/json/list/', 'Connection: close\r\n')],
  ['If-Unmodified-Since: 412', get('/html/list/', 'If-Unmodified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n')],
  ['If-Modified-Since ignored', get('/html/list/', 'If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n')],
  ['Range ignored', get('/html/list/', 'Range: bytes=0-10\r\n')],
  ['a body, then a pipelined request', `GET /json/empty/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello${get('/xml/empty/')}`, { count: 2 }],
  ['args', get('/html/list/sub/?x=1&y')],
  ['jsonp callback', get('/jsonp/list/?callback=cb')],
  ['jsonp callback, other args', get('/jsonp/list/?a=1&callback=my.cb_2&b')],
  ['jsonp callback name caseless', get('/jsonp/list/?CallBack=Up')],
  ['jsonp empty callback: json', get('/jsonp/list/?callback=')],
  ['jsonp HEAD', get('/jsonp/list/?callback=cb', '', 'HEAD'), { head: true }],
  ['jsonp invalid callback', get('/jsonp/list/?callback=a-b')],
  ['jsonp escaped callback', get('/jsonp/list/?callback=a%28')],
  ['jsonp long callback', get(`/jsonp/list/?callback=${'c'.repeat(129)}`)],
  ['jsonp 128-byte callback', get(`/jsonp/empty/?callback=${'c'.repeat(128)}`)],
  ['jsonp invalid callback, missing dir', get('/jsonp/missing/?callback=(')],
);

interface Answer {
  statusLine: string;
  headers: Array<[string, string]>;
  /** the body as sent, framing included */
  wire: Buffer;
  closed: boolean;
}

/** Where the chunked body starting at p ends (no trailers), or -1 if it has not all come. */
function chunkedEnd(buf: Buffer, p: number): number {
  for (;;) {
    const eol = buf.indexOf('\r\n', p);
    if (eol < 0) return -1;
    const size = parseInt(buf.subarray(p, eol).toString('latin1'), 16);
    if (size === 0) return buf.length >= eol + 4 ? eol + 4 : -1;
    p = eol + 2 + size + 2;
    if (p > buf.length) return -1;
  }
}

/** How many whole responses buf holds, by their framing: length, last chunk, none for HEAD. */
function whole(buf: Buffer, head: boolean): number {
  for (let n = 0, p = 0; ; n++) {
    const end = buf.indexOf('\r\n\r\n', p);
    if (end < 0) return n;
    const headText = buf.subarray(p, end).toString('latin1').toLowerCase();
    const cl = /\r\ncontent-length: (\d+)/.exec(headText);
    if (head) p = end + 4;
    else if (cl) p = end + 4 + Number(cl[1]);
    else if (headText.includes('\r\ntransfer-encoding: chunked')) p = chunkedEnd(buf, end + 4);
    else return n;
    if (p < 0 || p > buf.length) return n;
  }
}

/** Requests on a new connection; the answer is complete with `count` whole responses, or at the close. */
function ask(port: number, raw: string, head = false, count = 1): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(Buffer.from(raw, 'latin1')));
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no response: ${JSON.stringify(buf.toString('latin1'))}`));
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const statusLine = lines.shift()!;
      const headers = lines.map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]);
      resolve({ statusLine, headers, wire: buf.subarray(end + 4), closed });
    };
    const timer = setTimeout(() => finish(false), 5000);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      // let a server that closes after the answer say so
      if (whole(buf, head) >= count) setTimeout(() => finish(sock.readableEnded), 30);
    });
    sock.on('end', () => finish(true));
    sock.on('error', () => finish(true));
  });
}

/** What must match: everything but Date, with the server's name and ports made equal. */
function shape(a: Answer, port: number): object {
  // a pipelined answer carries its own head: its Date may be a second apart between the two servers
  const norm = (s: string): string => s.split(`:${port}`).join(':PORT').replace(/nginx\/1\.22\.1|nodinx\/0\.1\.0/g, 'SERVER').replace(/\r\nDate: [^\r]*/g, '\r\nDate: DATE');
  return {
    status: a.statusLine,
    headers: a.headers.filter(([k]) => k !== 'Date').map(([k, v]) => `${k}: ${norm(v)}`),
    body: norm(a.wire.toString('latin1')),
    closed: a.closed,
  };
}

/** Chunked framing undone. */
function dechunk(wire: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let p = 0; ;) {
    const eol = wire.indexOf('\r\n', p);
    const n = parseInt(wire.subarray(p, eol).toString(), 16);
    if (!(n > 0)) return Buffer.concat(parts);
    parts.push(wire.subarray(eol + 2, eol + 2 + n));
    p = eol + 2 + n + 2;
  }
}

let tree: string;
let ngx: Running;
let ndx: Running;
const savedTz = process.env.TZ;
const answers = new Map<string, [Answer, Answer]>();

describe('autoindex compared with nginx', () => {
  beforeAll(async () => {
    ensureNginx();
    process.env.TZ = ZONE;
    tree = tempDir('autoindex-tree');
    buildTree(tree);
    const [p1, p2] = [await freePort(), await freePort()];
    const dirs = [tempDir('nginx'), tempDir('nodinx')];
    const utf8 = `        location /utf8/ { alias ${tree}/; autoindex on; charset utf-8; }\n`;
    fs.writeFileSync(path.join(dirs[0], 'nginx.conf'), config(p1, tree, utf8));
    fs.writeFileSync(path.join(dirs[1], 'nginx.conf'), config(p2, tree, utf8));
    ngx = await startNginx(dirs[0], p1);
    ndx = await startNodinx(dirs[1], p2, 'info');
    for (const [name, req, o] of MATRIX) {
      answers.set(name, [await ask(ngx.port, req, o?.head, o?.count), await ask(ndx.port, req, o?.head, o?.count)]);
    }
  }, 60000);

  afterAll(async () => {
    await stopPair(ngx, ndx);
    fs.rmSync(tree, { recursive: true, force: true });
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });

  it.each(MATRIX.map(([name]) => [name]))('%s', (name) => {
    const [a, b] = answers.get(name)!;
    expect(shape(b, ndx.port)).toEqual(shape(a, ngx.port));
  });

  it('lists what the matrix is about', () => {
    const html = dechunk(answers.get('html /list/')![0].wire).toString('latin1');
    // directories first, dot files hidden, the symlink to a directory is one, the dangling one is not
    expect(html.indexOf('href="Zdir/"')).toBeLessThan(html.indexOf('href="0.txt"'));
    expect(html).not.toContain('hidden');
    expect(html).toContain('href="link-to-dir/"');
    expect(html).toContain('href="dangling"');
    expect(html).toContain('..&gt;</a>');
    const json = dechunk(answers.get('json /list/')![1].wire).toString('latin1');
    expect(json).toContain('"name":"dangling", "type":"other"');
    expect(json).toContain(`"size":${5 * 1024 * MIB}`);
    expect(answers.get('html-approx /list/')![1].wire.toString()).toMatch(/ {5}5G\r\n/);
    // chunked_transfer_encoding off: the page ends with the connection
    const unchunked = answers.get('no-chunked /list/')![1];
    expect(unchunked.headers).toContainEqual(['Connection', 'close']);
    expect(unchunked.closed).toBe(true);
    // localtime really moved the times
    expect(dechunk(answers.get('html-local /list/')![1].wire)).not.toEqual(dechunk(answers.get('html /list/')![1].wire));
  });

  it('writes the same access-log lines', async () => {
    // one case carries a second, pipelined request
    const n = MATRIX.length + 1;
    const a = await readLines(path.join(ngx.dir, 'logs/access.log'), n);
    const b = await readLines(path.join(ndx.dir, 'logs/access.log'), n);
    expect(a.length).toBe(n);
    expect(b).toEqual(a);
  });

  it('writes the same error-log lines', async () => {
    const pick = (lines: string[], dir: string): string[] => lines
      .filter((l) => l.includes(', request: '))
      .map((l) => l.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: \*\d+ /, '[$1] ').split(dir).join('{dir}'));
    const a = pick(await readLines(path.join(ngx.dir, 'logs/error.log'), 1), ngx.dir);
    const b = pick(await readLines(path.join(ndx.dir, 'logs/error.log'), a.length), ndx.dir);
    expect(a.length).toBeGreaterThanOrEqual(9);
    expect(b).toEqual(a);
  });

  it('cuts and pads names in characters as nginx does when the charset is utf-8', async () => {
    for (const [uri, dir] of [['/utf8/list/', 'list'], ['/utf8/', '']] as const) {
      const theirs = await ask(ngx.port, get(uri));
      expect(theirs.headers).toContainEqual(['Content-Type', 'text/html; charset=utf-8']);
      const p = dir ? path.join(tree, dir) : tree;
      const entries = sortEntries(await readEntries(undefined, await fs.promises.opendir(Buffer.from(p, 'latin1'), { encoding: 'buffer' as BufferEncoding }), p));
      const ours = autoindexHtml(uri, entries, { exactSize: true, localtime: false, gmtoff: 0, utf8: true });
      expect(ours).toBe(dechunk(theirs.wire).toString('latin1'));
      // the charset filter names utf-8 before autoindex counts
      const served = await ask(ndx.port, get(uri));
      expect(shape(served, ndx.port)).toEqual(shape(theirs, ngx.port));
    }
  });
});
