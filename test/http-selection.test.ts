import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/conf/load';
import { coreLoc, type HttpMainConf } from '../src/http/core-module';
import { buildLocationTree, findLocation, Found } from '../src/http/location-tree';
import { findServer, type AddrEntry } from '../src/http/server-names';
import { toBytes } from '../src/conf/bytes';

// Server and location selection on the examples of nginx's documentation
// ("How nginx processes a request", "Server names", the location directive),
// as tables of request → the block that answers.

const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-sel-')));
fs.mkdirSync(path.join(dir, 'logs'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function load(http: string): HttpMainConf {
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `events {}\nhttp {\n${http}\n}\n`);
  return loadConfig({ prefix: dir, confFile: path.join(dir, 'nginx.conf') }).http!;
}

function entry(http: HttpMainConf, text: string): AddrEntry {
  for (const port of http.addresses!.ports.values()) for (const a of port.addrs) if (a.listen.text === text) return a;
  throw new Error(`no ${text}`);
}

/** the location that answers, named by its root's last path segment */
function answer(http: HttpMainConf, host: string, uri: string): string {
  const { server } = findServer([...http.addresses!.ports.values()][0].addrs[0], host);
  const top = coreLoc(server.ctx.loc);
  const r = findLocation(top, uri);
  if (r.found === Found.Redirect) return `301 ${uri}/`;
  return path.basename((r.loc ?? top).root!.source);
}

describe('location selection (the location directive documentation)', () => {
  const http = load(`server {
    listen 8080;
    location = / { root A; }
    location / { root B; }
    location /documents/ { root C; }
    location ^~ /images/ { root D; }
    location ~* \\.(gif|jpg|jpeg)$ { root E; }
  }`);
  it.each([
    ['/', 'A'],
    ['/index.html', 'B'],
    ['/documents/document.html', 'C'],
    ['/images/1.gif', 'D'],
    ['/documents/1.jpg', 'E'],
    ['/documents/1.JPG', 'E'],
  ])('%s → %s', (uri, want) => expect(answer(http, 'localhost', uri)).toBe(want));
});

describe('location selection ("How nginx processes a request")', () => {
  const http = load(`server {
    listen 8080;
    server_name example.org www.example.org;
    root /data/www;
    location / { index index.html index.php; root slash; }
    location ~* \\.(gif|jpg|png)$ { root images; }
    location ~ \\.php$ { root php; }
  }`);
  it.each([
    ['/logo.gif', 'images'],
    ['/index.php', 'php'],
    ['/about.html', 'slash'],
    ['/', 'slash'],
  ])('%s → %s', (uri, want) => expect(answer(http, 'example.org', uri)).toBe(want));
});

describe('nested, longest prefix, regex order, named, redirects', () => {
  const http = load(`server {
    listen 8080;
    location / { root root; }
    location /a/ { root a;
      location /a/b/ { root ab; }
      location ~ \\.txt$ { root atxt; }
    }
    location ^~ /a/b/c/ { root abc; }
    location ~ /a/ { root regex1; }
    location ~ \\.txt$ { root txt; }
    location @named { root named; }
    location /exact { root exactprefix; }
    location = /exact { root exact; }
  }`);
  it.each([
    ['/a/x', 'regex1'], // a prefix without ^~: config-order regexes still win
    ['/a/b/x', 'regex1'],
    ['/a/x.txt', 'atxt'], // nested regex before outer ones
    ['/a/b/c/x.txt', 'abc'], // ^~ stops the regex search
    ['/z.txt', 'txt'],
    ['/exact', 'exact'],
    ['/exactly', 'exactprefix'],
    ['/@named', 'root'], // a named location is never matched by URI
  ])('%s → %s', (uri, want) => expect(answer(http, 'localhost', uri)).toBe(want));

  it('compares bytes, as nginx: a UTF-8 literal in a regex matches the URI bytes', () => {
    const utf = load(`server { listen 8080;\n location ~ ^/caf\u00e9/ { root regex; }\n location /na\u00efve/ { root prefix; } }`);
    // the URI as the runtime holds it: one char per byte of the decoded path
    expect(answer(utf, 'localhost', toBytes('/café/x'))).toBe('regex');
    expect(answer(utf, 'localhost', toBytes('/naïve/y'))).toBe('prefix');
  });

  it('a proxied prefix location ending in "/" answers its name without the slash with a redirect', () => {
    const conf = load(`server { listen 8080;\n location / { root root; }\n location /app/ { root app; }\n location /app { root exact-name; }\n location /api/ { root api; } }`);
    const top = coreLoc([...conf.addresses!.ports.values()][0].addrs[0].servers[0].ctx.loc);
    // what proxy_pass, fastcgi_pass & co. set on their location (ngx_http_core_module's auto_redirect)
    for (const l of top.locations) l.autoRedirect = true;
    top.tree = buildLocationTree(top.locations);
    expect(findLocation(top, '/api')).toMatchObject({ found: Found.Redirect, loc: { name: '/api/' } });
    // a location named exactly like the URI wins over the redirect, as in nginx
    expect(findLocation(top, '/app').loc?.name).toBe('/app');
    expect(findLocation(top, '/api/x').loc?.name).toBe('/api/');
  });

  it('duplicate locations are refused with nginx message', () => {
    expect(() => load(`server { listen 8080;\n location /x { }\n location /x { } }`)).toThrow(/^duplicate location "\/x" in .*nginx\.conf:5$/);
  });
});

describe('server selection ("Server names" and "How nginx processes a request")', () => {
  const http = load(`
    server { listen 127.0.0.1:8080; server_name example.org www.example.org; root exact; }
    server { listen 127.0.0.1:8080; server_name *.example.org; root headwild; }
    server { listen 127.0.0.1:8080; server_name mail.*; root tailwild; }
    server { listen 127.0.0.1:8080; server_name ~^(?<user>.+)\\.example\\.net$; root regex; }
    server { listen 127.0.0.1:8080; server_name .example.com; root dotted; }
    server { listen 127.0.0.1:8080; server_name ""; root nohost; }
    server { listen 127.0.0.1:8080 default_server; server_name _; root default; }
    server { listen 127.0.0.2:8080; server_name example.org; root other; }
  `);
  const pick = (host: string, addr = '127.0.0.1:8080') => path.basename(findServer(entry(http, addr), host).server.core.loc!.root!.source);
  it.each([
    ['example.org', 'exact'],
    ['www.example.org', 'exact'],
    ['foo.example.org', 'headwild'],
    ['a.b.example.org', 'headwild'],
    ['mail.example.com', 'dotted'], // a leading wildcard wins over a trailing one
    ['mail.example.net', 'tailwild'], // a trailing wildcard wins over a regex
    ['joe.example.net', 'regex'],
    ['example.com', 'dotted'],
    ['www.example.com', 'dotted'],
    ['', 'nohost'],
    ['unknown.test', 'default'],
  ])('%j → %s', (host, want) => expect(pick(host)).toBe(want));

  it('an address has its own servers and default', () => {
    expect(pick('example.org', '127.0.0.2:8080')).toBe('other');
    expect(pick('www.example.org', '127.0.0.2:8080')).toBe('other');
  });

  it('regex server names capture', () => {
    const r = findServer(entry(http, '127.0.0.1:8080'), 'joe.example.net');
    expect(r.captures?.groups?.user).toBe('joe');
  });
});
