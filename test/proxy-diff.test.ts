import { expect } from 'vitest';
import { echo, raw, reply, response, slow, type Action } from './helpers/backends';
import { runTable, type DiffCase, type Outcome } from './helpers/proxy-diff';

// The nginx-differential proxy suite, requests and responses: each case runs
// against nginx, whose outcome must show what the case is about (`expect`),
// then against nodinx, whose outcome must be nginx's, field for field: what
// the backend received, what the client received, the access-log line
// ($upstream_addr, $upstream_status, $upstream_response_length) and the
// error-log lines.

const GET = (uri: string, extra = ''): string => `GET ${uri} HTTP/1.1\r\nHost: {HOST}\r\n${extra}Connection: close\r\n\r\n`;
const KEEP = (uri: string): string => `GET ${uri} HTTP/1.1\r\nHost: {HOST}\r\n\r\n`;
const hdr = (o: Outcome, name: string): string | undefined => o.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
const sentLine = (o: Outcome, i = 0): string => o.upstream[i]?.[0];
const sentHeader = (o: Outcome, name: string, i = 0): string | undefined =>
  o.upstream[i]?.find((l) => l.toLowerCase().startsWith(name.toLowerCase() + ': '))?.slice(name.length + 2);
const ok = reply(200, [['Content-Type', 'text/plain']], 'hello\n');

