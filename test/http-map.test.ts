import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  rawRequest, readLines, startPair, stopPair, type RawResponse, type Running,
} from './helpers/http';
import { murmurHash2 } from '../src/http/split-clients-module';

// map, split_clients and geo on real nginx and on nodinx, same config, same
// requests: every variable goes into one access-log line per request, so a
// table of keys → values is compared line for line. The keys come in
// headers (X-Key, X-Host, X-Addr…) since every test client is 127.0.0.1.
// Caching per request (and `volatile`) shows in `root`: the path a file is
// served from is built before and after an internal redirect.

const FIELDS = [
  'http_x_name', 'm_exact', 'm_host', 'm_re', 'ver', 'm_nodefault', 'm_vol', 'm_chain', 'a', 'b',
  'sc', 'g', 'gr', 'gp', 'gp1', 'gc', 'm_geo',
];

const CONFIG = `
events { worker_connections 64; }
http {
    log_format fields '${FIELDS.map((f) => `$${f}`).join('|')}';
    log_format cache '$uri|$m_uri|$m_uri_vol|$status';
    log_format loop '[$loop_a] [$self]';

    map $http_x_key $m_exact {
        default        none;
        foo            FOO;
        Bar            BAR;
        ""             empty;
        \\default       literal-default;
        "caf\u00e9"          cafe;
        include        maps/more.map;
    }
    map $http_x_host $m_host {
        hostnames;
        default            none;
        example.com        exact;
        *.example.com      star;
        *.a.example.com    deep-star;
        .example.org       dot-org;
        .b.example.org     dot-b-org;
        mail.*             mail;
        www.example.*      www;
        EXACT.example.net  exact-net;
        ~^(?<label>[a-z]+)\\.regex\\.test$  regex-$label;
    }
    map $http_x_key $m_re {
        default                     none;
        ~^/api/(?<ver>v[0-9]+)/     "api-$ver";
        ~*\\.(jpe?g|png)$            "img-$1";
        ~^([0-9]+)-([0-9]+)$        "$2-$1";
        foo                         exact-before-regex;
        ~foo                        regex-after-exact;
        ~^$                         never-for-empty;
    }
    map $http_x_key $m_nodefault {
        foo 1;
    }
    map $http_x_key $m_vol {
        volatile;
        default "$m_exact/$http_x_other";
    }
    map "$http_x_key:$http_x_other" $m_chain {
        ~^(?<a>[^:]*):(?<b>.*)$   "$b:$a";
    }
    split_clients "\${http_x_key}AAA" $sc {
        0.5%    tiny;
        20%     twenty;
        33.33%  third;
        10%     ten;
        *       rest;
    }
    geo $http_x_addr $g {
        default            d;
        include            geo/nets.geo;
        10.0.0.0/8         ten;
        10.1.0.0/16        ten-one;
        10.1.2.3           host;
        10.2.0.0/16        ten-two;
        delete             10.2.0.0/16;
        127.0.0.0/8        loopback;
        255.255.255.255    broadcast;
        ::1                lo6;
        2001:db8::/32      doc;
        2001:db8:1::/48    doc1;
    }
    geo $http_x_addr $gr {
        ranges;
        default                       d;
        10.0.0.0-10.0.0.255           r1;
        10.0.0.100-10.0.0.100         r1-100;
        10.0.255.0-10.2.0.255         r2;
        delete                        10.1.0.0-10.1.255.255;
        192.0.2.0-192.0.2.255         doc;
    }
    geo $http_x_addr $gp {
        proxy            10.0.0.0/8;
        proxy            2001:db8::/32;
        proxy_recursive;
        default          d;
        10.0.0.0/8       proxy-net;
        203.0.113.0/24   test-net;
        198.51.100.0/24  other-net;
    }
    geo $http_x_addr $gp1 {
        proxy            10.0.0.0/8;
        default          d;
        10.0.0.0/8       proxy-net;
        203.0.113.0/24   test-net;
    }
    geo $gc {
        default      d;
        127.0.0.1    lo;
    }
    map $g $m_geo {
        default    other;
        ten-one    inner;
        ~^ten      outer;
    }
    # variables made of themselves: nginx gives up 100 levels down
    map $loop_b $loop_a { default "a$loop_b"; }
    map $loop_a $loop_b { default b; }
    map $self $self { default "s$self"; }
    map $uri $m_uri {
        default     other;
        /start      start;
        /fallback   fallback;
    }
    map $uri $m_uri_vol {
        volatile;
        default     other;
        /start      start;
        /fallback   fallback;
    }

    server {
        listen 127.0.0.1:{PORT};
        root html;
        access_log logs/fields.log fields;

        location = /start {
            access_log logs/cache.log cache;
            root html/c-$m_uri/v-$m_uri_vol;
            error_page 404 /fallback;
        }
        location = /fallback {
            access_log logs/cache.log cache;
            root html/c-$m_uri/v-$m_uri_vol;
        }
        location /by-host/ {
            root html/$m_host;
        }
        location = /loop {
            access_log logs/loop.log loop;
        }
    }
}
`;

