import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, type Explanation } from '../src/cli/explain';
import { fromBytes } from '../src/conf/bytes';
import { freePort, rawRequest, startNodinx, tempDir, writeTree, type Running } from './helpers/http';
import { BIN, run } from './helpers/nodinx';

// `nodinx explain` must say where the request really goes: for each request
// of a matrix, the file explain names is the file the server serves (every
// file holds its own path), and the status is the server's.

let dir: string;
let port: number;
let server: Running;

beforeAll(async () => {
  dir = fs.realpathSync(tempDir('explain'));
  port = await freePort();
  const files: Record<string, string> = {};
  // the index module checks the file in the exact location's root, then redirects
  for (const f of ['exact/index.html', 'prefix/index.html', 'regex/x.txt', 'noregex/img/y.txt', 'nestedsub/dir/sub/z.html', 'nested/dir/a.html',
    'errors/404.html', 'b/index.html', 'default/index.html']) files[`r/${f}`] = path.join(dir, 'r', f);
  writeTree(dir, files);
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `events {}
http {
  access_log logs/access.log;
  server {
    listen 127.0.0.1:${port};
    server_name a.test;
    location = / { root r/exact; index index.html; }
    location / { root r/prefix; }
    location ^~ /img/ { root r/noregex; }
    location ~ \\.txt$ { root r/regex; }
    location /dir/ { root r/nested;
      location /dir/sub/ { root r/nestedsub; }
    }
    error_page 404 /404.html;
    location = /404.html { root r/errors; }
  }
  server { listen 127.0.0.1:${port}; server_name *.b.test; location / { root r/b; } }
  server { listen 127.0.0.1:${port} default_server; server_name _; location / { root r/default; } }
}
`);
  server = await startNodinx(dir, port);
});
afterAll(async () => {
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const served = (e: Explanation) => [...e.steps].reverse().find((s) => s.kind === 'content');

describe('nodinx explain', () => {
  it.each([
    ['a.test', '/', 200, 'prefix/index.html', ['= /', '/']],
    ['a.test', '/x.txt', 200, 'regex/x.txt', ['~ \\.txt$']],
    ['a.test', '/img/y.txt', 200, 'noregex/img/y.txt', ['^~ /img/']],
    ['a.test', '/dir/a.html', 200, 'nested/dir/a.html', ['/dir/']],
    ['a.test', '/dir/sub/z.html', 200, 'nestedsub/dir/sub/z.html', ['/dir/sub/']],
    ['a.test', '/missing', 404, 'errors/404.html', ['/', '= /404.html']],
    ['x.b.test', '/', 200, 'b/index.html', ['/', '/']],
    ['other.test', '/', 200, 'default/index.html', ['/', '/']],
  ])('%s%s: says what the server does', async (host, uri, status, file, locations) => {
    const res = await rawRequest(port, `GET ${uri} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    const e = await explain({ prefix: dir, confFile: 'nginx.conf', headers: [], request: `GET http://${host}${uri}` });
    expect(res.status).toBe(status);
    expect(e.response.status).toBe(res.status);
    expect(res.body.toString()).toBe(path.join(dir, 'r', file));
    expect(fromBytes(served(e)!.kind === 'content' ? (served(e) as { detail: string }).detail : '')).toBe(path.join(dir, 'r', file));
    const chosen = e.steps.filter((s) => s.kind === 'location').map((s) => (s.kind === 'location' ? `${s.modifier ? s.modifier + ' ' : ''}${s.name}` : ''));
    expect(chosen).toEqual(locations);
  });

  it('names the server rule and the location rule', async () => {
    const e = await explain({ prefix: dir, confFile: 'nginx.conf', headers: [], request: 'GET http://x.b.test/img/q.txt' });
    const server = e.steps.find((s) => s.kind === 'server');
    expect(server).toMatchObject({ rule: 'longest leading wildcard *.b.test', where: { line: 17 } });
    const e2 = await explain({ prefix: dir, confFile: 'nginx.conf', headers: [], request: 'GET http://a.test/img/q.txt' });
    expect(e2.steps.find((s) => s.kind === 'location')).toMatchObject({ rule: 'longest prefix, marked ^~: regexes are not checked (URI "/img/q.txt")' });
    const e3 = await explain({ prefix: dir, confFile: 'nginx.conf', headers: [], request: 'GET http://none.test/' });
    expect(e3.steps.find((s) => s.kind === 'server')).toMatchObject({ rule: 'no name matched: the default_server of this address' });
  });

  it('captures logs instead of writing them', async () => {
    const log = path.join(dir, 'logs/access.log');
    const before = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
    const e = await explain({ prefix: dir, confFile: 'nginx.conf', headers: ['User-Agent: explainer'], request: 'GET http://a.test/missing' });
    expect(e.accessLog[0].line).toMatch(/"GET \/missing HTTP\/1\.1" 404 \d+ "-" "explainer"$/);
    expect(e.errorLog.map((l) => l.message).join('\n')).toContain('open() "' + path.join(dir, 'r/prefix/missing') + '" failed (2: No such file or directory)');
    await new Promise((r) => setTimeout(r, 100));
    expect(fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '').toBe(before);
  });

  it('the command prints text and --json', () => {
    const text = run(process.execPath, [BIN, 'explain', '-p', dir, '-c', 'nginx.conf', 'GET http://a.test/x.txt']);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('location  nginx.conf:10 location ~ \\.txt$   — first matching regex in config order: it wins over prefixes (URI "/x.txt")');
    expect(text.stdout).toContain(`content   static: ${path.join(dir, 'r/regex/x.txt')}`);
    const json = run(process.execPath, [BIN, 'explain', '--json', '-p', dir, '-c', 'nginx.conf', '--addr', `127.0.0.1:${port}`, 'http://a.test/']);
    expect(JSON.parse(json.stdout).response.status).toBe(200);
    const bad = run(process.execPath, [BIN, 'explain', '-p', dir, '-c', 'nginx.conf', '--addr', '127.0.0.9:1', '/']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('nodinx: [emerg] nothing listens on 127.0.0.9:1\n');
  });
});