const REQUEST_CASES: DiffCase[] = [
  {
    name: 'proxy_pass without a URI passes the request URI as sent',
    server: 'location /a/ { proxy_pass http://{B1}; }',
    backends: [ok],
    request: GET('/a/b%41c?x=1&y'),
    expect: (o) => {
      expect(sentLine(o)).toBe('GET /a/b%41c?x=1&y HTTP/1.0');
      expect(o.upstream[0].slice(1, 3)).toEqual(['Host: 127.0.0.1:{B1}', 'Connection: close']);
    },
  },
  {
    name: 'proxy_pass with a URI replaces the location prefix',
    server: 'location /a/ { proxy_pass http://{B1}/z/; }',
    backends: [ok],
    request: GET('/a/b%20c?x=1'),
    expect: (o) => expect(sentLine(o)).toBe('GET /z/b%20c?x=1 HTTP/1.0'),
  },
  {
    name: 'proxy_pass with a URI: a prefix without the slash',
    server: 'location /a { proxy_pass http://{B1}/z; }',
    backends: [ok],
    request: GET('/abc/d'),
    expect: (o) => expect(sentLine(o)).toBe('GET /zbc/d HTTP/1.0'),
  },
  {
    name: 'proxy_pass with a URI: encoded characters are decoded and escaped again',
    server: 'location /e/ { proxy_pass http://{B1}/d/; }',
    backends: [ok],
    request: GET('/e/a%2Fb%7e%20c%3F?q=%20'),
    expect: (o) => expect(sentLine(o)).toMatch(/^GET \/d\/a\/b~%20c%3F\?q=%20 HTTP\/1.0$/),
  },
  {
    name: 'proxy_pass without a URI: the URI as sent even when it had to be normalised',
    server: 'location /a/ { proxy_pass http://{B1}; }',
    backends: [ok],
    request: GET('/a/x/../b%20c//d'),
    expect: (o) => expect(sentLine(o)).toBe('GET /a/x/../b%20c//d HTTP/1.0'),
  },
  {
    name: 'proxy_pass with a URI: a normalised URI is escaped again',
    server: 'location /a/ { proxy_pass http://{B1}/n/; }',
    backends: [ok],
    request: GET('/a/x/../b%20c//d'),
    expect: (o) => expect(sentLine(o)).toBe('GET /n/b%20c/d HTTP/1.0'),
  },
  {
    name: 'proxy_pass to a host name resolved at load (localhost)',
    server: 'location / { proxy_pass http://localhost:{P1}; }',
    backends: [ok],
    request: GET('/name'),
    expect: (o) => {
      expect(sentHeader(o, 'Host')).toBe('localhost:{B1}');
      expect(o.access[0]).toBe('200 "GET /name HTTP/1.1" 6 "127.0.0.1:{B1}" "200" "6"');
    },
  },
  {
    name: 'proxy_pass with variables passes the URI the variables make',
    server: 'set $up {B1}; location /v/ { proxy_pass http://$up/x$uri$is_args$args; }',
    backends: [ok],
    request: GET('/v/a%20b?k=v'),
    expect: (o) => expect(sentLine(o)).toBe('GET /x/v/a b?k=v HTTP/1.0'),
  },
  {
    name: 'proxy_pass in a regex location',
    server: 'location ~ ^/r/(.*)$ { proxy_pass http://{B1}; }',
    backends: [ok],
    request: GET('/r/x%41?a'),
    expect: (o) => expect(sentLine(o)).toBe('GET /r/x%41?a HTTP/1.0'),
  },
  {
    name: 'proxy_pass in a named location reached by try_files',
    server: 'root html; location / { try_files $uri @up; } location @up { proxy_pass http://{B1}; }',
    backends: [ok],
    request: GET('/missing%20file?q'),
    expect: (o) => expect(sentLine(o)).toBe('GET /missing%20file?q HTTP/1.0'),
  },
  {
    name: 'proxy_pass inside if',
    server: 'location /i/ { root html; if ($arg_go) { proxy_pass http://{B1}; } }',
    backends: [ok],
    request: GET('/i/p?go=1'),
    expect: (o) => {
      expect(o.status).toBe(200);
      expect(sentLine(o)).toBe('GET /i/p?go=1 HTTP/1.0');
    },
  },
  {
    name: 'rewrite ... break changes the URI passed',
    server: 'location /rw/ { rewrite ^/rw/(.*)$ /new/$1 break; proxy_pass http://{B1}; }',
    backends: [ok],
    request: GET('/rw/a%20b?x=1'),
    expect: (o) => expect(sentLine(o)).toBe('GET /new/a%20b?x=1 HTTP/1.0'),
  },
  {
    name: 'rewrite ... break with a URI part in proxy_pass: the rewritten URI is passed whole',
    server: 'location /rw/ { rewrite ^/rw/(.*)$ /new/$1 break; proxy_pass http://{B1}/ignored/; }',
    backends: [ok],
    request: GET('/rw/q'),
    expect: (o) => expect(sentLine(o)).toBe('GET /new/q HTTP/1.0'),
  },
  {
    name: 'proxy_pass to a unix-domain socket, with a URI',
    server: 'location /u/ { proxy_pass http://{U}:/sock/; }',
    unix: ok,
    request: GET('/u/x?y'),
    expect: (o) => {
      expect(o.upstream[0].slice(0, 2)).toEqual(['GET /sock/x?y HTTP/1.0', 'Host: localhost']);
      expect(o.access[0]).toBe('200 "GET /u/x?y HTTP/1.1" 6 "{U}" "200" "6"');
    },
  },
  {
    name: 'proxy_pass https:// to a self-signed backend (no verification, as nginx by default)',
    server: 'location /s/ { proxy_pass https://{T}/tls/; }',
    tls: echo(),
    request: GET('/s/x?y=1'),
    expect: (o) => {
      expect(o.upstream[0].slice(0, 2)).toEqual(['GET /tls/x?y=1 HTTP/1.0', 'Host: 127.0.0.1:{T}']);
      expect(o.access[0]).toMatch(/^200 "GET \/s\/x\?y=1 HTTP\/1.1" \d+ "127.0.0.1:\{T\}" "200" "\d+"$/);
    },
  },
  {
    name: 'default headers, client headers in order, X-Forwarded-For added',
    server: 'location / { proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Real-IP $remote_addr; proxy_pass http://{B1}; }',
    backends: [ok],
    request: 'GET /h HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t/1\r\nX-Forwarded-For: 10.0.0.1\r\nAccept: */*\r\nX-Multi: a\r\nX-Multi: b\r\nConnection: keep-alive\r\n\r\n',
    expect: (o) => {
      expect(sentHeader(o, 'X-Forwarded-For')).toBe('10.0.0.1, 127.0.0.1');
      expect(sentHeader(o, 'Connection')).toBe('close');
    },
  },
  {
    name: 'proxy_set_header: a level with its own replaces the inherited ones; "" removes a header',
    server: 'proxy_set_header X-Server one; location / { proxy_set_header X-Loc two; proxy_set_header User-Agent ""; proxy_set_header Host $host:$server_port; proxy_pass http://{B1}; } location /inh/ { proxy_pass http://{B1}; }',
    backends: [ok],
    request: GET('/', 'User-Agent: ua\r\nX-Server: client\r\n'),
    expect: (o) => {
      expect(sentHeader(o, 'X-Server')).toBe('client');
      expect(sentHeader(o, 'X-Loc')).toBe('two');
      expect(sentHeader(o, 'User-Agent')).toBeUndefined();
    },
  },
  {
    name: 'proxy_set_header inherited from the server level',
    server: 'proxy_set_header X-Server one; location /inh/ { proxy_pass http://{B1}; }',
    backends: [ok],
    request: GET('/inh/'),
    expect: (o) => expect(sentHeader(o, 'X-Server')).toBe('one'),
  },
  {
    name: 'proxy_pass_request_headers off, proxy_method, proxy_http_version 1.1',
    server: 'location / { proxy_pass_request_headers off; proxy_method PUT; proxy_http_version 1.1; proxy_pass http://{B1}; }',
    backends: [ok],
    request: GET('/m', 'X-Gone: 1\r\n'),
    expect: (o) => {
      expect(sentLine(o)).toBe('PUT /m HTTP/1.1');
      expect(sentHeader(o, 'X-Gone')).toBeUndefined();
    },
  },
  {
    name: 'response headers hidden and passed: Server, Date, X-Pad, X-Accel-*, proxy_hide_header, proxy_pass_header',
    server: 'location / { proxy_hide_header X-Powered-By; proxy_pass_header X-Accel-Charset; proxy_pass http://{B1}; }',
    backends: [reply(200, [['Server', 'backend/1'], ['Date', 'Mon, 01 Jan 2001 00:00:00 GMT'], ['X-Pad', 'avoid browser bug'], ['X-Accel-Expires', '10'], ['X-Accel-Charset', 'utf-8'], ['X-Powered-By', 'PHP'], ['X-Keep', 'yes'], ['Content-Type', 'text/html']], 'body')],
    request: GET('/'),
    ignore: ['server'],
    expect: (o) => {
      expect(hdr(o, 'X-Pad')).toBeUndefined();
      expect(hdr(o, 'X-Powered-By')).toBeUndefined();
      expect(hdr(o, 'X-Accel-Charset')).toBe('utf-8');
      expect(hdr(o, 'X-Keep')).toBe('yes');
    },
  },
  {
    name: 'request body with Content-Length',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [echo()],
    request: 'POST /p HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world',
    expect: (o) => {
      expect(sentHeader(o, 'Content-Length')).toBe('11');
      expect(o.upstream[0].at(-1)).toBe('body: hello world');
    },
  },
  {
    name: 'chunked request body is buffered and sent with Content-Length',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [echo()],
    request: 'POST /p HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
    expect: (o) => {
      expect(sentHeader(o, 'Content-Length')).toBe('11');
      expect(sentHeader(o, 'Transfer-Encoding')).toBeUndefined();
    },
  },
  {
    name: 'chunked request body with proxy_request_buffering off and HTTP/1.1 goes chunked',
    server: 'location / { proxy_request_buffering off; proxy_http_version 1.1; proxy_pass http://{B1}; }',
    backends: [echo()],
    // a body that came with the head is known whole: nginx then sends its length
    request: ['POST /p HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', { pause: 100 }, '5\r\nhello\r\n', { pause: 50 }, '0\r\n\r\n'],
    expect: (o) => {
      expect(sentHeader(o, 'Transfer-Encoding')).toBe('chunked');
      expect(o.upstream[0].at(-1)).toBe('body (chunked): hello');
    },
  },
  {
    name: 'a 10 MiB upload, buffered',
    server: 'client_max_body_size 20m; location / { proxy_pass http://{B1}; }',
    backends: [({ req, sock }) => void sock.write(response(200, [], `got ${req.body.length}`))],
    request: [`PUT /big HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: ${10 << 20}\r\nConnection: close\r\n\r\n`, Buffer.alloc(10 << 20, 'x')],
    idle: 5000,
    expect: (o) => {
      expect(o.status).toBe(200);
      expect(o.body).toBe(`got ${10 << 20}`);
    },
  },
  {
    name: 'a 10 MiB upload with proxy_request_buffering off',
    server: 'client_max_body_size 20m; location / { proxy_request_buffering off; proxy_pass http://{B1}; }',
    backends: [({ req, sock }) => void sock.write(response(200, [], `got ${req.body.length}`))],
    request: [`PUT /big HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: ${10 << 20}\r\nConnection: close\r\n\r\n`, Buffer.alloc(10 << 20, 'y')],
    idle: 5000,
    expect: (o) => expect(o.body).toBe(`got ${10 << 20}`),
  },
  {
    name: 'a body too large for client_max_body_size is refused before the upstream',
    server: 'client_max_body_size 10; location / { proxy_pass http://{B1}; }',
    backends: [ok],
    request: 'POST / HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world',
    ignore: ['server'],
    expect: (o) => {
      expect(o.status).toBe(413);
      expect(o.upstream).toEqual([]);
    },
  },
];