const FILES: Record<string, string> = {
  'maps/more.map': '# more keys\nfrom-include  included;\n"two words"   spaced;\n',
  'geo/nets.geo': '192.168.0.0/16  lan;\n192.168.1.0/24  lan-1;\n',
  'html/index.html': 'index\n',
  'html/c-start/v-fallback/fallback': 'cached start, volatile fallback\n',
  'html/star/by-host/f.txt': 'star\n',
  'html/exact/by-host/f.txt': 'exact\n',
};

interface Req {
  name: string;
  headers: Record<string, string>;
}

const MAP_KEYS = [
  'foo', 'FOO', 'Foo', 'bar', 'BAR', '', 'default', '\\default', 'from-include', 'FROM-INCLUDE', 'two words',
  'caf\xc3\xa9', 'CAF\xc3\xa9', 'caf\xc3\x89', 'nope', '/api/v2/users', '/api/x/users', '/img/a.JPG', '/img/b.png',
  '/img/c.gif', '12-34', '1-2-3', 'xfoo', 'foox',
];
const HOSTS = [
  'example.com', 'EXAMPLE.COM', 'example.com.', 'a.example.com', 'x.y.example.com', 'a.a.example.com', 'b.a.example.com',
  'a.example.com.', 'example.org', 'www.example.org', 'b.example.org', 'c.b.example.org', 'mail.example.net', 'mail',
  'mail.', 'www.example.co.uk', 'www.example', 'exact.example.net', 'www.EXAMPLE.com', 'abc.regex.test',
  'ABC.regex.test', 'example.comx', 'xexample.com', '',
];
const ADDRS = [
  '10.0.0.1', '10.0.0.100', '10.0.0.255', '10.1.0.1', '10.1.2.3', '10.2.3.4', '10.0.255.7', '10.2.0.255', '10.2.1.0',
  '127.0.0.1', '192.168.0.1', '192.168.1.77', '192.0.2.1', '255.255.255.255', '1.2.3.4', '::1', '::2',
  '2001:db8::1', '2001:db8:1::1', '::ffff:10.1.2.3', '::ffff:192.0.2.9', '010.1.2.3', '10..2.3', '10.1.2.',
  '10.1.2.3:8080', 'garbage', '', '[::1]',
];

function requests(): Req[] {
  const out: Req[] = [];
  MAP_KEYS.forEach((k, i) => out.push({ name: `key${i}`, headers: { 'X-Key': k, 'X-Other': `o${i}` } }));
  HOSTS.forEach((h, i) => out.push({ name: `host${i}`, headers: { 'X-Host': h } }));
  ADDRS.forEach((a, i) => out.push({ name: `addr${i}`, headers: { 'X-Addr': a } }));
  const xff: Array<[string, string[]]> = [
    ['10.0.0.1', ['203.0.113.5']],
    ['10.0.0.1', ['203.0.113.5, 10.0.0.2']],
    ['10.0.0.1', ['198.51.100.1, 203.0.113.5, 10.0.0.2']],
    ['10.0.0.1', ['198.51.100.1', '203.0.113.5, 10.0.0.2']],
    ['10.0.0.1', ['10.0.0.3, 10.0.0.2']],
    ['10.0.0.1', ['  203.0.113.7 ,, ']],
    ['10.0.0.1', ['[2001:db8::5]:80, 203.0.113.8:1234']],
    ['10.0.0.1', ['garbage, 10.0.0.2']],
    ['10.0.0.1', ['']],
    ['192.0.2.1', ['203.0.113.5']],
    ['2001:db8::1', ['203.0.113.9']],
  ];
  xff.forEach(([addr, lines], i) => {
    const headers: Record<string, string> = { 'X-Addr': addr };
    lines.forEach((l, j) => (headers[`X-Forwarded-For${' '.repeat(j)}`] = l));
    out.push({ name: `xff${i}`, headers });
  });
  // split_clients: as many keys as it takes to see every part
  for (let i = 0; i < 500; i++) out.push({ name: `split${i}`, headers: { 'X-Key': `user-${i}@example.com` } });
  return out;
}

