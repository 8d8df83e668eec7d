import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/conf/load';
import { coreLoc, type HttpMainConf, type LocationConf } from '../src/http/core-conf';
import { rewriteUpstreamHeaderRc } from '../src/http/proxy-redirect';
import type { HttpRequest } from '../src/http/request';
import { response, startBackend, type Backend } from './helpers/backends';
import { ensureNginx, freePort, startNginx, tempDir, type Running } from './helpers/http';
import { parseResponses } from './helpers/proxy-diff';
import { exchange } from './helpers/raw-socket';

// proxy_redirect and proxy_cookie_domain/_path/_flags: a table of
// (location, header from the upstream) rows. nginx proxies each row to a
// backend that sends the row's header; the value nginx passes on must be
// the row's `nginx`, and rewriteUpstreamHeader, run on the same location of
// the same configuration loaded by nodinx, must give what nginx gave.

interface Row {
  /** directives after proxy_pass in `location /tN/` */
  conf: string;
  /** proxy_pass's URI part */
  uri?: string;
  /** the whole location block instead ({L} = /tN/, {B1} = the backend) */
  block?: string;
  /** request path under {L} */
  path?: string;
  header: 'Location' | 'Refresh' | 'Set-Cookie';
  /** what the backend sends ({B1} = its address); several for Set-Cookie */
  value: string | string[];
  /** what nginx sends the client ({L}, {B1}; "http://{SELF}" = nginx's own absolute prefix) */
  nginx: string | string[];
}

