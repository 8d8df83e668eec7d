import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, type Explanation } from '../src/cli/explain';
import { loadConfig, type Cycle } from '../src/conf/load';
import { HttpRuntime } from '../src/http/runtime';
import type { TraceEvent } from '../src/http/trace';
import { ErrorLog } from '../src/process/error-log';
import * as net from 'node:net';
import { echo, hang, sleep, startBackend, type Backend, type BackendRequest } from './helpers/backends';
import { ensureNginx, freePort, rawRequest, startNginx, tempDir, type Running } from './helpers/http';
import { BIN, run } from './helpers/nodinx';

// `nodinx explain` on proxy_pass says what would go upstream without
// connecting. Each row: explain runs on the serving configuration itself
// (so it sees the balancers' state as they are now), no backend gets a
// connection from it, then the same request goes to the running server and
// the backend that receives it must be the peer explain named, with the
// request line and headers explain printed. The same request sent to
// nginx must reach a backend with the same line and headers.

let dir: string;
let port: number;
let nport: number;
let refused: number;
const B: Backend[] = [];
let cycle: Cycle;
let runtime: HttpRuntime;
let errorLog: ErrorLog;
let nginx: Running;
/** holds every request it gets: a connection least_conn counts */
let held: Backend;

function conf(listen: number, nodinxOnly: boolean): string {
  const [b1, b2, b3, b4] = B.map((b) => b.addr);
  return `events {}
http {
  access_log off;
  upstream w { server ${b1} weight=3; server ${b2}; }
  upstream bk { server 127.0.0.1:${refused} max_fails=1 fail_timeout=60s; server ${b3} backup; }
  upstream dn { server ${b1} down; server ${b2} backup; }
  upstream h { hash $request_uri; server ${b1}; server ${b2}; server ${b3}; }
  upstream hc { hash $arg_k consistent; server ${b1}; server ${b2}; server ${b3}; }
  upstream ih { ip_hash; server ${b1}; server ${b2}; server ${b3}; }
  upstream lc { least_conn; server ${held.addr}; server ${b1}; }
${nodinxOnly ? `  upstream st { sticky route $cookie_JSESSIONID; server ${b1} route=tomcat1; server ${b2} route=tomcat2; }
  upstream sc { sticky cookie srv_id; server ${b1}; server ${b2}; server ${b3}; }
  upstream sl { sticky learn create=$upstream_cookie_JSESSIONID lookup=$cookie_JSESSIONID zone=sessions:1m; server ${b1}; server ${b2}; server ${b3}; }\n` : ''}
  server {
    listen 127.0.0.1:${listen};
    location /uri/ { proxy_pass http://${b1}/base/; }
    location /nouri/ { proxy_pass http://${b1}; }
    location /w/ { proxy_pass http://w; }
    location /bk/ { proxy_pass http://bk; }
    location /dn/ { proxy_pass http://dn; }
    location /h/ { proxy_pass http://h; }
    location /hc/ { proxy_pass http://hc; }
    location /ih/ { proxy_pass http://ih; }
    location /lc/ { proxy_pass http://lc; }
    location /if/ { proxy_pass http://${b1}; if ($arg_to = three) { proxy_pass http://${b3}; } }
    location /once/ { proxy_pass http://bk; proxy_next_upstream off; }
    location /tries/ { proxy_pass http://w; proxy_next_upstream_tries 1; }
    location /var/ { set $g w; proxy_pass http://$g/from-var$uri$is_args$args; }
    location /varaddr/ { proxy_pass http://${b4}$request_uri; }
    location ~ ^/re/(\\w+) { proxy_pass http://h; }
    location /rw/ { rewrite ^/rw/(.*)$ /moved/$1 break; proxy_pass http://${b3}/base/; }
    location /hdr/ {
      proxy_pass http://${b2};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header Accept-Encoding "";
      proxy_set_header X-Arg $arg_a;
    }
${nodinxOnly ? '    location /st/ { proxy_pass http://st; }\n    location /sc/ { proxy_pass http://sc; }\n    location /sl/ { proxy_pass http://sl; }\n' : ''}  }
}
`;
}

beforeAll(async () => {
  ensureNginx();
  dir = fs.realpathSync(tempDir('explain-proxy'));
  // the fourth is named only by a proxy_pass with variables: its group is made at run time
  // each answers with its own session cookie, for sticky learn
  for (let i = 0; i < 4; i++) B.push(await startBackend(echo([['Set-Cookie', `JSESSIONID=s${i}; Path=/`]])));
  held = await startBackend(hang());
  [port, nport, refused] = [await freePort(), await freePort(), await freePort()];
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.writeFileSync(path.join(dir, 'nodinx.conf'), conf(port, true));
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf(nport, false));
  cycle = loadConfig({ prefix: dir, confFile: 'nodinx.conf' });
  errorLog = new ErrorLog();
  errorLog.open([{ file: path.join(dir, 'logs/nodinx-error.log'), level: 'error', debug: false }]);
  runtime = new HttpRuntime({ errorLog });
  await runtime.listen(cycle);
  nginx = await startNginx(dir, nport);
});

