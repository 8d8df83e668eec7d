import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  header, normLog, rawRequest, readLines, startPair, stopPair, type RawResponse, type Running,
} from './helpers/http';

// nodinx and the real nginx serve the same config and files; every request
// of the matrix must get the same answer from both: status line, the headers
// that matter (in nginx's order), body, access-log line and error-log line.

const CONFIG = `
worker_processes 1;
events { worker_connections 64; }
http {
    include mime.types;
    default_type application/octet-stream;
    log_format cmp '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                   '"$http_referer" "$http_user_agent" u="$uri" a="$args" ru="$request_uri" h="$host" '
                   's="$server_name" f="$request_filename" rl=$request_length bs=$bytes_sent '
                   'ct="$sent_http_content_type" x="$http_x_test" ia="$is_args" m=$request_method p=$server_protocol';
    log_format js escape=json '{"uri":"$uri","x":"$http_x_test","missing":"$http_nope"}';
    access_log logs/access.log cmp;
    access_log logs/json.log js;
    keepalive_timeout 65;

    server {
        listen {PORT} default_server;
        server_name localhost;
        root html;

        location / {
            index index.html index.htm;
        }
        location = /exact {
            alias html/a.txt;
        }
        location ^~ /static/ {
            root html/s;
        }
        location ~* \\.(png|jpe?g)$ {
            root html/img;
        }
        location /alias/ {
            alias html/aliased/;
        }
        location /tr {
            alias html/aliased/;
        }
        location /internal-only/ {
            internal;
        }
        location /e404/ {
            error_page 404 /404.html;
        }
        location /eq/ {
            error_page 404 = /a.txt;
        }
        location /e200/ {
            error_page 404 =200 /a.txt;
        }
        location /ext/ {
            error_page 404 http://example.com/gone;
        }
        location /named/ {
            error_page 404 = @fallback;
        }
        location @fallback {
            root html/fallback;
        }
        location /ka0/ {
            keepalive_timeout 0;
        }
        location /small/ {
            client_max_body_size 10;
        }
        location /quiet/ {
            server_tokens off;
            access_log off;
            log_not_found off;
        }
        location /redir/ {
        }
        error_page 500 502 503 504 /50x.html;
        location = /50x.html {
            root html;
        }
    }

    server {
        listen {PORT};
        server_name other.test *.wild.test;
        root html/other;
    }

    server {
        listen {PORT};
        server_name ~^(?<sub>[a-z]+)\\.re\\.test$;
        root html/re/$sub;
    }
}
`;

const FILES: Record<string, string> = {
  'mime.types': 'types {\n text/html html htm;\n text/plain txt;\n image/png png;\n image/jpeg jpeg jpg;\n text/css css;\n}\n',
  'html/index.html': '<h1>index</h1>\n',
  'html/a.txt': 'a text file\n',
  'html/UPPER.TXT': 'upper\n',
  'html/noext': 'no extension\n',
  'html/.hidden': 'hidden\n',
  'html/50x.html': '<h1>oops</h1>\n',
  'html/404.html': '<h1>custom 404</h1>\n',
  'html/dir/index.html': 'dir index\n',
  'html/noindex/file.txt': 'x\n',
  'html/s/static/style.css': 'body{}\n',
  'html/img/pic.png': 'PNG',
  'html/img/static/x.png': 'not served: ^~ wins',
  'html/aliased/in.txt': 'aliased\n',
  'html/other/index.html': 'other server\n',
  'html/re/abc/index.html': 'regex server abc\n',
  'html/fallback/named/missing': 'from the named location\n',
  'html/internal-only/x.txt': 'internal\n',
  'html/ka0/f.txt': 'ka0\n',
  'html/small/f.txt': 'small\n',
  'html/quiet/f.txt': 'quiet\n',
  'html/secret.txt': 'outside the alias\n',
  'html/big.bin': 'x'.repeat(300000),
};

const get = (uri: string, host = 'localhost', extra = ''): string =>
  `GET ${uri} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: t/1\r\n${extra}\r\n`;

