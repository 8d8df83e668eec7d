import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { header, normLog, rawRequest, readLines, startPair, type RawResponse, type Running } from './helpers/http';

// expires, etag, if_modified_since and the three redirect directives against
// the real nginx: the same tree (fixed mtimes) and config, the same requests,
// and the same status, headers (Date included: each pair of requests is
// retried until both answered within the same second) and body. Only the
// port of each server is normalised.

const MTIME = 1700000000;
const AT = (s: number): string => new Date((MTIME + s) * 1000).toUTCString();

/** location name → its directives; each serves html/NAME/ (f.txt, p.html, i.gif, dir/) */
const EXPIRES: Record<string, string> = {
  inherit: '',
  acc: 'expires 1h;',
  plus: 'expires +90s;',
  neg: 'expires -1;',
  negbig: 'expires -3d;',
  zero: 'expires 0;',
  epoch: 'expires epoch;',
  max: 'expires max;',
  off: 'expires off;',
  mod: 'expires modified 10y;',
  modneg: 'expires modified -1h;',
  modzero: 'expires modified 0;',
  modpast: 'expires modified 1d;',
  daily: 'expires @15h30m;',
  midnight: 'expires @0;',
  day24: 'expires @24h;',
  var: 'expires $arg_e;',
  modvar: 'expires modified $arg_e;',
  ct: 'expires $ct_exp;',
  addh: 'expires 1h; add_header Cache-Control public; add_header X-Extra yes;',
  ret302: 'expires 1h; return 302 /acc/f.txt;',
  ret200: 'expires 1h; return 200 "hi\\n";',
  ret403: 'expires 1h; return 403;',
  inif: 'expires 1h; if ($arg_x) { expires max; }',
  etagoff: 'etag off; expires 1h;',
  'ims-exact': 'if_modified_since exact;',
  'ims-before': 'if_modified_since before;',
  'ims-off': 'if_modified_since off;',
  'abs-off': 'absolute_redirect off;',
  'port-off': 'port_in_redirect off;',
  'sn-on': 'server_name_in_redirect on;',
  'all-off': 'absolute_redirect off; port_in_redirect off; server_name_in_redirect on;',
  nolog: 'log_not_found off;',
  links: 'disable_symlinks off;',
  norec: 'error_page 404 /pages/missing;',
  rec: 'recursive_error_pages on; error_page 404 /pages/missing;',
};

const CONFIG = `
events { worker_connections 64; }
http {
    server_tokens off;
    types { text/html html; text/plain txt; image/gif gif; }
    default_type application/octet-stream;
    map $sent_http_content_type $ct_exp {
        default     off;
        text/html   epoch;
        ~image/     max;
    }
    server {
        listen 127.0.0.1:{PORT} default_server;
        server_name main.example.com alias.example.com;
        root html;
        expires 2h;
${Object.entries(EXPIRES).map(([name, d]) => `        location /${name}/ { ${d} }`).join('\n')}
        location /pages/ { error_page 404 =200 /acc/f.txt; }
        location = /rel { return 301 /acc/f.txt; }
        location = /rel-off { absolute_redirect off; return 301 /acc/f.txt; }
        location = /rw { rewrite ^ /acc/f.txt?a=1 redirect; }
        location = /rw-port-off { port_in_redirect off; rewrite ^ /acc/ permanent; }
        location = /full { return 302 http://elsewhere.test/x; }
    }
    server {
        listen 127.0.0.1:{PORT};
        server_name .dot.example.org www.other.test;
        root html;
        server_name_in_redirect on;
    }
    server {
        listen 127.0.0.1:{PORT};
        server_name ~^re\\d+\\.test$ plain.test;
        root html;
        server_name_in_redirect on;
    }
    server {
        listen 127.0.0.1:{PORT};
        server_name *.wild.test;
        root html;
        server_name_in_redirect on;
        port_in_redirect off;
    }
    server {
        listen 127.0.0.1:{PORT};
        server_name "" named.test;
        root html;
        server_name_in_redirect on;
    }
    server {
        listen 127.0.0.1:{PORT};
        server_name Upper.Example.NET;
        root html;
        server_name_in_redirect on;
    }
}
`;

const FILES: Record<string, string> = {};
for (const name of [...Object.keys(EXPIRES), '']) {
  const d = name === '' ? 'html' : `html/${name}`;
  Object.assign(FILES, { [`${d}/f.txt`]: 'text\n', [`${d}/p.html`]: '<p>x</p>\n', [`${d}/i.gif`]: 'GIF89a', [`${d}/dir/index.html`]: 'index\n' });
}

let nginx: Running;
let nodinx: Running;

beforeAll(async () => {
  [nginx, nodinx] = await startPair('expires', FILES, CONFIG, (dir) => {
    fs.symlinkSync('f.txt', path.join(dir, 'html/links/to-f.txt'));
    // html/dir/ was made by writeTree with the time of now: the same for both
    for (const d of Object.keys(EXPIRES)) fs.utimesSync(path.join(dir, 'html', d, 'dir'), MTIME, MTIME);
  });
}, 120000);