/** A GET with the request's headers ("X-Forwarded-For " with trailing spaces is the same header again). */
function raw(req: Req, uri = '/'): string {
  let h = `GET ${uri} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Name: ${req.name}\r\n`;
  for (const [k, v] of Object.entries(req.headers)) h += `${k.trimEnd()}: ${v}\r\n`;
  return h + '\r\n';
}

const REQUESTS = requests();
const EXTRA: Array<[string, string]> = [
  ['/start', raw({ name: 'start', headers: {} }, '/start')],
  ['/fallback', raw({ name: 'fallback', headers: {} }, '/fallback')],
  ['/by-host star', raw({ name: 'h1', headers: { 'X-Host': 'a.example.com' } }, '/by-host/f.txt')],
  ['/by-host exact', raw({ name: 'h2', headers: { 'X-Host': 'EXAMPLE.com.' } }, '/by-host/f.txt')],
  ['/by-host none', raw({ name: 'h3', headers: { 'X-Host': 'other' } }, '/by-host/f.txt')],
  ['/loop', raw({ name: 'loop', headers: {} }, '/loop')],
];

let ngx: Running;
let ndx: Running;
const lines: Record<'nginx' | 'nodinx', Map<string, string[]>> = { nginx: new Map(), nodinx: new Map() };
const extra = new Map<string, [RawResponse, RawResponse]>();
const cacheLog: Record<'nginx' | 'nodinx', string[]> = { nginx: [], nodinx: [] };
const loopLog: Record<'nginx' | 'nodinx', string[]> = { nginx: [], nodinx: [] };
const cycles: Record<'nginx' | 'nodinx', string[]> = { nginx: [], nodinx: [] };

