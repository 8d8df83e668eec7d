import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normLog, readLines } from './helpers/http';
import { ok, type Received } from './helpers/backend';
import { startProxyPair, stopProxyPair, type Side } from './helpers/proxy-pair';
import { timedGet, type TimedResponse } from './helpers/timed-get';

// X-Accel-Limit-Rate and X-Accel-Charset from a proxied upstream, and
// proxy_ignore_headers for them, against nginx: each side has a backend
// of its own running the same script. Bodies, headers, access-log lines
// ($limit_rate, $body_bytes_sent) and error-log lines are compared; a
// throttled answer is bounded from below in time only.

const BODY = Buffer.alloc(20000, 'abcdefghij').toString('latin1');
// all of KOI8-R's upper half: koi-win maps most of it
const KOI = Buffer.from(Array.from({ length: 128 }, (_, i) => 128 + i)).toString('latin1');

/** What the backend answers for each path: extra header lines and the body. */
const SCRIPT: Record<string, { headers: string[]; body?: string }> = {
  '/lr/': { headers: ['X-Accel-Limit-Rate: 8192'] },
  '/lrign/': { headers: ['X-Accel-Limit-Rate: 8192'] },
  '/lroff/': { headers: ['X-Accel-Limit-Rate: off'] },
  '/lrzero/': { headers: ['X-Accel-Limit-Rate: 0'] },
  '/lrtwice/': { headers: ['X-Accel-Limit-Rate: 8192', 'X-Accel-Limit-Rate: 0'] },
  '/lrbuf/': { headers: ['X-Accel-Limit-Rate: 8192'] },
  '/redir/': { headers: ['X-Accel-Limit-Rate: 8192', 'X-Accel-Redirect: /files/f.txt'], body: '' },
  '/cs/': { headers: ['Content-Type: text/html; charset=koi8-r', 'X-Accel-Charset: windows-1251'], body: KOI },
  '/csplain/': { headers: ['Content-Type: text/html', 'X-Accel-Charset: windows-1251'], body: KOI },
  '/csoff/': { headers: ['Content-Type: application/json', 'X-Accel-Charset: koi8-r'], body: KOI },
  '/csign/': { headers: ['Content-Type: text/html; charset=koi8-r', 'X-Accel-Charset: windows-1251'], body: KOI },
  '/csbad/': { headers: ['Content-Type: text/html', 'X-Accel-Charset: no-such'], body: KOI },
  '/csempty/': { headers: ['Content-Type: text/html', 'X-Accel-Charset: windows-1251', 'X-Accel-Charset:'], body: KOI },
  // override_charset: the upstream's own charset is recoded to the location's, or left alone
  '/ovon/': { headers: ['Content-Type: text/html; charset=koi8-r'], body: KOI },
  '/ovoff/': { headers: ['Content-Type: text/html; charset=koi8-r'], body: KOI },
  '/csnomap/': { headers: ['Content-Type: text/html; charset=utf-8', 'X-Accel-Charset: koi8-r'], body: 'x' },
};

const reply = (req: Received): string => {
  const p = req.head.split(' ')[1];
  const s = SCRIPT[p] ?? { headers: [], body: 'unknown' };
  return ok(s.body ?? BODY, s.headers);
};

const CONFIG = `
events {}
http {
    include /etc/nginx/koi-win;
    log_format lr '$uri $status $body_bytes_sent "$limit_rate"';
    access_log logs/access.log lr;
    error_log logs/error.log error;
    server {
        listen 127.0.0.1:{PORT};
        location / { proxy_pass http://127.0.0.1:{B}; }
        location /lrign/ { proxy_pass http://127.0.0.1:{B}; proxy_ignore_headers X-Accel-Limit-Rate; }
        location /lroff/ { limit_rate 8k; proxy_pass http://127.0.0.1:{B}; }
        location /lrzero/ { limit_rate 8k; proxy_pass http://127.0.0.1:{B}; }
        location /lrbuf/ { proxy_buffering off; proxy_pass http://127.0.0.1:{B}; }
        location /files/ { internal; alias html/; }
        location /csoff/ { charset off; proxy_pass http://127.0.0.1:{B}; }
        location /ovon/ { charset windows-1251; override_charset on; proxy_pass http://127.0.0.1:{B}; }
        location /ovoff/ { charset windows-1251; proxy_pass http://127.0.0.1:{B}; }
        location /csign/ { proxy_pass http://127.0.0.1:{B}; proxy_ignore_headers X-Accel-Charset; }
    }
}
`;