const RESPONSE_CASES: DiffCase[] = [
  {
    name: 'response with Content-Length',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [reply(200, [['Content-Type', 'text/plain'], ['ETag', '"x"'], ['Cache-Control', 'no-cache']], 'abc')],
    request: GET('/'),
    expect: (o) => expect([o.status, hdr(o, 'Content-Length'), o.body]).toEqual([200, '3', 'abc']),
  },
  {
    name: 'chunked response from an HTTP/1.1 backend',
    server: 'location / { proxy_http_version 1.1; proxy_pass http://{B1}; }',
    backends: [reply(200, [['Content-Type', 'text/plain']], 'chunk body', { chunked: true })],
    request: GET('/'),
    expect: (o) => expect([o.chunked, o.body]).toEqual([true, 'chunk body']),
  },
  {
    name: 'close-delimited response reaches an HTTP/1.1 client chunked',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [reply(200, [['Content-Type', 'text/plain']], 'till close', { closeDelimited: true })],
    request: GET('/'),
    expect: (o) => expect([o.chunked, o.body]).toEqual([true, 'till close']),
  },
  {
    name: 'close-delimited response to an HTTP/1.0 client',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [reply(200, [['Content-Type', 'text/plain']], 'till close', { closeDelimited: true })],
    request: 'GET / HTTP/1.0\r\nHost: x\r\n\r\n',
    expect: (o) => expect([o.chunked, o.body, o.closed]).toEqual([false, 'till close', true]),
  },
  {
    name: 'HEAD is passed as HEAD and answered without a body',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [reply(200, [['Content-Type', 'text/plain'], ['Content-Length', '5']], '')],
    request: 'HEAD / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n',
    head: true,
    expect: (o) => {
      expect(sentLine(o)).toBe('HEAD / HTTP/1.0');
      expect(hdr(o, 'Content-Length')).toBe('5');
    },
  },
  {
    name: '204 from the backend',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [raw('HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n')],
    request: GET('/'),
    expect: (o) => expect([o.status, o.body, hdr(o, 'Content-Length')]).toEqual([204, '', undefined]),
  },
  {
    name: '304 from the backend',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [raw('HTTP/1.1 304 Not Modified\r\nETag: "e"\r\n\r\n')],
    request: GET('/', 'If-None-Match: "e"\r\n'),
    expect: (o) => expect([o.status, hdr(o, 'ETag')]).toEqual([304, '"e"']),
  },
  {
    name: 'a status line without a reason phrase, and an unknown status',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [raw('HTTP/1.1 299\r\nContent-Length: 2\r\n\r\nok')],
    request: GET('/'),
    expect: (o) => expect(o.statusLine).toBe('HTTP/1.1 299'),
  },
  {
    name: 'proxy_buffering off streams the body',
    server: 'location / { proxy_buffering off; proxy_pass http://{B1}; }',
    backends: [slow(['HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n', 'abc', 'def'], 100)],
    request: GET('/'),
    expect: (o) => expect(o.body).toBe('abcdef'),
  },
  {
    name: 'proxy_intercept_errors with error_page serves the page with the upstream status',
    server: 'root html; error_page 404 /50x.html; location = /50x.html {} location / { proxy_intercept_errors on; proxy_pass http://{B1}; }',
    backends: [reply(404, [['Content-Type', 'text/plain']], 'backend 404')],
    request: GET('/x'),
    ignore: ['server', 'etag', 'last-modified'],
    expect: (o) => expect([o.status, o.body]).toEqual([404, 'error page\n']),
  },
  {
    name: 'without proxy_intercept_errors the upstream error passes',
    server: 'root html; error_page 500 /50x.html; location / { proxy_pass http://{B1}; }',
    backends: [reply(500, [['Content-Type', 'text/plain']], 'backend 500')],
    request: GET('/x'),
    expect: (o) => expect([o.status, o.body]).toEqual([500, 'backend 500']),
  },
  {
    name: 'a 10 MiB response, buffered',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [reply(200, [['Content-Type', 'application/octet-stream']], Buffer.alloc(10 << 20, 'r'))],
    request: GET('/big'),
    idle: 5000,
    expect: (o) => expect([o.status, hdr(o, 'Content-Length'), o.body.startsWith(`<${10 << 20} bytes`)]).toEqual([200, String(10 << 20), true]),
  },
  {
    name: 'a 10 MiB chunked response with proxy_buffering off',
    server: 'location / { proxy_buffering off; proxy_http_version 1.1; proxy_pass http://{B1}; }',
    backends: [reply(200, [['Content-Type', 'application/octet-stream']], Buffer.alloc(10 << 20, 's'), { chunked: true })],
    request: GET('/big'),
    idle: 5000,
    expect: (o) => expect([o.status, o.chunked, o.body.startsWith(`<${10 << 20} bytes`)]).toEqual([200, true, true]),
  },
  {
    name: 'upstream variables: $upstream_http_*, $upstream_cookie_*',
    server: 'location / { proxy_pass http://{B1}; }',
    log: '"$upstream_http_x_id" "$upstream_cookie_sid" "$upstream_http_content_type" "$upstream_http_missing"',
    backends: [reply(200, [['X-Id', 'abc'], ['Set-Cookie', 'other=1'], ['Set-Cookie', 'sid=s3cr3t; Path=/'], ['Content-Type', 'text/plain']], 'v')],
    request: GET('/vars'),
    expect: (o) => expect(o.access[0]).toBe('200 "GET /vars HTTP/1.1" 1 "127.0.0.1:{B1}" "200" "1" "abc" "s3cr3t" "text/plain" "-"'),
  },
  {
    name: 'proxy_pass with a variable naming an upstream block',
    http: 'upstream pool { server {B1}; }',
    server: 'set $pool pool; location / { proxy_pass http://$pool; }',
    backends: [ok],
    request: GET('/byname?x'),
    expect: (o) => {
      expect(sentLine(o)).toBe('GET /byname?x HTTP/1.0');
      expect(sentHeader(o, 'Host')).toBe('pool');
    },
  },
  {
    name: 'WebSocket upgrade: 101 passed, then bytes both ways',
    http: "map $http_upgrade $connection_upgrade { default upgrade; '' close; }",
    server: 'location / { proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; proxy_pass http://{B1}; }',
    backends: [({ sock }) => new Promise<void>(() => {
      sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      sock.on('data', (d) => sock.write(Buffer.concat([Buffer.from('echo:'), d])));
    })],
    request: ['GET /ws HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', { pause: 200 }, 'frame-1', { pause: 200 }, 'frame-2'],
    idle: 500,
    expect: (o) => {
      expect([o.status, sentHeader(o, 'Upgrade'), sentHeader(o, 'Connection')]).toEqual([101, 'websocket', 'upgrade']);
      expect(o.more.map((m) => m.statusLine).join('')).toBe('echo:frame-1echo:frame-2');
    },
  },
];