afterAll(async () => {
  await nginx?.stop();
  await nodinx?.stop();
});

interface Seen {
  status: number;
  headers: Array<[string, string]>;
  body: string;
}

/** The answer with the port normalised, and nginx's name as nodinx's (server_tokens off). */
function seen(res: RawResponse, run: Running): Seen {
  const port = (s: string): string => s.split(`:${run.port}`).join(':PORT');
  const body = port(res.body.toString('latin1')).replace('<center>nginx</center>', '<center>nodinx</center>');
  const page = res.status >= 300 && header(res, 'content-type') === 'text/html';
  const headers = res.headers.map(([k, v]): [string, string] => {
    if (k === 'Server') return [k, 'nodinx'];
    // nodinx's name is one byte longer on its error and redirect pages (HEAD too)
    if (k === 'Content-Length' && page && run === nginx) return [k, String(Number(v) + 1)];
    return [k, port(v)];
  });
  return { status: res.status, headers, body };
}

/** One request to both servers, again until both answered within the same second. */
async function both(request: string, head = false): Promise<[Seen, Seen]> {
  for (let i = 0; ; i++) {
    const [a, b] = await Promise.all([
      rawRequest(nginx.port, request.split('{PORT}').join(String(nginx.port)), { head }),
      rawRequest(nodinx.port, request.split('{PORT}').join(String(nodinx.port)), { head }),
    ]);
    if (header(a, 'date') === header(b, 'date') || i === 5) return [seen(a, nginx), seen(b, nodinx)];
  }
}

const get = (uri: string, extra = '', host = 'main.example.com'): string =>
  `GET ${uri} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${extra}\r\n`;

async function same(request: string, head = false): Promise<Seen> {
  const [a, b] = await both(request, head);
  expect(b).toEqual(a);
  return a;
}

const hdr = (s: Seen, name: string): string | undefined => s.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

