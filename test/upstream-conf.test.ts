import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { testConfig } from '../src/cli/test-config';
import { ConfError } from '../src/conf/errors';
import type { Cf } from '../src/conf/module';
import { addUpstream, describe as describeGroup, findUpstream, NO_LIVE, type UpstreamGroup } from '../src/upstream';
import { crc32 } from '../src/upstream/hash';
import { initUpstream, upstreamMain, type UpstreamMainConf } from '../src/upstream/upstream-module';
import type { Upstream } from '../src/upstream/peers';
import { inet6Ntop } from '../src/upstream/url';
import type { HttpMainConf } from '../src/http/core-conf';
import { ensureNginx, NGINX, tempDir } from './helpers/http';
import { run } from './helpers/nodinx';
import { fakeRequest, loadGroup } from './upstream-harness';

// The upstream block as configuration: warnings nginx gives (compared with
// `nginx -t`), what addUpstream does with proxy_pass's URLs in either order
// (checked against nginx's verdict on the same lines), the parameters
// peers get, keepalive's settings, and the crc32 the hash methods use.

/** nginx -t on a config: its [warn]/[emerg] lines, the directory as {dir}. */
function nginxLines(conf: string): string[] {
  ensureNginx();
  const dir = tempDir('upstream-conf');
  try {
    fs.mkdirSync(path.join(dir, 'logs'));
    fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
    const r = run(NGINX, ['-t', '-q', '-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'logs/error.log')]);
    return r.stderr.split('\n').filter((l) => /\[(warn|emerg)\]/.test(l)).map((l) => l.replace(/^nginx: /, '').split(dir).join('{dir}'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function nodinxLines(conf: string): string[] {
  const dir = tempDir('upstream-conf');
  try {
    fs.mkdirSync(path.join(dir, 'logs'));
    fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
    const r = testConfig({ prefix: dir, confFile: path.join(dir, 'nginx.conf') });
    return [...r.warnings, ...(r.error ? [r.error] : [])].map((e) => e.text.split(dir).join('{dir}'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('warnings as nginx -t gives them', () => {
  it.each([
    ['every method after another', 'keepalive 16;\n least_conn;\n ip_hash;\n hash $uri;\n random two;\n server 127.0.0.1:1;'],
    ['keepalive after the method: no warning', 'least_conn;\n keepalive 4;\n server 127.0.0.1:1;'],
    ['the same method twice', 'ip_hash;\n ip_hash;\n server 127.0.0.1:1;'],
  ])('%s', (_name, body) => {
    const conf = `events {}\nhttp {\n upstream u {\n ${body}\n }\n}\n`;
    expect(nodinxLines(conf)).toEqual(nginxLines(conf));
  });
});

describe('keepalive', () => {
  it('takes its settings, and is lost when a method comes after it, as in nginx', () => {
    const kept = loadGroup('least_conn;\nkeepalive 8;\nkeepalive_requests 50;\nkeepalive_time 10m;\nkeepalive_timeout 5s;\nserver 127.0.0.1:1;');
    expect(kept.keepalive).toEqual({ max: 8, requests: 50, time: 600000, timeout: 5000 });
    expect(kept.balancer.method).toBe('least_conn');
    const lost = loadGroup('keepalive 8;\nleast_conn;\nserver 127.0.0.1:1;');
    expect(lost.keepalive.max).toBe(0);
    expect(loadGroup('server 127.0.0.1:1;').keepalive).toEqual({ max: 0, requests: 1000, time: 3600000, timeout: 60000 });
  });
});

describe('peers', () => {
  it('are one per address of a name, with the server parameters', () => {
    const g = loadGroup('server localhost:81 weight=3 max_fails=2 fail_timeout=5s max_conns=7;\nserver [::1]:82 backup;\nserver unix:/tmp/x.sock down;');
    expect(g.peers.map((p) => [p.name, p.server, p.weight, p.maxFails, p.failTimeout, p.maxConns, p.down])).toEqual([
      ['127.0.0.1:81', 'localhost:81', 3, 2, 5000, 7, false],
      ['unix:/tmp/x.sock', 'unix:/tmp/x.sock', 1, 1, 10000, 0, true],
    ]);
    expect(g.backup.map((p) => p.name)).toEqual(['[::1]:82']);
    expect(g.peers[1].socketPath).toBe('/tmp/x.sock');
  });

  it('say what the balancer would pick next, and why', () => {
    const g = loadGroup('server 127.0.0.1:1 weight=2;\nserver 127.0.0.1:2;');
    const lines = describeGroup(g, fakeRequest({ path: '/' }));
    expect(lines[0]).toMatch(/^upstream u \(.*nginx.conf:3\): round robin/);
    expect(lines.at(-1)).toMatch(/^next: 127\.0\.0\.1:1 — round robin: current weight 2 of total 3/);
    // describing changes nothing: the same pick again
    expect(describeGroup(g, fakeRequest({ path: '/' })).at(-1)).toBe(lines.at(-1));
    const h = loadGroup('hash $request_uri consistent;\nserver 127.0.0.1:1;\nserver 127.0.0.1:2;');
    expect(describeGroup(h, fakeRequest({ path: '/a' })).at(-1)).toMatch(/^next: 127\.0\.0\.1:\d — hash "\/a" consistent: crc32 \d+ → point/);
  });
});

/** The main conf and a Cf standing at a line of nginx.conf in dir, as the proxy_pass setter has. */
function cfAt(main: HttpMainConf, file: string, line: number): Cf {
  return {
    cycle: { confs: { http: main } }, node: { file, endLine: line },
    error: (reason: string, l?: number) => new ConfError(reason, file, l ?? line),
  } as unknown as Cf;
}

function emptyMain(): HttpMainConf {
  const umcf: UpstreamMainConf = { upstreams: [] };
  return { ctx: { main: { http_upstream: umcf }, srv: {}, loc: {} } } as unknown as HttpMainConf;
}

/** What addUpstream + init say for a sequence of proxy_pass / upstream lines. */
function addAll(steps: Array<[line: number, url: { host: string; port: number; noPort: boolean }, implicit: boolean]>, file: string): string {
  const main = emptyMain();
  try {
    for (const [line, url, implicit] of steps) {
      const g = addUpstream(cfAt(main, file, line), url, implicit) as Upstream;
      if (!implicit) g.servers = [{ name: '127.0.0.1:1', addrs: [{ name: '127.0.0.1:1', host: '127.0.0.1', port: 1, family: 4 }], weight: 1, maxFails: 1, failTimeout: 10, maxConns: 0, backup: false, down: false }];
    }
    const cf = { error: (reason: string, f?: string, l?: number) => new ConfError(reason, f, l) };
    for (const g of upstreamMain(main).upstreams) initUpstream(g, cf);
    return 'ok';
  } catch (e) {
    return (e as ConfError).text;
  }
}

describe('addUpstream, as proxy_pass uses it', () => {
  const block = (name: string) => `    upstream ${name} {\n        server 127.0.0.1:1;\n    }\n`;
  const loc = (url: string) => `    server {\n        listen 127.0.0.1:1;\n        location / {\n            proxy_pass ${url};\n        }\n    }\n`;
  const FILE = '{dir}/nginx.conf';
  const verdict = (conf: string): string => {
    const lines = nginxLines(`events {}\nhttp {\n${conf}}\n`);
    return lines.find((l) => l.includes('[emerg]')) ?? 'ok';
  };
  // a block takes lines 3-5; a server with proxy_pass has it on its line 4
  const name = { host: 'backend', port: 80, noPort: true };
  const port = (p: number) => ({ host: 'backend', port: p, noPort: false });
  const create = { host: 'backend', port: 0, noPort: true };

  it.each([
    ['a block after proxy_pass takes the name over', block('backend') + loc('http://backend'), [[3, create, false], [9, name, true]]],
    ['proxy_pass before the block', loc('http://backend') + block('backend'), [[6, name, true], [9, create, false]]],
    ['a port with a block before', block('backend') + loc('http://backend:8080'), [[3, create, false], [9, port(8080), true]]],
    ['a port with a block after', loc('http://backend:8080') + block('backend'), [[6, port(8080), true], [9, create, false]]],
    ['no block, no such host', loc('http://nonexistent.invalid'), [[6, { host: 'nonexistent.invalid', port: 80, noPort: true }, true]]],
    ['duplicate upstream', block('backend') + block('BACKEND'), [[3, create, false], [6, { ...create, host: 'BACKEND' }, false]]],
  ] as const)('%s', (_name, conf, steps) => {
    if (process.env.SHOW) console.log(verdict(conf));
    expect(addAll(steps as never, FILE)).toBe(verdict(conf));
  });

  it('makes one implicit group per host and port, resolved when the http block closes', () => {
    const main = emptyMain();
    const cf = cfAt(main, '/x.conf', 1);
    const a = addUpstream(cf, { host: '127.0.0.1', port: 80, noPort: true }, true);
    expect(addUpstream(cf, { host: '127.0.0.1', port: 80, noPort: false }, true)).toBe(a);
    const b = addUpstream(cf, { host: '127.0.0.1', port: 8080, noPort: false }, true);
    expect(b).not.toBe(a);
    const v6 = addUpstream(cf, { host: '::1', port: 81, noPort: false }, true);
    const sock = addUpstream(cf, { host: '', port: 0, noPort: true, unix: '/tmp/s.sock' }, true);
    for (const g of upstreamMain(main).upstreams) initUpstream(g, { error: (r) => new ConfError(r) });
    expect(a.peers.map((p) => [p.name, p.weight, p.maxFails, p.failTimeout])).toEqual([['127.0.0.1:80', 1, 1, 10000]]);
    expect(v6.peers.map((p) => p.name)).toEqual(['[::1]:81']);
    expect(sock.peers.map((p) => p.name)).toEqual(['unix:/tmp/s.sock']);
    expect(findUpstream(main, '127.0.0.1', 8080, false)).toBe(b);
    expect(findUpstream(main, '127.0.0.1')).toBeUndefined();
  });

  it('finds upstream blocks by name for proxy_pass with variables', () => {
    const main = emptyMain();
    const g = addUpstream(cfAt(main, '/x.conf', 1), { host: 'Backend', port: 0, noPort: true }, false);
    expect(findUpstream(main, 'backend')).toBe(g);
    expect(findUpstream(main, 'BACKEND', 80, true)).toBe(g);
    expect(findUpstream(main, 'backend', 8080, false)).toBeUndefined();
  });
});

describe('crc32 and addresses', () => {
  it('crc32 is zlib\'s (ngx_crc32_long)', () => {
    const zcrc = (zlib as unknown as { crc32?: (b: Buffer) => number }).crc32;
    if (!zcrc) return expect.fail('this Node has no zlib.crc32 to compare with');
    for (const s of ['', 'a', '/k1?x=7', 'x'.repeat(1000), '\u00ff\u0000\u0080']) expect(crc32(s)).toBe(zcrc(Buffer.from(s, 'latin1')));
  });

  it('IPv6 names are written as ngx_inet6_ntop writes them', () => {
    const b = (...words: number[]) => Uint8Array.from(words.flatMap((w) => [w >> 8, w & 0xff]));
    expect(inet6Ntop(b(0, 0, 0, 0, 0, 0, 0, 1))).toBe('::1');
    expect(inet6Ntop(b(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1))).toBe('2001:db8:0:1::1');
    expect(inet6Ntop(b(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1))).toBe('::ffff:127.0.0.1');
    expect(inet6Ntop(b(1, 0, 2, 0, 3, 0, 4, 0))).toBe('1:0:2:0:3:0:4:0');
  });
});

// a guard that the table above cannot pass vacuously
it('no live upstreams is a value of its own', () => {
  const g: UpstreamGroup = loadGroup('server 127.0.0.1:1 down;\nserver 127.0.0.1:2 down;');
  expect(describeGroup(g, fakeRequest({ path: '/' })).at(-1)).toBe(`next: ${NO_LIVE}`);
});