const MORE_CASES: DiffCase[] = [
  {
    name: 'proxy_set_body and proxy_pass_request_body off',
    server: 'location /set/ { proxy_set_body "k=$arg_k"; proxy_pass http://{B1}; } location /nobody/ { proxy_pass_request_body off; proxy_set_header Content-Length ""; proxy_pass http://{B1}; }',
    backends: [echo()],
    request: ['POST /set/?k=v HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 5\r\n\r\nhello', { pause: 100 }, 'POST /nobody/ HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello'],
    expect: (o) => {
      expect(o.upstream[0].at(-1)).toBe('body: k=v');
      expect(o.upstream[1].at(-1)).toBe('body: ');
    },
  },
  {
    name: 'an HTTP/1.0 client without Host: $proxy_host and X-Forwarded-For made from nothing',
    server: 'location / { proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-PH "$proxy_host:$proxy_port"; proxy_pass http://{B1}; }',
    backends: [ok],
    request: 'GET /old HTTP/1.0\r\n\r\n',
    expect: (o) => {
      expect(sentHeader(o, 'X-Forwarded-For')).toBe('127.0.0.1');
      expect(sentHeader(o, 'X-PH')).toBe('127.0.0.1:{B1}:{B1}');
    },
  },
  {
    name: 'an HTTP/1.0 client asking for keep-alive',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [ok],
    request: ['GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', { pause: 150 }, 'GET /b HTTP/1.0\r\n\r\n'],
    expect: (o) => expect([o.status, o.more.length, hdr(o, 'Connection'), o.access.length]).toEqual([200, 1, 'keep-alive', 2]),
  },
  {
    name: 'Expect: 100-continue from the client',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [echo()],
    request: ['POST /e HTTP/1.1\r\nHost: {HOST}\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n', { pause: 150 }, 'data'],
    expect: (o) => {
      expect(o.statusLine).toBe('HTTP/1.1 100 Continue');
      expect(sentHeader(o, 'Expect')).toBeUndefined();
    },
  },
  {
    // nginx 1.22 takes the 100 for the answer and then waits for a body that never comes
    name: 'a 100 Continue from the upstream before its answer',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [raw('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')],
    request: GET('/c'),
    expect: (o) => expect([o.statusLine, o.access[0]]).toEqual(['', '499 "GET /c HTTP/1.1" 0 "127.0.0.1:{B1}" "100" "40"']),
  },
  {
    name: 'upstream Connection, Keep-Alive, Upgrade, Trailer and duplicate headers',
    server: 'location / { proxy_http_version 1.1; proxy_pass http://{B1}; }',
    backends: [raw('HTTP/1.1 200 OK\r\nconnection: keep-alive\r\nKeep-Alive: timeout=5\r\nx-lower: a\r\nWWW-Authenticate: Basic\r\nWWW-Authenticate: Bearer\r\nContent-Length: 2\r\nUpgrade: h2c\r\nTrailer: X\r\n\r\nok')],
    request: GET('/h'),
    expect: (o) => expect(o.headers.filter(([k]) => k === 'WWW-Authenticate').length).toBe(2),
  },
  {
    name: 'an invalid Content-Length from the upstream',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [raw('HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nbody', { close: true })],
    request: GET('/cl'),
    ignore: ['server'],
    // nginx 1.22 ignores a length it cannot read and takes the body to the close
    expect: (o) => expect([o.status, o.body, o.access[0]]).toEqual([200, 'body', '200 "GET /cl HTTP/1.1" 14 "127.0.0.1:{B1}" "200" "4"']),
  },
  {
    name: 'response headers bigger than proxy_buffer_size fit when it is raised',
    server: 'location /small/ { proxy_pass http://{B1}; } location /big/ { proxy_buffer_size 8k; proxy_pass http://{B1}; }',
    backends: [reply(200, [['X-Big', 'b'.repeat(6000)]], 'ok')],
    request: [KEEP('/small/'), { pause: 150 }, GET('/big/')],
    ignore: ['server'],
    expect: (o) => expect([o.status, o.more[0]?.statusLine]).toEqual([502, 'HTTP/1.1 200 OK']),
  },
  {
    name: 'proxy_intercept_errors to a named location and error_page =',
    server: 'error_page 404 = @fallback; location @fallback { return 200 "fallback after $upstream_status\\n"; } location / { proxy_intercept_errors on; proxy_pass http://{B1}; }',
    backends: [reply(404, [['X-From', 'backend']], 'nf')],
    request: GET('/nf'),
    expect: (o) => expect([o.status, o.body, hdr(o, 'X-From')]).toEqual([200, 'fallback after 404\n', undefined]),
  },
  {
    name: 'proxy_intercept_errors without an error_page for the status passes the upstream answer',
    server: 'error_page 500 /50x.html; location / { proxy_intercept_errors on; proxy_pass http://{B1}; }',
    backends: [reply(403, [['X-From', 'backend']], 'forbidden')],
    request: GET('/403'),
    expect: (o) => expect([o.status, o.body, hdr(o, 'X-From')]).toEqual([403, 'forbidden', 'backend']),
  },
  {
    name: 'proxy_hide_header inherited, a level with its own replaces it',
    server: 'proxy_hide_header X-A; location /own/ { proxy_hide_header X-B; proxy_pass http://{B1}; } location / { proxy_pass http://{B1}; }',
    backends: [reply(200, [['X-A', 'a'], ['X-B', 'b']], 'ok')],
    request: [KEEP('/own/'), { pause: 150 }, GET('/')],
    expect: (o) => {
      expect([hdr(o, 'X-A'), hdr(o, 'X-B')]).toEqual(['a', undefined]);
      expect(o.more[0]?.headers.filter(([k]) => k.startsWith('X-'))).toEqual([['X-B', 'b']]);
    },
  },
  {
    name: 'a client request with both Content-Length and Transfer-Encoding',
    server: 'location / { proxy_pass http://{B1}; }',
    backends: [echo()],
    request: 'POST /b HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    ignore: ['server'],
    expect: (o) => expect([o.status, o.upstream]).toEqual([400, []]),
  },
  {
    name: 'unsafe characters in the arguments and the URI',
    server: 'location /q/ { proxy_pass http://{B1}/r/; } location /raw/ { proxy_pass http://{B1}; }',
    backends: [ok],
    request: [KEEP('/q/a%22b%3Cc%3E%25?x=%22"<>|'), { pause: 150 }, GET('/raw/%ZZ%2e%2E/x')],
    expect: (o) => {
      expect(sentLine(o)).toBe('GET /r/a%22b%3Cc%3E%25?x=%22"<>| HTTP/1.0');
      expect([o.upstream.length, o.more[0]?.statusLine]).toEqual([1, 'HTTP/1.1 400 Bad Request']);
    },
  },
  {
    name: 'proxy_ignore_client_abort on: the upstream answer is read to the end',
    server: 'location / { proxy_ignore_client_abort on; proxy_pass http://{B1}; }',
    backends: [slow(['HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n', 'ab', 'cd'], 300)],
    request: GET('/ica'),
    max: 150,
    logWait: 3000,
    expect: (o) => expect([o.status, o.access[0]]).toEqual([0, '200 "GET /ica HTTP/1.1" 4 "127.0.0.1:{B1}" "200" "4"']),
  },
];