describe('map, split_clients and geo compared with nginx', () => {
  beforeAll(async () => {
    [ngx, ndx] = await startPair('map', FILES, CONFIG);
    for (const req of REQUESTS) {
      await rawRequest(ngx.port, raw(req));
      await rawRequest(ndx.port, raw(req));
    }
    for (const [name, req] of EXTRA) extra.set(name, [await rawRequest(ngx.port, req), await rawRequest(ndx.port, req)]);
    const n = REQUESTS.length + EXTRA.length - 3;
    for (const [run, key] of [[ngx, 'nginx'], [ndx, 'nodinx']] as const) {
      for (const l of await readLines(path.join(run.dir, 'logs/fields.log'), n)) {
        const f = l.split('|');
        lines[key].set(f[0], f.slice(1));
      }
      cacheLog[key] = await readLines(path.join(run.dir, 'logs/cache.log'), 2);
      loopLog[key] = await readLines(path.join(run.dir, 'logs/loop.log'), 1);
      const errors = await readLines(path.join(run.dir, 'logs/error.log'), 6);
      cycles[key] = errors.map((l) => /cycle while evaluating variable "\w+"/.exec(l)?.[0]).filter((l): l is string => !!l);
    }
  });

  afterAll(async () => {
    if (process.env.KEEP) console.log(ngx?.dir, ndx?.dir);
    await stopPair(ngx, ndx);
  });

  /** field → value for one request, on one side */
  const fields = (side: 'nginx' | 'nodinx', name: string): Record<string, string> => {
    const v = lines[side].get(name);
    if (!v) throw new Error(`${side} logged no line for ${name}`);
    return Object.fromEntries(FIELDS.slice(1).map((f, i) => [f, v[i]]));
  };

  const compare = (prefix: string, pick: string[]) => () => {
    const names = REQUESTS.filter((r) => r.name.startsWith(prefix)).map((r) => r.name);
    expect(names.length).toBeGreaterThan(5);
    const view = (side: 'nginx' | 'nodinx') =>
      names.map((n) => `${n} ${pick.map((f) => `${f}=${fields(side, n)[f]}`).join(' ')}`);
    expect(view('nodinx')).toEqual(view('nginx'));
  };

  it('logs a line for every request on both', () => {
    expect(lines.nginx.size).toBe(REQUESTS.length + 3);
    expect(lines.nodinx.size).toBe(lines.nginx.size);
  });

  it('map: exact keys, include, regexes, captures, no default, variables in values', compare('key', [
    'm_exact', 'm_re', 'ver', 'm_nodefault', 'm_vol', 'm_chain', 'a', 'b',
  ]));

  it('map: hostnames (exact, *.x, .x, x.*, trailing dot, regex)', compare('host', ['m_host']));

  it('geo: networks, ranges, delete, include, IPv6, bad addresses', compare('addr', ['g', 'gr', 'gc', 'm_geo']));

  it('geo: proxy and proxy_recursive over X-Forwarded-For', compare('xff', ['gp', 'gp1']));

  it('split_clients: 500 keys land in the same parts', compare('split', ['sc']));

  it('gets the values the documentation promises', () => {
    const at = (name: string) => fields('nodinx', name);
    const key = (k: string) => `key${MAP_KEYS.indexOf(k)}`;
    const host = (h: string) => `host${HOSTS.indexOf(h)}`;
    const addr = (a: string) => `addr${ADDRS.indexOf(a)}`;
    expect(at(key('FOO')).m_exact).toBe('FOO');
    expect(at(key('')).m_exact).toBe('empty');
    expect(at(key('default')).m_exact).toBe('literal-default');
    expect(at(key('from-include')).m_exact).toBe('included');
    expect(at(key('caf\xc3\x89')).m_exact).toBe('none');
    expect(at(key('/api/v2/users')).m_re).toBe('api-v2');
    expect(at(key('/img/a.JPG')).m_re).toBe('img-JPG');
    expect(at(key('12-34')).m_re).toBe('34-12');
    expect(at(key('foo')).m_re).toBe('exact-before-regex');
    expect(at(key('')).m_re).toBe('none');
    expect(at(key('nope')).m_nodefault).toBe('');
    expect(at(host('x.y.example.com')).m_host).toBe('star');
    expect(at(host('b.a.example.com')).m_host).toBe('deep-star');
    expect(at(host('example.org')).m_host).toBe('dot-org');
    expect(at(host('www.example.co.uk')).m_host).toBe('www');
    expect(at(host('a.example.com.')).m_host).toBe('star');
    expect(at(addr('10.1.2.3')).g).toBe('host');
    expect(at(addr('10.2.3.4')).g).toBe('ten');
    expect(at(addr('2001:db8:1::1')).g).toBe('doc1');
    expect(at(addr('10.0.0.100')).gr).toBe('r1-100');
    expect(at(addr('10.1.0.1')).gr).toBe('d');
    expect(at('xff1').gp).toBe('test-net');
    expect(at('xff1').gp1).toBe('proxy-net');
    const parts = new Set(REQUESTS.filter((r) => r.name.startsWith('split')).map((r) => at(r.name).sc));
    expect([...parts].sort()).toEqual(['rest', 'ten', 'third', 'tiny', 'twenty']);
  });

  it('caches a map value for the request, unless volatile', () => {
    // /start misses, error_page sends it to /fallback (keeping the 404): the
    // cached map still says "start" there, the volatile one "fallback"
    const [a, b] = extra.get('/start')!;
    expect([a.status, a.body.toString()]).toEqual([404, 'cached start, volatile fallback\n']);
    expect([b.status, b.body.toString()]).toEqual([a.status, a.body.toString()]);
    expect(cacheLog.nginx[0]).toBe('/fallback|start|fallback|404');
    expect(cacheLog.nodinx).toEqual(cacheLog.nginx);
  });

  it('stops a variable made of itself as nginx does', () => {
    expect(loopLog.nginx).toEqual([`[ab] [${'s'.repeat(100)}]`]);
    expect(loopLog.nodinx).toEqual(loopLog.nginx);
    // (nginx adds " while logging request" to these lines; nodinx does not know the phase)
    expect(cycles.nginx).toEqual([...Array(2).fill('cycle while evaluating variable "loop_a"'), ...Array(4).fill('cycle while evaluating variable "self"')]);
    expect(cycles.nodinx).toEqual(cycles.nginx);
  });

  it('serves from a root built from a hostnames map', () => {
    const got = (name: string, i: 0 | 1) => {
      const res = extra.get(name)![i];
      return res.status === 200 ? res.body.toString() : res.status;
    };
    expect([got('/by-host star', 0), got('/by-host exact', 0), got('/by-host none', 0)]).toEqual(['star\n', 'exact\n', 404]);
    for (const name of ['/by-host star', '/by-host exact', '/by-host none']) expect(got(name, 1)).toEqual(got(name, 0));
  });
});

describe('MurmurHash2 as ngx_murmur_hash2', () => {
  // from ngx_murmur_hash2's C compiled with gcc: every tail length, high bytes
  it.each([
    ['', 0x00000000],
    ['a', 0x92685f5e],
    ['ab', 0x1aa14063],
    ['abc', 0x13577c9b],
    ['abcd', 0x26873021],
    ['abcde', 0x5f09a8de],
    ['user-1@example.comAAA', 0x661e3917],
    ['\xff\xfe\xfd\x80\x81', 0x59fbe821],
  ])('%j', (s, want) => expect(murmurHash2(s)).toBe(want));
});