describe('expires', () => {
  const plain = Object.keys(EXPIRES).filter((n) => !['var', 'modvar'].includes(n));
  it.each(plain)('/%s/: a file, a directory redirect, a missing file, HEAD, a 304', async (name) => {
    await same(get(`/${name}/f.txt`));
    await same(get(`/${name}/dir`));
    await same(get(`/${name}/missing`));
    await same(`HEAD /${name}/f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, true);
    await same(get(`/${name}/f.txt`, `If-Modified-Since: ${AT(0)}\r\n`));
  });

  it('gives the values nginx documents', async () => {
    expect(hdr(await same(get('/epoch/f.txt')), 'expires')).toBe('Thu, 01 Jan 1970 00:00:01 GMT');
    expect(hdr(await same(get('/max/f.txt')), 'cache-control')).toBe('max-age=315360000');
    expect(hdr(await same(get('/acc/f.txt')), 'cache-control')).toBe('max-age=3600');
    expect(hdr(await same(get('/neg/f.txt')), 'cache-control')).toBe('no-cache');
    expect(hdr(await same(get('/modneg/f.txt')), 'expires')).toBe(AT(-3600));
    expect(hdr(await same(get('/off/f.txt')), 'expires')).toBeUndefined();
    expect(hdr(await same(get('/inherit/f.txt')), 'cache-control')).toBe('max-age=7200');
    expect(hdr(await same(get('/acc/missing')), 'expires')).toBeUndefined();
    const cc = (await same(get('/addh/f.txt'))).headers.filter(([k]) => k === 'Cache-Control').map(([, v]) => v);
    expect(cc).toEqual(['max-age=3600', 'public']);
  });

  it.each(['max', 'epoch', 'off', '-1', '+10m', '@1h', '@25h', '10y', 'bogus', '', '0', '%2D5s'])(
    'takes its value from variables: e=%s', async (e) => {
      await same(get(`/var/f.txt?e=${e}`));
      await same(get(`/modvar/f.txt?e=${e}`));
      await same(get(`/var/dir?e=${e}`));
    });

  it('follows $sent_http_content_type through a map', async () => {
    expect(hdr(await same(get('/ct/p.html')), 'cache-control')).toBe('no-cache');
    expect(hdr(await same(get('/ct/i.gif')), 'cache-control')).toBe('max-age=315360000');
    expect(hdr(await same(get('/ct/f.txt')), 'expires')).toBeUndefined();
  });

  it('applies in an if block', async () => {
    expect(hdr(await same(get('/inif/f.txt?x=1')), 'cache-control')).toBe('max-age=315360000');
    await same(get('/inif/f.txt'));
  });
});

describe('etag and if_modified_since', () => {
  it('etag off leaves the ETag out, and If-None-Match cannot match it', async () => {
    expect(hdr(await same(get('/etagoff/f.txt')), 'etag')).toBeUndefined();
    expect(hdr(await same(get('/acc/f.txt')), 'etag')).toBe(`"${MTIME.toString(16)}-5"`);
    expect((await same(get('/etagoff/f.txt', `If-None-Match: "${MTIME.toString(16)}-5"\r\n`))).status).toBe(200);
    expect((await same(get('/etagoff/f.txt', 'If-None-Match: *\r\n'))).status).toBe(304);
    expect((await same(get('/etagoff/f.txt', 'If-Match: *\r\n'))).status).toBe(200);
    expect((await same(get('/etagoff/f.txt', 'If-Match: "x"\r\n'))).status).toBe(412);
  });

  const dates: Array<[string, string]> = [['equal', AT(0)], ['earlier', AT(-1)], ['later', AT(1)], ['much later', AT(86400)], ['invalid', 'yesterday']];
  const expected: Record<string, Record<string, number>> = {
    'ims-exact': { equal: 304, earlier: 200, later: 200, 'much later': 200, invalid: 200 },
    'ims-before': { equal: 304, earlier: 200, later: 304, 'much later': 304, invalid: 200 },
    'ims-off': { equal: 200, earlier: 200, later: 200, 'much later': 200, invalid: 200 },
  };
  for (const mode of Object.keys(expected)) {
    it.each(dates)(`${mode}: %s`, async (what, date) => {
      const s = await same(get(`/${mode}/f.txt`, `If-Modified-Since: ${date}\r\n`));
      expect(s.status).toBe(expected[mode][what]);
      // an ETag that matches does not make up for a date that does not
      await same(get(`/${mode}/f.txt`, `If-Modified-Since: ${date}\r\nIf-None-Match: "${MTIME.toString(16)}-5"\r\n`));
    });
  }
});

describe('Location of redirects nginx makes', () => {
  const hosts = ['main.example.com', 'Alias.Example.com:8888', 'www.other.test', 'a.b.dot.example.org', 'dot.example.org:81',
    're42.test', 'plain.test', 'x.wild.test:{PORT}', 'named.test', 'upper.example.net', 'unknown.test', '127.0.0.1:{PORT}'];
  const uris = ['/inherit/dir', '/abs-off/dir', '/port-off/dir', '/sn-on/dir', '/all-off/dir', '/inherit/dir?a=b',
    '/rel', '/rel-off', '/rw', '/rw-port-off', '/full'];
  it.each(hosts)('Host: %s', async (host) => {
    for (const uri of uris) {
      const s = await same(get(uri, '', host));
      // the other servers have no such locations: only their directories redirect
      if (uri.includes('/dir')) expect(hdr(s, 'location')).toBeDefined();
    }
  });

  it('uses the local address without a Host', async () => {
    for (const uri of uris) await same(`GET ${uri} HTTP/1.0\r\n\r\n`);
  });

  it('uses the host of an absolute request line', async () => {
    for (const uri of uris) await same(`GET http://Abs.Example.com:7${uri} HTTP/1.1\r\nHost: main.example.com\r\nConnection: close\r\n\r\n`);
  });

  it('writes what each directive asks', async () => {
    expect(hdr(await same(get('/abs-off/dir')), 'location')).toBe('/abs-off/dir/');
    expect(hdr(await same(get('/port-off/dir', '', 'alias.example.com:5')), 'location')).toBe('http://alias.example.com/port-off/dir/');
    expect(hdr(await same(get('/sn-on/dir', '', 'alias.example.com')), 'location')).toBe('http://main.example.com:PORT/sn-on/dir/');
    expect(hdr(await same(get('/inherit/dir', '', 'a.dot.example.org')), 'location')).toBe('http://dot.example.org:PORT/inherit/dir/');
    expect(hdr(await same(get('/inherit/dir', '', 're7.test')), 'location')).toBe('http://~^re\\d+\\.test$:PORT/inherit/dir/');
    expect(hdr(await same(get('/inherit/dir', '', 'q.wild.test')), 'location')).toBe('http://*.wild.test/inherit/dir/');
  });
});

describe('other core directives', () => {
  it('log_not_found off keeps "not found" out of the error log', async () => {
    await same(get('/nolog/missing'));
    await same(get('/nolog/dir/missing/'));
    await same(get('/inherit/gone.txt'));
    const read = async (run: Running, n: number): Promise<string[]> =>
      normLog((await readLines(path.join(run.dir, 'logs/error.log'), n)).filter((l) => /gone|missing/.test(l)), run);
    const theirs = await read(nginx, 1);
    // nodinx writes its log after the response too: wait for as many lines
    const lines = [theirs, await read(nodinx, (await readLines(path.join(nginx.dir, 'logs/error.log'), 1)).length)];
    expect(lines[1]).toEqual(lines[0]);
    expect(lines[0].some((l) => l.includes('/inherit/gone.txt'))).toBe(true);
    expect(lines[0].some((l) => l.includes('/nolog/'))).toBe(false);
  });

  it('disable_symlinks off follows links', async () => {
    expect((await same(get('/links/to-f.txt'))).status).toBe(200);
  });

  it('recursive_error_pages lets an error page have its own error page', async () => {
    expect((await same(get('/norec/missing'))).status).toBe(404);
    expect((await same(get('/rec/missing'))).status).toBe(200);
  });
});