const PATHS = Object.keys(SCRIPT);
// proxy_buffering off: nginx sends at once, whatever the upstream asked
const SLOW = ['/lr/', '/lroff/', '/redir/'];

let nginx: Side;
let nodinx: Side;
let got: Array<[TimedResponse, TimedResponse]>;

beforeAll(async () => {
  [nginx, nodinx] = await startProxyPair('xaccel', CONFIG, reply, { 'html/f.txt': BODY });
  got = await Promise.all(PATHS.map((p) => Promise.all([timedGet(nginx.server.port, p), timedGet(nodinx.server.port, p)])));
}, 30000);

afterAll(async () => {
  await stopProxyPair(nginx, nodinx);
});

const headers = (r: TimedResponse): string[] => r.headers.filter(([k]) => !/^(date|server)$/i.test(k)).map(([k, v]) => `${k}: ${v}`);

describe('X-Accel-Limit-Rate and X-Accel-Charset against nginx', () => {
  it('answers with the same heads and bodies', () => {
    for (const [i, [a, b]] of got.entries()) {
      expect(b.status, PATHS[i]).toBe(a.status);
      expect(headers(b), PATHS[i]).toEqual(headers(a));
      expect(b.body.equals(a.body), PATHS[i]).toBe(true);
    }
    const byPath = Object.fromEntries(PATHS.map((p, i) => [p, got[i][0]]));
    // what nginx did, so that the comparison above compares something
    expect(headers(byPath['/cs/'])).toContain('Content-Type: text/html; charset=windows-1251');
    expect(byPath['/cs/'].body.equals(byPath['/csign/'].body)).toBe(false);
    expect(headers(byPath['/csplain/'])).toContain('Content-Type: text/html; charset=windows-1251');
    expect(headers(byPath['/csoff/'])).toContain('Content-Type: application/json; charset=koi8-r');
    expect(headers(byPath['/csign/'])).toContain('Content-Type: text/html; charset=koi8-r');
    expect(headers(byPath['/csempty/'])).toContain('Content-Type: text/html');
    expect(headers(byPath['/ovon/'])).toContain('Content-Type: text/html; charset=windows-1251');
    expect(byPath['/ovon/'].body.equals(byPath['/cs/'].body)).toBe(true);
    expect(headers(byPath['/ovoff/'])).toContain('Content-Type: text/html; charset=koi8-r');
    expect(byPath['/redir/'].body.toString('latin1')).toBe(BODY);
    for (const r of got.flat()) expect(r.headers.some(([k]) => /^x-accel/i.test(k))).toBe(false);
  });

  it('throttles what the upstream asked for, at least as long as its rate needs', () => {
    for (const [i, pair] of got.entries()) {
      // 20000 bytes and a head at 8k: three of nginx's seconds, two of waiting
      if (SLOW.includes(PATHS[i])) for (const r of pair) expect(r.ms, PATHS[i]).toBeGreaterThanOrEqual(1900);
      else for (const r of pair) expect(r.ms, PATHS[i]).toBeLessThan(1500);
    }
  });

  it('logs the same $limit_rate and $body_bytes_sent', async () => {
    const [a, b] = await Promise.all([nginx, nodinx].map(async (s) =>
      normLog(await readLines(path.join(s.server.dir, 'logs/access.log'), PATHS.length), s.server).sort()));
    expect(a).toHaveLength(PATHS.length);
    expect(a).toContain('/lr/ 200 20000 "8192"');
    expect(a).toContain('/lroff/ 200 20000 "8192"');
    expect(a).toContain('/lrzero/ 200 20000 "0"');
    expect(a).toContain('/lrign/ 200 20000 "0"');
    expect(a).toContain('/lrbuf/ 200 20000 "0"');
    expect(a).toContain('/files/f.txt 200 20000 "8192"');
    expect(b).toEqual(a);
  });

  it('logs the same errors for a charset it does not know', async () => {
    const [a, b] = await Promise.all([nginx, nodinx].map(async (s) =>
      normLog(await readLines(path.join(s.server.dir, 'logs/error.log'), 2), s.server)
        .map((l) => l.split(String(s.backend.port)).join('B')).sort()));
    expect(a.some((l) => l.includes('unknown charset "no-such" to override'))).toBe(true);
    expect(b).toEqual(a);
  });
});