const ROWS: Row[] = [
  { conf: 'proxy_redirect default;', uri: '/two/', header: 'Location', value: 'http://{B1}/two/x?a=1', nginx: 'http://{SELF}{L}x?a=1' },
  { conf: '', uri: '/two/', header: 'Location', value: 'http://{B1}/two/x', nginx: 'http://{SELF}{L}x' },
  { conf: '', header: 'Location', value: 'http://{B1}/x', nginx: 'http://{SELF}/x' },
  { conf: '', uri: '/two/', header: 'Location', value: 'HTTP://{B1}/two/x', nginx: 'HTTP://{B1}/two/x' },
  { conf: '', uri: '/two/', header: 'Location', value: 'http://{B1}/twox', nginx: 'http://{B1}/twox' },
  { conf: '', uri: '/two/', header: 'Location', value: '/two/rel', nginx: '/two/rel' },
  { conf: 'proxy_redirect http://{B1}/two/ /new/; proxy_redirect default;', uri: '/two/', header: 'Location', value: 'http://{B1}/two/y', nginx: 'http://{SELF}/new/y' },
  { conf: 'proxy_redirect http://{B1}/other/ /new/; proxy_redirect default;', uri: '/two/', header: 'Location', value: 'http://{B1}/two/y', nginx: 'http://{SELF}{L}y' },
  { conf: 'proxy_redirect ~^http://[^/]+/two/(.*)$ /re/$1;', header: 'Location', value: 'http://{B1}/two/a/b', nginx: 'http://{SELF}/re/a/b' },
  { conf: 'proxy_redirect ~*^HTTP://[^/]+/TWO/(?<rest>.*)$ https://example.com/$rest;', header: 'Location', value: 'http://{B1}/two/Y', nginx: 'https://example.com/Y' },
  { conf: 'proxy_redirect ~^HTTP:// /nomatch/;', header: 'Location', value: 'http://{B1}/two/z', nginx: 'http://{B1}/two/z' },
  { conf: 'proxy_redirect ~two /whole;', header: 'Location', value: 'http://{B1}/two/z', nginx: 'http://{SELF}/whole' },
  { conf: 'proxy_redirect http://{B1}/ "";', header: 'Location', value: 'http://{B1}/rel', nginx: 'rel' },
  { conf: 'proxy_redirect /two/ /moved/;', header: 'Location', value: '/two/x', nginx: 'http://{SELF}/moved/x' },
  { conf: 'proxy_redirect http://{B1}/TWO/ /x/;', header: 'Location', value: 'http://{B1}/two/q', nginx: 'http://{B1}/two/q' },
  { conf: 'proxy_redirect off;', uri: '/two/', header: 'Location', value: 'http://{B1}/two/x', nginx: 'http://{B1}/two/x' },
  { conf: 'proxy_redirect http://{B1}/ https://public.example/;', header: 'Location', value: 'http://{B1}/p', nginx: 'https://public.example/p' },
  { conf: 'proxy_redirect default;', uri: '/two/', header: 'Refresh', value: '5; url=http://{B1}/two/r', nginx: '5; url={L}r' },
  { conf: 'proxy_redirect http://{B1}/ /;', header: 'Refresh', value: '0;URL=http://{B1}/up', nginx: '0;URL=/up' },
  { conf: 'proxy_redirect http://{B1}/ /;', header: 'Refresh', value: '10', nginx: '10' },
  { conf: 'proxy_redirect ~.* /all;', header: 'Refresh', value: '3; url=http://{B1}/z', nginx: '3; url=/all' },
  {
    block: 'location {L} { proxy_pass http://{B1}/two/; location {L}in/ { proxy_pass http://{B1}/three/; } }',
    path: 'in/', conf: '', header: 'Location', value: 'http://{B1}/two/x', nginx: 'http://{SELF}{L}x',
  },
  {
    block: 'location {L} { proxy_pass http://{B1}/two/; location {L}in/ { proxy_pass http://{B1}/three/; } }',
    path: 'in/', conf: '', header: 'Location', value: 'http://{B1}/three/x', nginx: 'http://{B1}/three/x',
  },
  { conf: 'proxy_cookie_domain backend.local example.com;', header: 'Set-Cookie', value: 'a=1; Domain=backend.local; Path=/', nginx: 'a=1; Domain=example.com; Path=/' },
  { conf: 'proxy_cookie_domain .backend.local example.com;', header: 'Set-Cookie', value: 'a=1; domain=.Backend.LOCAL', nginx: 'a=1; domain=.example.com' },
  { conf: 'proxy_cookie_domain backend.local .example.com;', header: 'Set-Cookie', value: 'a=1; DOMAIN=sub.backend.local', nginx: 'a=1; DOMAIN=sub.backend.local' },
  { conf: 'proxy_cookie_path /two/ /t/;', header: 'Set-Cookie', value: 'a = 1 ;  Path=/two/x ;Secure;  HttpOnly', nginx: 'a=1; Path=/t/x; Secure; HttpOnly' },
  { conf: 'proxy_cookie_path /none/ /t/;', header: 'Set-Cookie', value: 'a = 1 ;  Path=/two/x ;Secure', nginx: 'a = 1 ;  Path=/two/x ;Secure' },
  { conf: 'proxy_cookie_path ~^/two/(.*)$ /p/$1;', header: 'Set-Cookie', value: 'sid=abc; path=/two/deep/er', nginx: 'sid=abc; path=/p/deep/er' },
  { conf: 'proxy_cookie_path /TWO/ /x/;', header: 'Set-Cookie', value: 's=1; Path=/two/a', nginx: 's=1; Path=/two/a' },
  { conf: 'proxy_cookie_path ~*^/TWO/ /x/;', header: 'Set-Cookie', value: 's=1; Path=/two/a', nginx: 's=1; Path=/x/' },
  { conf: 'proxy_cookie_domain ~^(?<sub>[a-z]+)\\.backend\\.local$ $sub.example.com;', header: 'Set-Cookie', value: 's=1; Domain=WWW.backend.local', nginx: 's=1; Domain=WWW.example.com' },
  { conf: 'proxy_cookie_domain backend.local example.com;', header: 'Set-Cookie', value: 'novalue; Domain=backend.local', nginx: 'novalue; Domain=backend.local' },
  { conf: 'proxy_cookie_domain backend.local example.com;', header: 'Set-Cookie', value: 'a=; Domain=backend.local', nginx: 'a=; Domain=example.com' },
  { conf: 'proxy_cookie_domain other.local x.com; proxy_cookie_domain backend.local first.com; proxy_cookie_domain ~backend second.com;', header: 'Set-Cookie', value: 'a=1; Domain=backend.local', nginx: 'a=1; Domain=first.com' },
  { conf: 'proxy_cookie_domain backend.local example.com; proxy_cookie_path / /app/;', header: 'Set-Cookie', value: ['a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Domain=backend.local; Path=/', 'b=2;Path=/x;Domain=keep.local'], nginx: ['a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Domain=example.com; Path=/app/', 'b=2; Path=/app/x; Domain=keep.local'] },
  { conf: 'proxy_cookie_path "" /pre;', header: 'Set-Cookie', value: 'a=1; Path=/x', nginx: 'a=1; Path=/pre/x' },
  { conf: 'proxy_cookie_path / /app/;', header: 'Set-Cookie', value: 'a=1; Path; path=/z', nginx: 'a=1; Path; path=/app/z' },
  { conf: 'proxy_cookie_domain backend.local example.com;', header: 'Set-Cookie', value: 'a=1; Domain=backend.local=x', nginx: 'a=1; Domain=backend.local=x' },
  { conf: 'proxy_cookie_flags one secure httponly samesite=strict;', header: 'Set-Cookie', value: 'one=1; Path=/', nginx: 'one=1; Path=/; Secure; HttpOnly; SameSite=Strict' },
  { conf: 'proxy_cookie_flags one secure samesite=lax;', header: 'Set-Cookie', value: 'one=1 ;secure; samesite=LAX', nginx: 'one=1; secure; samesite=LAX' },
  { conf: 'proxy_cookie_flags one samesite=none;', header: 'Set-Cookie', value: 'one=1; SameSite=Lax; Path=/', nginx: 'one=1; SameSite=None; Path=/' },
  { conf: 'proxy_cookie_flags one nosecure nohttponly nosamesite;', header: 'Set-Cookie', value: 'one=1; Secure; HttpOnly; SameSite=Lax; Path=/', nginx: 'one=1; Path=/' },
  { conf: 'proxy_cookie_flags one secure;', header: 'Set-Cookie', value: 'two=2;Path=/', nginx: 'two=2;Path=/' },
  { conf: 'proxy_cookie_flags ONE bogus secure;', header: 'Set-Cookie', value: 'one=1', nginx: 'one=1; Secure' },
  { conf: 'proxy_cookie_flags ~^s(?<rest>.*) httponly; proxy_cookie_flags sid secure;', header: 'Set-Cookie', value: ['SID=1', 'other=2'], nginx: ['SID=1; HttpOnly', 'other=2'] },
  { conf: 'proxy_cookie_flags novalue secure;', header: 'Set-Cookie', value: 'novalue', nginx: 'novalue' },
  { conf: 'proxy_cookie_domain backend.local example.com; proxy_cookie_flags a samesite=lax secure;', header: 'Set-Cookie', value: 'a=1; Domain=backend.local; secure', nginx: 'a=1; Domain=example.com; secure; SameSite=Lax' },
];

