import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normLog, readLines, startPair, stopPair, type Running } from './helpers/http';
import { exchange, type Piece } from './helpers/raw-socket';

// Access-log lines byte for byte against nginx: the same requests to both,
// every line of every log compared (times, ports and directories made
// comparable): combined, escape=json, escape=none, a format of several
// strings, a buffered log; plain requests, queries, quotes, backslashes and
// non-ASCII bytes in the user agent, referrer and URI, 404, HEAD, a
// Basic user, a client that half-closes before the response, 444 and 499.

const CONFIG = `
events {}
http {
    log_format js escape=json '{"r":"$request","s":$status,"b":$body_bytes_sent,"ua":"$http_user_agent",'
                              '"ref":"$http_referer","a":"$args","u":"$remote_user","x":"$http_x_missing"}';
    log_format raw escape=none '$request|$status|$http_user_agent|$http_referer|$args|$remote_user|$http_x_missing';
    log_format multi '$remote_addr "$request" '
                     '$status $body_bytes_sent $bytes_sent $request_length "$http_user_agent" $request_method $uri?$args';
    access_log logs/access.log;
    access_log logs/json.log js;
    access_log logs/raw.log raw;
    access_log logs/multi.log multi;
    access_log logs/buf.log combined buffer=4k flush=1s;

    server {
        listen 127.0.0.1:{PORT};
        root html;
        location /r499 { return 499; }
        location /r444 { return 444; }
    }
}
`;

const UA = 'Mozilla/5.0 "quoted" back\\slash \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\ttab';

const REQUESTS: Array<[string, Piece[], { shut?: boolean }?]> = [
  ['plain', ['GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n']],
  ['query', ['GET /index.html?a=1&b=%22x%22&c=\xc3\xa9 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n']],
  ['user agent and referrer with quotes, backslash, UTF-8, tab',
    [`GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: ${UA}\r\nReferer: http://r/"x"\\y\r\nConnection: close\r\n\r\n`]],
  ['404 with non-ASCII bytes in the URI', ['GET /caf\xc3\xa9/\xff HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n']],
  ['HEAD', ['HEAD /index.html HTTP/1.0\r\n\r\n']],
  ['Basic user', ['GET /index.html HTTP/1.0\r\nAuthorization: Basic dSJzZXI6cGFzcw==\r\n\r\n']],
  ['HTTP/1.0, no headers', ['GET /index.html HTTP/1.0\r\n\r\n']],
  ['client half-closes before the response', ['GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n'], { shut: true }],
  ['return 499', ['GET /r499 HTTP/1.1\r\nHost: localhost\r\n\r\n']],
  ['return 444', ['GET /r444?q="1" HTTP/1.1\r\nHost: localhost\r\n\r\n']],
  ['a bad request line', ['GET /x"y HTTP/1.1 junk\r\n\r\n']],
];

const LOGS = ['access.log', 'json.log', 'raw.log', 'multi.log', 'buf.log'];

let ngx: Running;
let ndx: Running;
const lines: Record<string, string[][]> = {};

beforeAll(async () => {
  [ngx, ndx] = await startPair('http-log', { 'html/index.html': 'hello\n' }, CONFIG);
  for (const s of [ngx, ndx]) {
    for (const [, pieces, opts] of REQUESTS) await exchange(s.port, pieces, { idle: 200, ...opts });
  }
  for (const log of LOGS) {
    // buf.log waits for flush=1s
    lines[log] = [];
    for (const s of [ngx, ndx]) lines[log].push(normLog(await readLines(path.join(s.dir, 'logs', log), REQUESTS.length, 5000), s));
  }
}, 60000);

afterAll(() => stopPair(ngx, ndx));

describe('access log lines, byte for byte as nginx', () => {
  for (const log of LOGS) {
    it(`${log}: one line per request, as nginx writes it`, () => {
      const [a, b] = lines[log];
      expect(a).toHaveLength(REQUESTS.length);
      for (let i = 0; i < REQUESTS.length; i++) expect([REQUESTS[i][0], b[i]]).toEqual([REQUESTS[i][0], a[i]]);
    });
  }

  it('nginx escapes as the formats say (the comparison above is not vacuous)', () => {
    const [combined] = lines['access.log'];
    expect(combined[2]).toContain('"Mozilla/5.0 \\x22quoted\\x22 back\\x5Cslash \\xC3\\xA9t\\xC3\\xA9 \\xE6\\x97\\xA5\\xE6\\x9C\\xAC\\x09tab"');
    expect(combined[8]).toMatch(/"GET \/r499 HTTP\/1.1" 499 0 /);
    const [json] = lines['json.log'];
    expect(json[2]).toContain('"ua":"Mozilla/5.0 \\"quoted\\" back\\\\slash \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\\ttab"');
    expect(json[0]).toContain('"x":""');
    const [raw] = lines['raw.log'];
    expect(raw[2]).toContain(`|${UA}|http://r/"x"\\y|`);
  });
});
