import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normLog, rawRequest, readLines } from './helpers/http';
import { ok, type Reply } from './helpers/backend';
import { normReceived, normResponse, startProxyPair, stopProxyPair, type Side } from './helpers/proxy-pair';

// proxy_pass compared with the real nginx: the same configuration in front
// of the same scripted backend; for every request the backend must receive
// the same request line and headers, and the client the same answer
// (status line, headers in order, body, connection kept or closed); the
// access logs (with the upstream variables) must have the same lines.

const CONFIG = `
events {}
http {
  server_tokens off;
  log_format up '$status "$request" $upstream_addr $upstream_status $upstream_response_length $proxy_host $proxy_port "$upstream_http_x_up" "$upstream_cookie_sid"';
  access_log logs/access.log up;
  server {
    listen 127.0.0.1:{PORT};
    server_name localhost;
    location / { proxy_pass http://127.0.0.1:{B}; }
    location /uri/ { proxy_pass http://127.0.0.1:{B}/dest/; }
    location /short { proxy_pass http://127.0.0.1:{B}/x; }
    location /v11/ {
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://127.0.0.1:{B};
    }
    location ~ ^/re(.*)$ { proxy_pass http://127.0.0.1:{B}; }
    location /rw/ {
      rewrite ^/rw/(.*)$ /new/$1 break;
      proxy_pass http://127.0.0.1:{B}/base/;
    }
    location /rwlast/ {
      rewrite ^/rwlast/(.*)$ /uri/$1 last;
    }
    location /headers/ {
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header Host $host:$server_port;
      proxy_set_header User-Agent "";
      proxy_pass http://127.0.0.1:{B};
    }
    location /nohdr/ {
      proxy_pass_request_headers off;
      proxy_pass http://127.0.0.1:{B};
    }
    location /method/ {
      proxy_method POST;
      proxy_set_body "a=$arg_a";
      proxy_pass http://127.0.0.1:{B};
    }
    location /hide/ {
      proxy_hide_header X-Secret;
      proxy_pass_header Server;
      proxy_pass http://127.0.0.1:{B};
    }
    location /var/ {
      set $up 127.0.0.1:{B};
      proxy_pass http://$up;
    }
    location /varuri/ {
      set $up 127.0.0.1:{B};
      proxy_pass http://$up/fixed$is_args$args;
    }
    location /if/ {
      if ($arg_x) { return 418; }
      proxy_pass http://127.0.0.1:{B};
    }
    location /intercept/ {
      proxy_intercept_errors on;
      error_page 404 = /fallback;
      proxy_pass http://127.0.0.1:{B};
    }
    location = /fallback { return 200 "fallback\\n"; }
    location /intercept2/ {
      proxy_intercept_errors on;
      error_page 404 = /uri/after404;
      proxy_pass http://127.0.0.1:{B};
    }
    location /accel/ { proxy_pass http://127.0.0.1:{B}; }
    location /internal/ { internal; return 200 "internal $uri\\n"; }
    location @named { return 200 "named\\n"; }
  }
}
`;

const get = (uri: string, extra = '', version = '1.1'): string => `GET ${uri} HTTP/${version}\r\nHost: localhost\r\n${extra}\r\n`;

/** The backend's answer by path. */
function reply(head: string): Reply {
  const uri = head.split(' ')[1];
  if (uri.includes('chunked')) return 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
  if (uri.includes('cookie')) return ok('c\n', ['Set-Cookie: sid=abc123; Path=/', 'Set-Cookie: other=1', 'X-Up: yes']);
  if (uri.includes('status404')) return ok('not here\n', ['Content-Type: text/plain'], '404 Not Found');
  if (uri.includes('weird-reason')) return ok('w\n', [], '200 Fine And Dandy');
  if (uri.includes('hide')) return ok('h\n', ['X-Secret: 1', 'Server: backend/1.0', 'X-Pad: avoid', 'X-Other: 2']);
  if (uri.includes('location-rel')) return ok('', ['Location: /elsewhere'], '302 Found');
  if (uri.includes('accel-uri')) return ok('', ['X-Accel-Redirect: /internal/file?q=1']);
  if (uri.includes('accel-named')) return ok('', ['X-Accel-Redirect: @named']);
  if (uri.includes('noclen')) return { parts: ['HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close'], close: true };
  if (uri.includes('head-resp')) return ok('body-of-head', ['Content-Type: text/plain', 'Last-Modified: Wed, 01 Jan 2020 00:00:00 GMT', 'ETag: "abc"']);
  if (uri.includes('no204')) return 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n';
  return ok(`uri ${uri}\n`, ['Content-Type: text/plain', 'X-Up: up']);
}