let backend: Backend;
let nginx: Running;
let dir: string;
let main: HttpMainConf;

const loc = (i: number): string => `/t${i}/`;

function block(row: Row, i: number): string {
  const text = row.block ?? `location {L} { proxy_pass http://{B1}${row.uri ?? ''}; ${row.conf} }`;
  return text.split('{L}').join(loc(i)).split('{B1}').join(backend.addr);
}

beforeAll(async () => {
  ensureNginx();
  // the backend answers ?row=N with row N's header
  backend = await startBackend(({ req, sock }) => {
    const row = ROWS[Number(/[?&]row=(\d+)/.exec(req.target)?.[1] ?? -1)];
    const values = row ? (Array.isArray(row.value) ? row.value : [row.value]) : [];
    const headers = values.map((v): [string, string] => [row.header, v.split('{B1}').join(backend.addr)]);
    sock.write(response(302, headers, ''));
  });
  const port = await freePort();
  dir = tempDir('proxy-rewrite');
  const conf = (): string => {
    const blocks = ROWS.map((r, i) => block(r, i));
    return `events {}\nhttp {\n  access_log off;\n  server {\n    listen 127.0.0.1:${port};\n${blocks.map((b) => `    ${b}\n`).join('')}  }\n}\n`;
  };
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf());
  fs.writeFileSync(path.join(dir, 'nodinx.conf'), conf());
  nginx = await startNginx(dir, port);
  main = loadConfig({ prefix: dir, confFile: 'nodinx.conf' }).http!;
}, 60000);

afterAll(async () => {
  await nginx?.stop();
  await backend?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The location nodinx chose for the row's path (the rows' prefixes are distinct; nested ones by name). */
function findLoc(uri: string): LocationConf {
  let best: LocationConf | undefined;
  const walk = (locs: LocationConf[]): void => {
    for (const l of locs) {
      if (!l.noname && uri.startsWith(l.name) && (!best || l.name.length > best.name.length)) best = l;
      walk(l.locations);
    }
  };
  walk(coreLoc(main.servers[0].ctx.loc).locations);
  return best!;
}

/** rewriteUpstreamHeader as the proxy module calls it, on a request at that location. */
function nodinxValue(uri: string, header: string, value: string): string {
  const r = { loc: findLoc(uri), vars: [], conn: { ctx: { main } } } as unknown as HttpRequest;
  const out = rewriteUpstreamHeaderRc(r, header.toLowerCase(), value);
  // nginx's header filter makes a rewritten relative Location absolute
  return header === 'Location' && out.rewritten && out.value.startsWith('/') ? `http://{SELF}${out.value}` : out.value;
}

describe('proxy_redirect and proxy_cookie_* rewrite what nginx rewrites', () => {
  ROWS.forEach((row, i) => {
    const title = `${row.header}: ${row.block ? 'nested locations' : `proxy_pass http://B${row.uri ?? ''}; ${row.conf}`} ← ${JSON.stringify(row.value)}`;
    it(title, async () => {
      const uri = loc(i) + (row.path ?? 'p');
      const x = await exchange(nginx.port, [`GET ${uri}?row=${i} HTTP/1.1\r\nHost: 127.0.0.1:${nginx.port}\r\nConnection: close\r\n\r\n`]);
      const [res] = parseResponses(x.data, false);
      const norm = (v: string): string => v.split(`127.0.0.1:${nginx.port}`).join('{SELF}').split(backend.addr).join('{B1}');
      const got = res.headers.filter(([k]) => k.toLowerCase() === row.header.toLowerCase()).map(([, v]) => norm(v));
      const want = (Array.isArray(row.nginx) ? row.nginx : [row.nginx]).map((v) => v.split('{L}').join(loc(i)));
      expect(got).toEqual(want);
      const values = Array.isArray(row.value) ? row.value : [row.value];
      const ours = values.map((v) => norm(nodinxValue(uri, row.header, v.split('{B1}').join(backend.addr))));
      expect(ours).toEqual(want);
    });
  });
});