/** name → raw request (and whether the response is header-only) */
const MATRIX: Array<[string, string, { head?: boolean }?]> = [
  ['root', get('/')],
  ['index.html', get('/index.html')],
  ['text file', get('/a.txt')],
  ['extension case-insensitive', get('/UPPER.TXT')],
  ['no extension: default_type', get('/noext')],
  ['dot file', get('/.hidden')],
  ['missing file', get('/missing.html')],
  ['directory without slash', get('/dir')],
  ['directory without slash, args', get('/dir?a=1&b=2')],
  ['directory with index', get('/dir/')],
  ['directory without index', get('/noindex/')],
  ['missing directory', get('/nodir/')],
  ['50x page', get('/50x.html')],
  ['exact location with alias', get('/exact')],
  ['^~ beats regex', get('/static/style.css')],
  ['^~ prefix, regex not tried', get('/static/x.png')],
  ['regex location', get('/pic.PNG')],
  ['alias', get('/alias/in.txt')],
  ['alias missing', get('/alias/nope.txt')],
  ['internal location', get('/internal-only/x.txt')],
  ['error_page to a page', get('/e404/missing')],
  ['error_page =', get('/eq/missing')],
  ['error_page =200', get('/e200/missing')],
  ['error_page URL', get('/ext/missing')],
  ['error_page @named', get('/named/missing')],
  ['HEAD', get('/a.txt').replace('GET', 'HEAD'), { head: true }],
  ['HEAD missing', get('/missing').replace('GET', 'HEAD'), { head: true }],
  ['POST to a file', `POST /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc`],
  ['POST to a missing file', `POST /none HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc`],
  ['PUT', `PUT /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n`],
  ['DELETE a directory URI', `DELETE /dir/ HTTP/1.1\r\nHost: localhost\r\n\r\n`],
  ['body too large', `POST /small/f.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n01234567890123456789`],
  ['keepalive_timeout 0', get('/ka0/f.txt')],
  ['server_tokens off', get('/quiet/missing')],
  ['Connection: close', get('/a.txt', 'localhost', 'Connection: close\r\n')],
  ['second server by Host', get('/', 'other.test')],
  ['wildcard name', get('/', 'a.wild.test')],
  ['regex name with capture in root', get('/', 'abc.re.test')],
  ['unknown Host: default server', get('/', 'unknown.test')],
  ['Host case, port and trailing dot', get('/', 'OTHER.TEST.:8080')],
  ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n'],
  ['HTTP/1.0 keep-alive', 'GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n'],
  ['invalid Host', get('/', 'a..b')],
  ['traversal ../', get('/../../etc/passwd')],
  ['traversal %2e%2e', get('/%2e%2e/%2e%2e/etc/passwd')],
  ['traversal inside', get('/dir/../a.txt')],
  ['encoded slash and dots', get('/dir%2F..%2Fa.txt')],
  ['bad escape', get('/%zz')],
  ['encoded NUL', get('/a%00.txt')],
  ['merged slashes', get('//dir///index.html')],
  ['query string', get('/a.txt?x=1&y=%20z')],
  ['empty query', get('/a.txt?')],
  ['encoded ?', get('/a%3F.txt?q')],
  ['absolute URI in request line', 'GET http://other.test/index.html HTTP/1.1\r\nHost: localhost\r\n\r\n'],
  ['escaping in logs', get('/a.txt', 'localhost', 'X-Test: q"b\\s\xe9\r\n')],
  ['If-Modified-Since', get('/a.txt', 'localhost', 'If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n')],
  ['If-None-Match', get('/a.txt', 'localhost', 'If-None-Match: "65540000-c"\r\n')],
  ['If-Match fails', get('/a.txt', 'localhost', 'If-Match: "nope"\r\n')],
  ['Range', get('/a.txt', 'localhost', 'Range: bytes=2-5\r\n')],
  ['Range suffix', get('/a.txt', 'localhost', 'Range: bytes=-3\r\n')],
  ['Range multipart', get('/a.txt', 'localhost', 'Range: bytes=0-1,4-5\r\n')],
  ['Range unsatisfiable', get('/a.txt', 'localhost', 'Range: bytes=100-\r\n')],
  ['MSIE padding', get('/missing', 'localhost', 'User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\n').replace('User-Agent: t/1\r\n', '')],
  ['large file', get('/big.bin')],
  ['garbage request line', 'GARBAGE\r\n\r\n'],
];