const CASES: Array<[string, string, { head?: boolean }?]> = [
  ['no URI part: the request URI as sent', get('/a/b%20c/../d?x=1&y')],
  ['no URI part: merged slashes passed as sent', get('//a///b?q')],
  ['URI part replaces the location prefix', get('/uri/x/y?z=1')],
  ['URI part, escaped', get('/uri/a%20b?z')],
  ['URI part, prefix without slash', get('/shortcut/more')],
  ['regex location: the URI as sent', get('/regex/x?a=1')],
  ['rewrite break: the new URI passed whole', get('/rw/p/q?a=1')],
  ['rewrite last into a URI-part location', get('/rwlast/k?m=2')],
  ['proxy_set_header and X-Forwarded-For', get('/headers/x', 'X-Forwarded-For: 10.0.0.1\r\nUser-Agent: test\r\nX-Custom: c\r\n')],
  ['proxy_pass_request_headers off', get('/nohdr/x', 'X-Custom: c\r\nCookie: a=b\r\n')],
  ['proxy_method and proxy_set_body', get('/method/x?a=42')],
  ['hide and pass headers', get('/hide/x')],
  ['variables: host only', get('/var/x?y=1')],
  ['variables: with a URI', get('/varuri/x?y=1')],
  ['inside a location with if', get('/if/p')],
  ['intercepted 404 goes to error_page', get('/intercept/status404')],
  ['not intercepted: passed as is', get('/status404')],
  ['intercepted 404 to another proxied location: " : " in the upstream lists', get('/intercept2/status404')],
  // Connection: close lets the reader stop at the close rather than parse chunks
  ['chunked upstream to HTTP/1.1 client', get('/chunked', 'Connection: close\r\n')],
  ['chunked upstream to HTTP/1.0 client', get('/chunked', '', '1.0')],
  ['upstream cookies and headers in variables', get('/cookie')],
  ['upstream reason phrase kept', get('/weird-reason')],
  ['relative Location made absolute', get('/location-rel')],
  ['X-Accel-Redirect to a URI', get('/accel/accel-uri')],
  ['X-Accel-Redirect to a named location', get('/accel/accel-named')],
  ['HTTP/1.0 upstream, no length: read to close', get('/noclen', 'Connection: close\r\n')],
  ['HEAD', `HEAD /head-resp HTTP/1.1\r\nHost: localhost\r\n\r\n`, { head: true }],
  ['204 from upstream', get('/no204')],
  ['HTTP/1.1 to upstream with keepalive headers', get('/v11/x', 'Connection: keep-alive\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: foo\r\n')],
  ['Expect is not passed', `POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`],
];

describe('proxy_pass against nginx', () => {
  let ng: Side | undefined;
  let nd: Side | undefined;
  beforeAll(async () => {
    [ng, nd] = await startProxyPair('proxy-core', CONFIG, (req) => reply(req.head));
  }, 60000);
  afterAll(async () => {
    await stopProxyPair(ng, nd);
  });

  for (const [name, request, opts] of CASES) {
    it(name, async () => {
      const before = [ng!.backend.received.length, nd!.backend.received.length];
      const a = await rawRequest(ng!.server.port, request, opts);
      const b = await rawRequest(nd!.server.port, request, opts);
      expect(normReceived(nd!.backend.received.slice(before[1]), nd!)).toEqual(normReceived(ng!.backend.received.slice(before[0]), ng!));
      expect(normResponse(b, nd!)).toEqual(normResponse(a, ng!));
    });
  }

  it('access-log lines with the upstream variables', async () => {
    const a = normLog(await readLines(path.join(ng!.server.dir, 'logs/access.log'), CASES.length), ng!.server);
    const b = normLog(await readLines(path.join(nd!.server.dir, 'logs/access.log'), CASES.length), nd!.server);
    const port = (side: Side) => (l: string) => l.split(String(side.backend.port)).join('B');
    expect(b.map(port(nd!))).toEqual(a.map(port(ng!)));
  });
});
