import { expect } from 'vitest';
import { hang, raw, reply, resetAfter, response, slow, sleep, type Action } from './helpers/backends';
import { runTable, type DiffCase, type Outcome } from './helpers/proxy-diff';

// The nginx-differential proxy suite, failures: backends that refuse, reset,
// hang, crawl, lie about framing or never stop sending headers; retries by
// proxy_next_upstream; clients that give up. nginx's status, what it sent
// and its log lines are the reference for nodinx.

const GET = (uri: string, extra = ''): string => `GET ${uri} HTTP/1.1\r\nHost: {HOST}\r\n${extra}Connection: close\r\n\r\n`;
const KEEP = (uri: string): string => `GET ${uri} HTTP/1.1\r\nHost: {HOST}\r\n\r\n`;
const ok = (name = 'ok'): Action => reply(200, [['Content-Type', 'text/plain']], `${name}\n`);
const logged = (o: Outcome): string => o.access.join('\n');
const errs = (o: Outcome): string => o.errors.join('\n');

/** Writes headers for as long as the proxy reads them (nginx stops at proxy_buffer_size), up to 1 GiB. */
const endlessHeaders: Action = async ({ sock }) => {
  const line = Buffer.from(`X-Filler: ${'f'.repeat(1000)}\r\n`);
  const block = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n'), ...Array(64).fill(line)]);
  let sent = 0;
  while (!sock.destroyed && sock.writable && sent < 1 << 30) {
    sent += block.length;
    if (!sock.write(block)) await new Promise<void>((r) => { sock.once('drain', r); sock.once('close', r); });
  }
};