afterAll(async () => {
  await runtime?.close(false);
  errorLog?.close();
  await nginx?.stop();
  await Promise.all([...B, held].map((b) => b.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

const steps = <K extends TraceEvent['kind']>(e: Explanation, kind: K): Array<Extract<TraceEvent, { kind: K }>> =>
  e.steps.filter((s): s is Extract<TraceEvent, { kind: K }> => s.kind === kind);

/** The line of nodinx.conf holding text. */
const lineOf = (text: string): number => fs.readFileSync(path.join(dir, 'nodinx.conf'), 'utf8').split('\n').findIndex((l) => l.includes(text)) + 1;

const connections = (): number[] => B.map((b) => b.connections);

/** Sends the bytes explain sends to a server and says which backend got the request, and what it got. */
async function served(to: number, target: string, headers: string[]): Promise<{ peer: string; req: BackendRequest } | undefined> {
  const before = B.map((b) => b.requests.length);
  const head = [`GET ${target} HTTP/1.1`, `Host: a.test:${port}`, ...headers, 'Connection: close'].join('\r\n');
  await rawRequest(to, head + '\r\n\r\n');
  const got = B.filter((b, i) => b.requests.length > before[i]);
  expect(got.length).toBeLessThanOrEqual(1);
  return got[0] && { peer: got[0].addr, req: got[0].requests[got[0].requests.length - 1] };
}

interface Checked {
  e: Explanation;
  peers: string[];
}

/** explain, then the real request; what explain predicted is what the server did. */
async function check(target: string, headers: string[] = [], opts: { nginx?: boolean } = {}): Promise<Checked> {
  const before = connections();
  const e = await explain({ prefix: dir, confFile: 'nodinx.conf', headers, request: `GET http://a.test:${port}${target}`, cycle });
  expect(connections(), 'explain connected to a backend').toEqual(before);
  expect(e.proxied).toBe(true);
  const [sent] = steps(e, 'upstream-request');
  const peers = steps(e, 'peer').map((p) => p.peer);
  const got = await served(port, target, headers);
  expect(got, 'no backend got the request').toBeDefined();
  // the first predicted peer that is a live backend takes it (a refused one is tried first, as predicted)
  const live = new Set(B.map((b) => b.addr));
  expect(got!.peer).toBe(peers.find((p) => live.has(p)));
  expect(got!.req.line).toBe(sent.line);
  expect(got!.req.headers).toEqual(sent.headers);
  if (opts.nginx !== false) {
    const ng = await served(nport, target, headers);
    expect(ng?.req.line).toBe(sent.line);
    expect(ng?.req.headers).toEqual(sent.headers);
  }
  return { e, peers };
}

describe('explain on proxy_pass: the URI, headers and peer the server then uses', () => {
  it.each([
    ['a URI part replaces the location prefix', '/uri/a/b?x=1', 'GET /base/a/b?x=1 HTTP/1.0'],
    ['without a URI part the client\'s URI goes as sent', '/nouri/%7Ea//b?x=%20', 'GET /nouri/%7Ea//b?x=%20 HTTP/1.0'],
    ['with variables and a URI: that URI', '/var/p?q=2', 'GET /from-var/var/p?q=2 HTTP/1.0'],
    ['with variables naming an address', '/varaddr/z?k=v', 'GET /varaddr/z?k=v HTTP/1.0'],
    ['in a regex location', '/re/abc/def', 'GET /re/abc/def HTTP/1.0'],
    ['in an if block', '/if/a?to=three', 'GET /if/a?to=three HTTP/1.0'],
    ['in the location around an if that did not match', '/if/a?to=one', 'GET /if/a?to=one HTTP/1.0'],
    // nginx's docs: a URI changed by rewrite in the proxied location goes whole, the URI part ignored
    ['after rewrite ... break: the whole rewritten URI', '/rw/one?a=b', 'GET /moved/one?a=b HTTP/1.0'],
  ])('%s', async (_name, target, line) => {
    const { e } = await check(target, ['User-Agent: explain-test']);
    expect(steps(e, 'upstream-request')[0].line).toBe(line);
  });

  it('headers after proxy_set_header: set, hidden by "", and the client\'s passed in order', async () => {
    const { e } = await check('/hdr/x?a=arg', ['User-Agent: t', 'Accept-Encoding: gzip', 'X-Forwarded-For: 10.0.0.1', 'X-Other: 1']);
    const [sent] = steps(e, 'upstream-request');
    expect(sent.line).toBe('GET /hdr/x?a=arg HTTP/1.1');
    expect(sent.headers).toEqual([
      ['X-Real-IP', '127.0.0.1'], ['X-Forwarded-For', '10.0.0.1, 127.0.0.1'], ['X-Arg', 'arg'],
      ['Host', B[1].addr], ['User-Agent', 't'], ['X-Other', '1'],
    ]);
  });

  it('names the group: an upstream block with its file:line, an implicit one, one made at run time', async () => {
    const w = await check('/w/a');
    expect(steps(w.e, 'upstream')[0]).toMatchObject({ name: 'w', implicit: false, where: { file: path.join(dir, 'nodinx.conf'), line: lineOf('upstream w ') } });
    const imp = await check('/uri/a');
    expect(steps(imp.e, 'upstream')[0]).toMatchObject({ name: '127.0.0.1', implicit: true, where: { line: lineOf('location /uri/') } });
    const rt = await check('/varaddr/a');
    expect(steps(rt.e, 'upstream')[0]).toMatchObject({ name: '127.0.0.1', implicit: true, peers: [`  ${B[3].addr}`] });
    expect(steps(rt.e, 'upstream')[0].where).toBeUndefined();
    // an address another proxy_pass already made a group for is that group, as nginx finds it by host and port
    fs.writeFileSync(path.join(dir, 'same.conf'), conf(port, true).replace(`proxy_pass http://${B[3].addr}$request_uri`, `proxy_pass http://${B[1].addr}$request_uri`));
    const same = await explain({ prefix: dir, confFile: 'same.conf', headers: [], request: `GET http://a.test:${port}/varaddr/a` });
    expect(steps(same, 'upstream')[0]).toMatchObject({ implicit: true, where: { line: lineOf('proxy_pass http://' + B[1].addr + ';') } });
  });

  it('weighted round robin: each prediction is the next pick, and explaining does not advance it', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) {
      const again = await explain({ prefix: dir, confFile: 'nodinx.conf', headers: [], request: `GET http://a.test:${port}/w/${i}`, cycle });
      const { peers } = await check(`/w/${i}`, [], { nginx: false });
      // the explanation just before said the same: explaining twice moved nothing
      expect(steps(again, 'peer')[0].peer).toBe(peers[0]);
      seen.push(peers[0]);
    }
    // weights 3:1: any 8 picks in a row of nginx's smooth order are 6 and 2
    expect(seen.filter((p) => p === B[0].addr).length).toBe(6);
    expect(seen.filter((p) => p === B[1].addr).length).toBe(2);
  });

  it('backup: a primary that refuses is tried first, then counted out, and the backup named with the reason', async () => {
    const first = await check('/bk/1', [], { nginx: false });
    expect(first.peers).toEqual([`127.0.0.1:${refused}`, B[2].addr]);
    const second = await check('/bk/2', [], { nginx: false });
    // if the backup failed too, nothing would be left: nginx's "no live upstreams"
    expect(second.peers).toEqual([B[2].addr, 'no live upstreams']);
    const [peer] = steps(second.e, 'peer');
    expect(peer.reason).toMatch(/^backup: /);
    expect(steps(second.e, 'upstream')[0].peers.join('\n')).toMatch(new RegExp(`127\\.0\\.0\\.1:${refused} .*fails=1/1 failed \\(for \\d+s more\\)`));
    const down = await check('/dn/1', [], { nginx: false });
    expect(down.peers).toEqual([B[1].addr]);
  });

  it('least_conn: a connection in flight counts, the other server is named', async () => {
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    client.write(`GET /lc/held HTTP/1.1\r\nHost: a.test\r\n\r\n`);
    try {
      for (let i = 0; i < 100 && held.requests.length === 0; i++) await sleep(20);
      expect(held.requests.length).toBe(1);
      const { e, peers } = await check('/lc/x', [], { nginx: false });
      expect(peers[0]).toBe(B[0].addr);
      expect(steps(e, 'peer')[0].reason).toMatch(/^least_conn: fewest active connections for its weight \(0, weight 1\)/);
      expect(steps(e, 'upstream')[0].peers[0]).toMatch(new RegExp(`^  ${held.addr} .*conns=1`));
    } finally {
      client.destroy();
    }
  });

  it('proxy_next_upstream off and proxy_next_upstream_tries 1: one peer named', async () => {
    const once = await explain({ prefix: dir, confFile: 'nodinx.conf', headers: [], request: `GET http://a.test:${port}/once/`, cycle });
    expect(steps(once, 'peer').length).toBe(1);
    const tries = await check('/tries/', [], { nginx: false });
    expect(tries.peers.length).toBe(1);
  });

  it('hash and ip_hash: the key\'s server, for several keys', async () => {
    const peers = new Set<string>();
    for (const k of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const h = await check(`/h/${k}`, [], { nginx: false });
      expect(steps(h.e, 'peer')[0].reason).toMatch(/^hash "\/h\/.*": value \d+/);
      peers.add(h.peers[0]);
      const c = await check(`/hc/x?k=${k}`, [], { nginx: false });
      expect(steps(c.e, 'peer')[0].reason).toMatch(/^hash ".*" consistent: crc32 \d+/);
    }
    expect(peers.size).toBeGreaterThan(1);
    const ih = await check('/ih/', [], { nginx: false });
    expect(steps(ih.e, 'peer')[0].reason).toMatch(/^ip_hash 127\.0\.0: hash \d+/);
  });

  it('sticky route: a JSESSIONID cookie\'s jvmRoute decides, or no cookie and the method does', async () => {
    for (const [cookie, backend] of [['ABC123.tomcat2', 1], ['XYZ.tomcat1', 0]] as const) {
      const { e, peers } = await check('/st/app', [`Cookie: JSESSIONID=${cookie}`], { nginx: false });
      expect(peers[0]).toBe(B[backend].addr);
      expect(steps(e, 'sticky')[0]).toMatchObject({ upstream: 'st', rule: `route tomcat${backend + 1} (the jvmRoute of ${cookie})`, peer: B[backend].addr });
    }
    const none = await check('/st/app', [], { nginx: false });
    expect(steps(none.e, 'sticky')[0].rule).toMatch(/^no route; round robin chooses/);
  });

  it('sticky cookie: the cookie the server set leads back to its server', async () => {
    const first = await check('/sc/', [], { nginx: false });
    expect(steps(first.e, 'sticky')[0].rule).toBe('no "srv_id" cookie; round robin chooses');
    for (let i = 0; i < 3; i++) {
      const res = await rawRequest(port, `GET /sc/ HTTP/1.1\r\nHost: a.test:${port}\r\nConnection: close\r\n\r\n`);
      const cookie = res.headers.find(([k, v]) => k.toLowerCase() === 'set-cookie' && v.startsWith('srv_id='))![1].split(';')[0];
      const { e, peers } = await check('/sc/', [`Cookie: ${cookie}`], { nginx: false });
      expect(steps(e, 'sticky')[0]).toMatchObject({ rule: `cookie ${cookie}`, peer: peers[0] });
    }
  });

  it('sticky learn: a session the server learned from the upstream\'s cookie, an unknown one', async () => {
    const unknown = await check('/sl/', ['Cookie: JSESSIONID=nobody'], { nginx: false });
    expect(steps(unknown.e, 'sticky')[0].rule).toBe('session nobody unknown; round robin chooses');
    // the server learned that session from the backend that took the request
    const learnt = `s${B.findIndex((b) => b.addr === unknown.peers[0])}`;
    for (let i = 0; i < 2; i++) {
      const { e, peers } = await check('/sl/', [`Cookie: JSESSIONID=${learnt}`], { nginx: false });
      expect(peers[0]).toBe(unknown.peers[0]);
      expect(steps(e, 'sticky')[0]).toMatchObject({ rule: `learned session ${learnt}`, peer: peers[0] });
    }
  });
});

describe('the command', () => {
  it('prints the proxied request as text and --json, connecting to nothing', () => {
    const before = connections();
    const text = run(process.execPath, [BIN, 'explain', '-p', dir, '-c', 'nodinx.conf', '-H', 'User-Agent: cli', `GET http://a.test:${port}/uri/q?x=1`]);
    expect(text.status).toBe(0);
    const at = `nodinx.conf:${lineOf('location /uri/')}`;
    expect(text.stdout).toContain(`content   proxy_pass ${at} http://${B[0].addr}/base/   (explain does not connect)`);
    expect(text.stdout).toContain(`upstream  127.0.0.1 (implicit, made by proxy_pass at ${at}): round robin (smooth weighted)`);
    expect(text.stdout).toContain('send      GET /base/q?x=1 HTTP/1.0\n            Host: ' + B[0].addr + '\n            Connection: close\n            User-Agent: cli\n');
    expect(text.stdout).toContain(`peer      ${B[0].addr}   — the only server`);
    expect(text.stdout).toContain('response  not known: it would come from the upstream');
    const json = run(process.execPath, [BIN, 'explain', '--json', '-p', dir, '-c', 'nodinx.conf', `GET http://a.test:${port}/w/`]);
    const e = JSON.parse(json.stdout) as Explanation;
    expect(e.proxied).toBe(true);
    // a fresh configuration: round robin's first pick
    expect(e.steps.filter((s) => s.kind === 'peer').map((s) => (s as { peer: string }).peer)).toEqual([B[0].addr, B[1].addr]);
    expect(connections()).toEqual(before);
  });
});