const redirect = (...headers: Array<[string, string]>): Action => reply(302, headers, '');

const REWRITE_CASES: DiffCase[] = [
  {
    name: 'proxy_redirect default rewrites Location and Refresh',
    server: 'location /one/ { proxy_pass http://{B1}/two/; }',
    backends: [redirect(['Location', 'http://{B1}/two/x?q=1'], ['Refresh', '0; url=http://{B1}/two/y'])],
    request: GET('/one/a'),
    expect: (o) => expect([hdr(o, 'Location'), hdr(o, 'Refresh')]).toEqual(['http://127.0.0.1:PORT/one/x?q=1', '0; url=/one/y']),
  },
  {
    name: 'a proxy_redirect at the server level is inherited and there is no default',
    server: 'proxy_redirect http://elsewhere/ /; location /one/ { proxy_pass http://{B1}/two/; }',
    backends: [redirect(['Location', 'http://{B1}/two/x'])],
    request: GET('/one/a'),
    expect: (o) => expect(hdr(o, 'Location')).toBe('http://127.0.0.1:{B1}/two/x'),
  },
  {
    name: 'an if block inherits its location\'s default',
    server: 'location /one/ { proxy_pass http://{B1}/two/; if ($arg_x) { set $y 1; } }',
    backends: [redirect(['Location', 'http://{B1}/two/x'])],
    request: GET('/one/a?x=1'),
    expect: (o) => expect(hdr(o, 'Location')).toBe('http://127.0.0.1:PORT/one/x'),
  },
  {
    name: 'proxy_redirect with variables on both sides',
    server: 'location / { proxy_pass http://{B1}; proxy_redirect http://$proxy_host/ https://$host:$server_port/; }',
    backends: [redirect(['Location', 'http://{B1}/p'])],
    request: GET('/'),
    expect: (o) => expect(hdr(o, 'Location')).toBe('https://127.0.0.1:PORT/p'),
  },
  {
    name: 'proxy_redirect off leaves Location as the upstream sent it',
    server: 'location /one/ { proxy_pass http://{B1}/two/; proxy_redirect off; }',
    backends: [redirect(['Location', 'http://{B1}/two/x'])],
    request: GET('/one/a'),
    expect: (o) => expect(hdr(o, 'Location')).toBe('http://127.0.0.1:{B1}/two/x'),
  },
  {
    name: 'a relative Location no rule matched stays relative',
    server: 'location /one/ { proxy_pass http://{B1}/two/; }',
    backends: [redirect(['Location', '/elsewhere'])],
    request: GET('/one/a'),
    expect: (o) => expect(hdr(o, 'Location')).toBe('/elsewhere'),
  },
  {
    name: 'cookies rewritten: domain and path, with variables, several Set-Cookie',
    server: 'location /one/ { proxy_pass http://{B1}/two/; proxy_cookie_domain backend.local $host; proxy_cookie_path /two/ /one/; }',
    backends: [reply(200, [['Set-Cookie', 'a=1; Domain=.backend.local; Path=/two/'], ['Set-Cookie', 'b=2;path=/two/deep; HttpOnly'], ['Set-Cookie', 'c=3; Path=/other']], 'ok')],
    request: 'GET /one/ HTTP/1.1\r\nHost: www.example.test\r\nConnection: close\r\n\r\n',
    expect: (o) => expect(o.headers.filter(([k]) => k === 'Set-Cookie').map(([, v]) => v)).toEqual([
      'a=1; Domain=.www.example.test; Path=/one/', 'b=2; path=/one/deep; HttpOnly', 'c=3; Path=/other',
    ]),
  },
  {
    name: 'proxy_cookie_flags with a variable flag',
    server: 'location / { proxy_pass http://{B1}; proxy_cookie_flags ~^s secure $arg_ss; }',
    backends: [reply(200, [['Set-Cookie', 'sid=1; Path=/; SameSite=Lax'], ['Set-Cookie', 'other=2']], 'ok')],
    request: GET('/?ss=samesite=none'),
    expect: (o) => expect(o.headers.filter(([k]) => k === 'Set-Cookie').map(([, v]) => v)).toEqual(['sid=1; Path=/; SameSite=None; Secure', 'other=2']),
  },
];

/** Cases where nodinx is known to differ (each also in /work/briefs/proxy-findings.md): nginx's side is still checked. */
const KNOWN_DIFFS: Record<string, string> = {
  // nginx's chunks follow its buffers, nodinx's the upstream's reads: the framing bytes in $body_bytes_sent differ
  'a 10 MiB chunked response with proxy_buffering off': 'chunk sizes (finding 2 is fixed for whole bodies)',
  'response headers hidden and passed: Server, Date, X-Pad, X-Accel-*, proxy_hide_header, proxy_pass_header': 'finding 12: X-Accel-Charset',
};

runTable('proxied requests', REQUEST_CASES, KNOWN_DIFFS);
runTable('proxied responses', RESPONSE_CASES, KNOWN_DIFFS);
runTable('Location, Refresh and Set-Cookie rewritten', REWRITE_CASES, KNOWN_DIFFS);
runTable('more requests and responses', MORE_CASES, KNOWN_DIFFS);