const CASES: DiffCase[] = [
  {
    name: 'connection refused: 502',
    server: 'location / { proxy_pass http://{R}; }',
    request: GET('/r'),
    ignore: ['server'],
    expect: (o) => {
      expect(o.status).toBe(502);
      expect(logged(o)).toBe('502 "GET /r HTTP/1.1" 157 "127.0.0.1:{R}" "502" "0"');
      expect(errs(o)).toContain('connect() failed (111: Connection refused) while connecting to upstream');
    },
  },
  {
    name: 'reset before the response header: 502',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [resetAfter()],
    request: GET('/rst'),
    ignore: ['server'],
    expect: (o) => {
      expect(o.status).toBe(502);
      expect(errs(o)).toContain('(104: Connection reset by peer) while reading response header from upstream');
    },
  },
  {
    name: 'closed before the response header: 502',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [raw('', { close: true })],
    request: GET('/eof'),
    ignore: ['server'],
    expect: (o) => {
      expect(o.status).toBe(502);
      expect(errs(o)).toContain('upstream prematurely closed connection while reading response header from upstream');
    },
  },
  {
    name: 'reset in the middle of the body: the head goes, the buffered part does not',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [resetAfter('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial', 100)],
    request: GET('/mid'),
    expect: (o) => {
      expect([o.status, o.body, o.closed]).toEqual([200, '', true]);
      expect(logged(o)).toBe('200 "GET /mid HTTP/1.1" 0 "127.0.0.1:{B1}" "200" "7"');
      expect(errs(o)).toContain('(104: Connection reset by peer) while reading upstream');
    },
  },
  {
    name: 'closed in the middle of a Content-Length body',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [raw('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort', { close: true })],
    request: GET('/short'),
    expect: (o) => {
      expect(o.closed).toBe(true);
      expect(errs(o)).toContain('upstream prematurely closed connection while reading upstream');
    },
  },
  {
    name: 'hang: proxy_read_timeout gives 504',
    server: 'location / { proxy_read_timeout 1s; proxy_pass http://{B1}; }',
    backends: [hang()],
    request: GET('/hang'),
    idle: 2000,
    ignore: ['server'],
    expect: (o) => {
      expect([o.status, o.upstreamOpen]).toEqual([504, 0]);
      expect(errs(o)).toContain('upstream timed out (110: Connection timed out) while reading response header from upstream');
    },
  },
  {
    name: 'slow but within proxy_read_timeout',
    // wide margins (300 ms pauses, a 5 s timeout): a loaded CI machine must not turn this into a timeout
    server: 'location / { proxy_read_timeout 5s; proxy_pass http://{B1}; }',
    backends: [slow(['HTTP/1.1 200 OK\r\n', 'Content-Length: 4\r\n\r\n', 'ab', 'cd'], 300)],
    request: GET('/slow'),
    idle: 3000,
    expect: (o) => expect([o.status, o.body]).toEqual([200, 'abcd']),
  },
  {
    name: 'never finishes the body: the read timeout cuts it',
    server: 'location / { proxy_read_timeout 1s; proxy_pass http://{B1}; }',
    backends: [slow(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf.'], 10000)],
    request: GET('/never'),
    idle: 2500,
    expect: (o) => {
      expect([o.status, o.body, o.closed]).toEqual([200, '', true]);
      expect(errs(o)).toContain('upstream timed out (110: Connection timed out) while reading upstream');
    },
  },
  {
    name: 'a close-delimited body that never closes',
    server: 'location / { proxy_read_timeout 1s; proxy_pass http://{B1}; }',
    backends: [slow(['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstream'], 10000)],
    request: GET('/open'),
    idle: 2500,
    expect: (o) => expect([o.status, o.body, o.closed]).toEqual([200, '', true]),
  },
  {
    name: 'an invalid header line: 502',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [raw('HTTP/1.1 200 OK\r\nBad Header Line\r\nContent-Length: 2\r\n\r\nok')],
    request: GET('/inv'),
    ignore: ['server'],
    expect: (o) => {
      expect(o.status).toBe(502);
      expect(errs(o)).toContain('upstream sent invalid header');
    },
  },
  {
    name: 'no HTTP status line: the answer passes as HTTP/0.9, logged as status 009',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [raw('garbage answer\r\n', { close: true })],
    request: GET('/09'),
    expect: (o) => {
      expect(o.statusLine).toBe('garbage answer\r\n');
      expect(logged(o)).toBe('009 "GET /09 HTTP/1.1" 16 "127.0.0.1:{B1}" "200" "16"');
      expect(errs(o)).toContain('upstream sent no valid HTTP/1.0 header while reading response header from upstream');
    },
  },
  {
    // nginx 1.23 answers 502 here; 1.22 lets chunked win and drops the length
    name: 'Content-Length and Transfer-Encoding both: chunked wins (nginx 1.22)',
    server: 'location / { proxy_http_version 1.1; proxy_pass http://{B1}; }',
    backends: [raw('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')],
    request: GET('/clte'),
    expect: (o) => {
      expect([o.status, o.body, o.errors]).toEqual([200, 'hello', []]);
      expect(logged(o)).toBe('200 "GET /clte HTTP/1.1" 15 "127.0.0.1:{B1}" "200" "15"');
    },
  },
  {
    name: 'an invalid chunked body',
    server: 'location / { proxy_http_version 1.1; proxy_pass http://{B1}; }',
    backends: [raw('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n')],
    request: GET('/badchunk'),
    expect: (o) => expect(errs(o)).toContain('upstream sent invalid chunked response'),
  },
  {
    name: 'a gigabyte of headers: too big header, 502',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [endlessHeaders],
    request: GET('/huge'),
    ignore: ['server'],
    expect: (o) => {
      expect(o.status).toBe(502);
      expect(errs(o)).toContain('upstream sent too big header while reading response header from upstream');
    },
  },
  {
    name: 'keep-alive upstream that says Connection: close is not reused',
    http: 'upstream ka { server {B1}; keepalive 4; }',
    server: 'location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka; }',
    backends: [[reply(200, [], 'one', { close: true }), ok('two')]],
    request: [KEEP('/1'), { pause: 200 }, GET('/2')],
    expect: (o) => {
      expect([o.body, o.more[0]?.body]).toEqual(['one', 'two\n']);
      // the second connection is kept for the next request
      expect([o.upstream.length, o.upstreamOpen]).toEqual([2, 1]);
    },
  },
  {
    name: 'a kept-alive upstream connection closed while idle: the next request still succeeds',
    http: 'upstream ka { server {B1}; keepalive 4; }',
    server: 'location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://ka; }',
    backends: [[async (x) => { x.sock.write(response(200, [], 'one')); await sleep(50); x.sock.end(); }, ok('two')]],
    request: [KEEP('/1'), { pause: 300 }, GET('/2')],
    expect: (o) => {
      expect([o.status, o.more[0]?.statusLine]).toEqual([200, 'HTTP/1.1 200 OK']);
      expect(o.access[1]).toBe('200 "GET /2 HTTP/1.1" 4 "127.0.0.1:{B1}" "200" "4"');
    },
  },
  {
    name: 'an invalid header is not retried by default',
    http: 'upstream two { server {B1}; server {B2}; }',
    server: 'location / { proxy_pass http://two; }',
    backends: [raw('HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n'), ok('b2')],
    request: GET('/ih'),
    ignore: ['server'],
    expect: (o) => expect([o.status, logged(o)]).toEqual([502, '502 "GET /ih HTTP/1.1" 157 "127.0.0.1:{B1}" "502" "0"']),
  },
  {
    name: 'proxy_next_upstream invalid_header',
    http: 'upstream two { server {B1}; server {B2}; }',
    server: 'location / { proxy_next_upstream error invalid_header; proxy_pass http://two; }',
    backends: [raw('HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n'), ok('b2')],
    request: GET('/ih'),
    expect: (o) => expect([o.body, logged(o)]).toEqual(['b2\n', '200 "GET /ih HTTP/1.1" 3 "127.0.0.1:{B1}, 127.0.0.1:{B2}" "502, 200" "0, 3"']),
  },
  {
    name: 'proxy_next_upstream http_404 falls to the backup server',
    http: 'upstream two { server {B1}; server {B2} backup; }',
    server: 'location / { proxy_next_upstream http_404; proxy_pass http://two; }',
    backends: [reply(404, [], 'nf'), ok('backup')],
    request: GET('/404'),
    expect: (o) => expect([o.body, logged(o)]).toEqual(['backup\n', '200 "GET /404 HTTP/1.1" 7 "127.0.0.1:{B1}, 127.0.0.1:{B2}" "404, 200" "0, 7"']),
  },
  {
    name: 'proxy_next_upstream http_503: every server answers 503, the last answer passes',
    http: 'upstream two { server {B1}; server {B2}; }',
    server: 'location / { proxy_next_upstream http_503; proxy_pass http://two; }',
    backends: [reply(503, [], 'one'), reply(503, [], 'two')],
    request: GET('/503'),
    expect: (o) => expect([o.status, o.body, logged(o)]).toEqual([503, 'two', '503 "GET /503 HTTP/1.1" 3 "127.0.0.1:{B1}, 127.0.0.1:{B2}" "503, 503" "0, 3"']),
  },
  {
    name: 'proxy_next_upstream_timeout stops the retries',
    http: 'upstream three { server {B1}; server {B2}; server {B3}; }',
    server: 'location / { proxy_read_timeout 600ms; proxy_next_upstream_timeout 1s; proxy_pass http://three; }',
    backends: [hang(), hang(), ok('b3')],
    request: GET('/nut'),
    idle: 2000,
    ignore: ['server'],
    expect: (o) => expect([o.status, logged(o)]).toEqual([504, '504 "GET /nut HTTP/1.1" 167 "127.0.0.1:{B1}, 127.0.0.1:{B2}" "504, 504" "0, 0"']),
  },
  {
    name: 'proxy_next_upstream: a refusing server, then the next one',
    http: 'upstream two { server {R}; server {B1}; }',
    server: 'location / { proxy_pass http://two; }',
    backends: [ok('second')],
    request: GET('/n'),
    expect: (o) => {
      expect([o.status, o.body]).toEqual([200, 'second\n']);
      expect(logged(o)).toBe('200 "GET /n HTTP/1.1" 7 "127.0.0.1:{R}, 127.0.0.1:{B1}" "502, 200" "0, 7"');
    },
  },
  {
    name: 'proxy_next_upstream http_500',
    http: 'upstream two { server {B1}; server {B2}; }',
    server: 'location / { proxy_next_upstream error timeout http_500; proxy_pass http://two; }',
    backends: [reply(500, [], 'err'), ok('good')],
    request: GET('/500'),
    expect: (o) => expect(logged(o)).toBe('200 "GET /500 HTTP/1.1" 5 "127.0.0.1:{B1}, 127.0.0.1:{B2}" "500, 200" "0, 5"'),
  },
  {
    name: 'a 500 is passed when proxy_next_upstream does not list it',
    http: 'upstream two { server {B1}; server {B2}; }',
    server: 'location / { proxy_pass http://two; }',
    backends: [reply(500, [], 'err'), ok('good')],
    request: GET('/500'),
    expect: (o) => expect([o.status, logged(o)]).toEqual([500, '500 "GET /500 HTTP/1.1" 3 "127.0.0.1:{B1}" "500" "3"']),
  },
  {
    name: 'proxy_next_upstream off',
    http: 'upstream two { server {R}; server {B1}; }',
    server: 'location / { proxy_next_upstream off; proxy_pass http://two; }',
    backends: [ok()],
    request: GET('/off'),
    ignore: ['server'],
    expect: (o) => expect([o.status, logged(o)]).toEqual([502, '502 "GET /off HTTP/1.1" 157 "127.0.0.1:{R}" "502" "0"']),
  },
  {
    name: 'a POST that reached a failing server is not retried',
    http: 'upstream two { server {B1}; server {B2}; }',
    server: 'location / { proxy_pass http://two; }',
    backends: [resetAfter(), ok()],
    request: 'POST /p HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
    ignore: ['server'],
    expect: (o) => expect([o.status, o.upstream.length]).toEqual([502, 1]),
  },
  {
    name: 'a POST is retried with non_idempotent',
    http: 'upstream two { server {B1}; server {B2}; }',
    server: 'location / { proxy_next_upstream error non_idempotent; proxy_pass http://two; }',
    backends: [resetAfter(), ok()],
    request: 'POST /p HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
    expect: (o) => expect([o.status, o.upstream.length]).toEqual([200, 2]),
  },
  {
    name: 'proxy_next_upstream_tries 1',
    http: 'upstream two { server {R}; server {B1}; }',
    server: 'location / { proxy_next_upstream_tries 1; proxy_pass http://two; }',
    backends: [ok()],
    request: GET('/t'),
    ignore: ['server'],
    expect: (o) => expect(o.status).toBe(502),
  },
  {
    name: 'a timeout moves to the next server',
    http: 'upstream two { server {B1}; server {B2}; }',
    server: 'location / { proxy_read_timeout 500ms; proxy_pass http://two; }',
    backends: [hang(), ok('b2')],
    request: GET('/to'),
    idle: 1500,
    expect: (o) => {
      expect([o.body, logged(o)]).toEqual(['b2\n', '200 "GET /to HTTP/1.1" 3 "127.0.0.1:{B1}, 127.0.0.1:{B2}" "504, 200" "0, 3"']);
      expect(o.errors.map((l) => l.slice(0, l.indexOf(','))).join('\n')).toBe(
        '[warn] upstream server temporarily disabled while reading response header from upstream\n' +
        '[error] upstream timed out (110: Connection timed out) while reading response header from upstream',
      );
    },
  },
  {
    name: 'every server counted out: no live upstreams',
    http: 'upstream two { server {R} max_fails=1 fail_timeout=30s; server {R} max_fails=1 fail_timeout=30s; }',
    server: 'location / { proxy_pass http://two; }',
    request: [KEEP('/a'), { pause: 200 }, GET('/b')],
    ignore: ['server'],
    expect: (o) => {
      expect([o.status, o.more[0]?.statusLine]).toEqual([502, 'HTTP/1.1 502 Bad Gateway']);
      expect(errs(o)).toContain('no live upstreams while connecting to upstream');
    },
  },
  {
    name: 'client gives up while the upstream thinks: 499',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [hang()],
    request: GET('/think'),
    max: 300,
    errorLevel: 'info',
    expect: (o) => {
      expect([o.status, o.upstreamOpen]).toEqual([0, 0]);
      expect(logged(o)).toBe('499 "GET /think HTTP/1.1" 0 "127.0.0.1:{B1}" "-" "0"');
    },
  },
  {
    name: 'client gives up mid-download: 499, the head still in nginx\'s buffers',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [slow(['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', 'x'.repeat(100), 'y'.repeat(100)], 800)],
    request: GET('/dl'),
    max: 400,
    expect: (o) => expect([o.status, logged(o)]).toEqual([0, '499 "GET /dl HTTP/1.1" 0 "127.0.0.1:{B1}" "200" "0"']),
  },
  {
    name: 'client gives up mid-download with proxy_buffering off',
    server: 'location / { proxy_buffering off; proxy_pass http://{B1}; }',
    backends: [slow(['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', 'x'.repeat(100), 'y'.repeat(100)], 800)],
    request: GET('/dl'),
    max: 400,
    expect: (o) => expect([o.status, logged(o)]).toEqual([200, '200 "GET /dl HTTP/1.1" 0 "127.0.0.1:{B1}" "200" "0"']),
  },
  {
    name: 'client gives up mid-upload (buffered)',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [ok()],
    request: 'POST /up HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 100000\r\nConnection: close\r\n\r\nonly a little',
    max: 300,
    expect: (o) => expect([o.upstream, logged(o)]).toEqual([[], '400 "POST /up HTTP/1.1" 0 "-" "-" "-"']),
  },
  {
    name: 'client gives up mid-upload with proxy_request_buffering off',
    server: 'location / { proxy_request_buffering off; proxy_pass http://{B1}; }',
    backends: [hang()],
    request: 'POST /up HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 100000\r\nConnection: close\r\n\r\nonly a little',
    max: 300,
    expect: (o) => expect([o.status, logged(o)]).toEqual([0, '400 "POST /up HTTP/1.1" 0 "127.0.0.1:{B1}" "-" "0"']),
  },
];

/** Cases where nodinx is known to differ (each also in /work/briefs/proxy-findings.md): they run against nginx only. */
const KNOWN_DIFFS: Record<string, string> = {};

runTable('proxy failures', CASES, KNOWN_DIFFS);
