import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normLog, readLines, startPair, stopPair, type Running } from './helpers/http';
import { timedGet, type TimedResponse } from './helpers/timed-get';

// limit_rate, limit_rate_after and $limit_rate against nginx on the same
// config and files: bodies, access-log lines ($body_bytes_sent, $bytes_sent,
// $limit_rate) and error-log lines are compared; the time a throttled
// response takes is bounded from below only (a slow box makes it longer,
// never shorter), and by nginx's own formula: rate * (seconds + 1) bytes
// may have gone by each whole second.

/** Bytes that neither repeat nor compress (a fixed LCG, the same every run). */
function noise(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const SMALL = noise(20000, 1);
// over static-file.ts's whole-read size: streamed from the descriptor with backpressure
const BIG = noise(320 * 1024, 2);
// about 18,000 bytes gzipped: more than two seconds' share at 8k (see the time bounds below)
const TEXT = noise(18000, 3).toString('base64');

const FILES = { 'html/f.bin': SMALL, 'html/big.bin': BIG, 'html/t.txt': TEXT };

const CONFIG = `
events {}
http {
    types { application/octet-stream bin; text/plain txt; }
    log_format lr '$uri $status $body_bytes_sent $bytes_sent "$limit_rate"';
    access_log logs/access.log lr;
    error_log logs/error.log error;
    server {
        listen 127.0.0.1:{PORT};
        root html;
        location /rate { limit_rate 8k; alias html/f.bin; }
        location /after { limit_rate 1k; limit_rate_after 30000; alias html/f.bin; }
        location /stream { limit_rate 16k; limit_rate_after 288k; alias html/big.bin; }
        location /var { set $r 8k; limit_rate $r; alias html/f.bin; }
        location /varbad { set $r 2x; limit_rate $r; alias html/f.bin; }
        location /setvar { set $limit_rate 8k; alias html/f.bin; }
        location /setoff { limit_rate 1k; set $limit_rate 0; alias html/f.bin; }
        location /ret { limit_rate 4k; return 200 "lr=$limit_rate\\n"; }
        location /set { set $limit_rate 3k; return 200 "lr=$limit_rate\\n"; }
        location /bad { set $limit_rate bogus; return 200 "lr=$limit_rate\\n"; }
        location /hdr { limit_rate 4k; add_header X-LR $limit_rate; return 200 "x\\n"; }
        location /if { if ($arg_slow) { limit_rate 8k; } alias html/f.bin; }
        location /gz { limit_rate 8k; gzip on; gzip_min_length 1; gzip_types text/plain; alias html/t.txt; }
        location /hup { limit_rate 4k; alias html/f.bin; }
        limit_rate 0;
    }
}
`;

let nginx: Running;
let nodinx: Running;

beforeAll(async () => {
  [nginx, nodinx] = await startPair('limit-rate', FILES, CONFIG);
});

afterAll(async () => {
  await stopPair(nginx, nodinx);
});

const PATHS = ['/rate', '/after', '/stream', '/var', '/varbad', '/setvar', '/setoff', '/ret', '/set', '/bad', '/hdr', '/if', '/if?slow=1', '/gz'];

const header = (r: TimedResponse, name: string): string | undefined => r.headers.find(([k]) => k.toLowerCase() === name)?.[1];

describe('limit_rate against nginx', () => {
  let got: Array<[TimedResponse, TimedResponse]> = [];
  let hup: [TimedResponse, TimedResponse];

  beforeAll(async () => {
    // every request at once, on both servers: the whole table takes the time of the slowest
    const all = await Promise.all([
      ...PATHS.map((p) => Promise.all([timedGet(nginx.port, p, { headers: ['Accept-Encoding: gzip'] }), timedGet(nodinx.port, p, { headers: ['Accept-Encoding: gzip'] })])),
      Promise.all([timedGet(nginx.port, '/hup', { closeAfter: 500 }), timedGet(nodinx.port, '/hup', { closeAfter: 500 })]),
    ]);
    hup = all.pop() as [TimedResponse, TimedResponse];
    got = all as Array<[TimedResponse, TimedResponse]>;
  }, 20000);

  it('sends the same bodies and statuses', () => {
    for (const [i, [a, b]] of got.entries()) {
      expect(b.status, PATHS[i]).toBe(a.status);
      const body = (r: TimedResponse): Buffer => (header(r, 'content-encoding') === 'gzip' ? zlib.gunzipSync(r.body) : r.body);
      expect(body(b).equals(body(a)), PATHS[i]).toBe(true);
      expect(header(b, 'x-lr'), PATHS[i]).toBe(header(a, 'x-lr'));
    }
    const byPath = Object.fromEntries(PATHS.map((p, i) => [p, got[i]]));
    expect(byPath['/rate'][0].body.equals(SMALL)).toBe(true);
    expect(byPath['/stream'][0].body.equals(BIG)).toBe(true);
    // $limit_rate is 0 until the response goes out: nginx fixes the rate in its write filter
    expect(byPath['/ret'][0].body.toString()).toBe('lr=0\n');
    expect(byPath['/set'][0].body.toString()).toBe('lr=3072\n');
    expect(header(byPath['/hdr'][0], 'x-lr')).toBe('0');
    expect(header(byPath['/gz'][1], 'content-encoding')).toBe('gzip');
  });

  it('takes at least the time the rate allows, as nginx does; the unlimited ones do not wait', () => {
    const byPath = Object.fromEntries(PATHS.map((p, i) => [p, got[i]]));
    // 20000 bytes and a head at 8k: the third second's share is needed (2 s by nginx's clock)
    for (const p of ['/rate', '/var', '/setvar', '/if?slow=1']) {
      for (const r of byPath[p]) expect(r.ms, p).toBeGreaterThanOrEqual(1900);
    }
    // nine 32k reads at full speed, the tenth is past limit_rate_after by the head's length:
    // 16k of it in the first second, the rest a second later
    for (const r of byPath['/stream']) expect(r.ms, '/stream').toBeGreaterThanOrEqual(900);
    // about 18000 gzipped bytes and the chunk framing at 8k: the third second's share is needed.
    // By the time T, nginx's formula lets out 8k x (the seconds begun since the request's + 1),
    // so the response ends two clock seconds after the one it began in: over 1 s later whatever
    // the phase. (With 15000 bytes it needed only the second second's share, which comes at the
    // next tick of the clock: a response whose compressed bytes were first written just after
    // that tick went out at once, in 59 ms, on a fresh clone's run.)
    for (const r of byPath['/gz']) expect(r.ms, '/gz').toBeGreaterThanOrEqual(900);
    // nothing here waits for a second's share. All were requested at once, so a loaded box delays
    // them alike: each is done before the quickest limited one (an absolute bound flaked under load)
    const quickestLimited = Math.min(...['/rate', '/var', '/setvar', '/if?slow=1'].flatMap((p) => byPath[p].map((r) => r.ms)));
    for (const p of ['/after', '/varbad', '/setoff', '/if', '/ret', '/set', '/bad', '/hdr']) {
      for (const r of byPath[p]) expect(r.ms, p).toBeLessThan(quickestLimited);
    }
  });

  it('logs the same $body_bytes_sent, $bytes_sent and $limit_rate', async () => {
    const n = PATHS.length + 1;
    const [a, b] = await Promise.all([nginx, nodinx].map(async (s) => normLog(await readLines(path.join(s.dir, 'logs/access.log'), n), s).sort()));
    expect(a).toHaveLength(n);
    // the gzip stream's length is zlib's business (nodinx's and nginx's differ by a few bytes)
    const norm = (l: string): string => (l.startsWith('/gz ') ? l.replace(/^(\/gz \d+) \d+ \d+/, '$1 N N') : l);
    // the client that hung up: what it got is what the log says was sent
    const hupLine = (lines: string[]) => lines.find((l) => l.startsWith('/hup '))!;
    expect(b.filter((l) => !l.startsWith('/hup ')).map(norm)).toEqual(a.filter((l) => !l.startsWith('/hup ')).map(norm));
    expect(hupLine(a)).toMatch(/^\/hup 200 \d+ \d+ "4096"$/);
    for (const [i, lines] of [a, b].entries()) {
      const [, , body, total] = hupLine(lines).split(' ');
      expect(Number(body), 'hup body').toBe(hup[i].wireBody);
      expect(Number(total), 'hup total').toBe(hup[i].wireBody + hup[i].headLength);
      expect(hup[i].wireBody).toBeLessThan(SMALL.length);
    }
  });

  it('logs the same errors for values that are not sizes', async () => {
    const [a, b] = await Promise.all([nginx, nodinx].map(async (s) => normLog(await readLines(path.join(s.dir, 'logs/error.log'), 2), s)
      .filter((l) => l.includes('invalid')).sort()));
    expect(a).toEqual([
      '[error] invalid $limit_rate "bogus", client: 127.0.0.1, server: , request: "GET /bad HTTP/1.1", host: "localhost"',
      '[error] invalid size "2x" while sending response to client, client: 127.0.0.1, server: , request: "GET /varbad HTTP/1.1", host: "localhost"',
    ]);
    expect(b).toEqual(a);
  });
});