const HEADERS = ['content-type', 'content-length', 'location', 'etag', 'last-modified', 'connection', 'accept-ranges', 'content-range', 'server'];

let ngx: Running;
let ndx: Running;
const answers = new Map<string, [RawResponse, RawResponse]>();

function shape(res: RawResponse, port: number): object {
  const norm = (s: string): string => s.split(`:${port}`).join(':PORT').replace('nginx/1.22.1', 'nodinx/0.1.0').replace('Server: nginx', 'Server: nodinx');
  // "server_tokens off" pages name nginx in 5 bytes, nodinx in 6
  const short = res.body.includes('<center>nginx</center>') ? 1 : 0;
  const value = (k: string, v: string): string => (k.toLowerCase() === 'content-length' ? String(Number(v) + short) : v);
  return {
    status: res.statusLine,
    order: res.headers.map(([k]) => k),
    headers: res.headers.filter(([k]) => HEADERS.includes(k.toLowerCase())).map(([k, v]) => norm(`${k}: ${value(k, v)}`)),
    body: norm(res.body.toString('latin1')).replace('<center>nginx</center>', '<center>nodinx</center>'),
    closed: res.closed,
  };
}

/** Log lines with what differs by nature (dirs, ports, times, ids) replaced. */
describe('static serving compared with nginx', () => {
  beforeAll(async () => {
    [ngx, ndx] = await startPair('static', FILES, CONFIG);
    // one request at a time, same order, so that the logs line up
    for (const [name, req, opts] of MATRIX) {
      const a = await rawRequest(ngx.port, req.split('8080').join(String(ngx.port)), opts);
      const b = await rawRequest(ndx.port, req.split('8080').join(String(ndx.port)), opts);
      answers.set(name, [a, b]);
    }
  });

  afterAll(async () => {
    await stopPair(ngx, ndx);
  });

  it.each(MATRIX.map(([name]) => [name]))('%s', (name) => {
    const [a, b] = answers.get(name)!;
    expect(shape(b, ndx.port)).toEqual(shape(a, ngx.port));
  });

  it('writes the same access-log lines', async () => {
    // every request but the one in the `access_log off` location
    const a = normLog(await readLines(path.join(ngx.dir, 'logs/access.log'), MATRIX.length - 1), ngx);
    const b = normLog(await readLines(path.join(ndx.dir, 'logs/access.log'), MATRIX.length - 1), ndx);
    expect(a.length).toBe(MATRIX.length - 1);
    expect(b).toEqual(a);
  });

  it('writes the same json access-log lines', async () => {
    const a = await readLines(path.join(ngx.dir, 'logs/json.log'), MATRIX.length);
    const b = await readLines(path.join(ndx.dir, 'logs/json.log'), MATRIX.length);
    expect(b).toEqual(a);
  });

  it('writes the same error-log lines for requests', async () => {
    const pick = (lines: string[]): string[] => lines.filter((l) => /\[(error|crit|alert)\]/.test(l) && l.includes('client:'));
    const a = pick(normLog(await readLines(path.join(ngx.dir, 'logs/error.log'), 1), ngx));
    const b = pick(normLog(await readLines(path.join(ndx.dir, 'logs/error.log'), a.length), ndx));
    expect(a.length).toBeGreaterThan(5);
    expect(b).toEqual(a);
  });

  it('streams a large file whole', () => {
    const [, b] = answers.get('large file')!;
    expect(b.body.length).toBe(300000);
    expect(header(b, 'content-length')).toBe('300000');
  });

  it('never serves outside an alias (where nginx would)', async () => {
    // location /tr { alias html/aliased/; } → "/tr../secret.txt" is html/secret.txt to nginx
    const theirs = await rawRequest(ngx.port, get('/tr../secret.txt'));
    expect(theirs.body.toString()).toContain('outside the alias');
    const res = await rawRequest(ndx.port, get('/tr../secret.txt'));
    expect(res.status).toBe(404);
    expect(res.body.toString()).not.toContain('outside the alias');
  });
});
