import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/conf/load';
import { HttpRuntime } from '../src/http/runtime';
import { ErrorLog } from '../src/process/error-log';
import { freePort, rawRequest, readLines, tempDir, writeTree } from './helpers/http';

// HttpRuntime's life cycle: which sockets it binds, bind errors worded as
// nginx's, reload, graceful close, keep-alive, worker_connections, unix
// sockets and buffered access logs.

let dir: string;
let runtime: HttpRuntime | undefined;
let errorLog: ErrorLog;

function conf(http: string, events = ''): ReturnType<typeof loadConfig> {
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `events { ${events} }\nhttp {\n access_log logs/access.log;\n${http}\n}\n`);
  return loadConfig({ prefix: dir, confFile: 'nginx.conf' });
}

async function start(http: string, events = ''): Promise<HttpRuntime> {
  dir ??= tempDir('rt');
  writeTree(dir, { 'html/index.html': 'one\n', 'html2/index.html': 'two\n', 'logs/': '' });
  errorLog = new ErrorLog();
  errorLog.open([{ file: path.join(dir, 'logs/error.log'), level: 'info', debug: false }]);
  runtime = new HttpRuntime({ errorLog });
  await runtime.listen(conf(http, events));
  return runtime;
}

const get = (uri = '/', extra = ''): string => `GET ${uri} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`;

/** Sends requests one after another on one connection; resolves with the raw text read. */
function session(port: number, requests: string[], host = '127.0.0.1', gapMs = 50): Promise<{ text: string; closedAt: number }> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('connect', async () => {
      for (const r of requests) {
        if (s.destroyed) break;
        s.write(r);
        await new Promise((res) => setTimeout(res, gapMs));
      }
    });
    s.on('close', () => resolve({ text, closedAt: Date.now() }));
    s.on('error', () => resolve({ text, closedAt: Date.now() }));
    setTimeout(() => s.destroy(), 4000);
  });
}

afterEach(async () => {
  await runtime?.close(false);
  runtime = undefined;
  errorLog?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined as unknown as string;
});

describe('HttpRuntime', () => {
  it('binds only the wildcard of a port and picks the server by local address', async () => {
    const port = await freePort();
    const rt = await start(`server { listen ${port}; root html; }\nserver { listen 127.0.0.1:${port}; root html2; }`);
    expect(rt.addresses().map((a) => a.text)).toEqual([`0.0.0.0:${port}`]);
    expect((await rawRequest(port, get())).body.toString()).toBe('two\n');
    const other = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.2' }, () => s.write(get()));
      let t = '';
      s.on('data', (d) => {
        t += d;
        if (t.endsWith('one\n')) s.destroy(), resolve(t);
      });
      s.on('error', reject);
    });
    expect(other).toMatch(/one\n$/);
  });

  it('listens on IPv6 next to IPv4 on the same port', async () => {
    const port = await freePort();
    const rt = await start(`server { listen 127.0.0.1:${port}; listen [::1]:${port}; root html; }`);
    expect(rt.addresses().map((a) => a.text).sort()).toEqual([`127.0.0.1:${port}`, `[::1]:${port}`]);
    const res = await session(port, [get('/', 'Connection: close\r\n')], '::1');
    expect(res.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*one\n$/);
  });

  it('rejects with nginx\'s bind() message', async () => {
    const port = await freePort();
    const blocker = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      await expect(start(`server { listen 127.0.0.1:${port}; }`)).rejects.toThrow(
        `bind() to 127.0.0.1:${port} failed (98: Address already in use)`);
    } finally {
      blocker.close();
    }
  });

  it('listens on unix sockets, replacing a stale socket file', async () => {
    dir = tempDir('rt');
    const sock = path.join(dir, 'n.sock');
    // a socket file nobody listens on any more: its process was killed
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(fs.statSync(sock).isSocket()).toBe(true);
    const rt = await start(`server { listen unix:${sock}; root html; }`);
    expect(rt.addresses().map((a) => a.text)).toEqual([`unix:${sock}`]);
    const text = await new Promise<string>((resolve, reject) => {
      const s = net.connect(sock, () => s.end(get()));
      let t = '';
      s.on('data', (d) => (t += d));
      s.on('close', () => resolve(t));
      s.on('error', reject);
    });
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*one\n$/);
  });

  it('reload: binds added ports, closes removed ones, new requests see the new config', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const rt = await start(`server { listen 127.0.0.1:${p1}; root html; }`);
    expect((await rawRequest(p1, get())).body.toString()).toBe('one\n');
    await rt.reload(conf(`server { listen 127.0.0.1:${p2}; root html2; }`));
    expect((await rawRequest(p2, get())).body.toString()).toBe('two\n');
    await expect(rawRequest(p1, get())).rejects.toThrow(/ECONNREFUSED/);
    await rt.reload(conf(`server { listen 127.0.0.1:${p2}; root html; }`));
    expect((await rawRequest(p2, get())).body.toString()).toBe('one\n');
  });

  it('keepalive_requests closes the connection on the last request; keepalive_timeout idles it out', async () => {
    const port = await freePort();
    await start(`keepalive_requests 2; keepalive_timeout 1;\nserver { listen 127.0.0.1:${port}; root html; }`);
    const a = await session(port, [get(), get(), get()]);
    expect(a.text.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(a.text).toMatch(/Connection: keep-alive[^]*Connection: close/);
    const t0 = Date.now();
    const b = await session(port, [get()]);
    expect(b.text).toContain('Connection: keep-alive');
    expect(b.closedAt - t0).toBeGreaterThanOrEqual(900);
    expect(b.closedAt - t0).toBeLessThan(3000);
  });

  it('worker_connections: the connection past the limit is closed and nginx\'s alert logged', async () => {
    const port = await freePort();
    await start(`server { listen 127.0.0.1:${port}; root html; }`, 'worker_connections 3;');
    const held = await Promise.all([0, 1].map(() => new Promise<net.Socket>((r) => {
      const s = net.connect(port, '127.0.0.1', () => r(s));
    })));
    const third = await session(port, [get()]);
    expect(third.text).toBe('');
    for (const s of held) s.destroy();
    const lines = await readLines(path.join(dir, 'logs/error.log'), 1);
    expect(lines.some((l) => / \[alert\] \d+#\d+: 3 worker_connections are not enough$/.test(l))).toBe(true);
  });

  it('graceful close lets idle keep-alive connections go and resolves', async () => {
    const port = await freePort();
    const rt = await start(`server { listen 127.0.0.1:${port}; root html; }`);
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write(get());
    await new Promise((r) => s.once('data', r));
    const closed = new Promise((r) => s.once('close', r));
    await rt.close(true);
    runtime = undefined;
    await closed;
    await expect(rawRequest(port, get())).rejects.toThrow(/ECONNREFUSED/);
  });

  it('access_log buffer= holds lines until flush=, then writes them', async () => {
    const port = await freePort();
    await start(`access_log logs/buf.log combined buffer=32k flush=1s;\nserver { listen 127.0.0.1:${port}; root html; }`);
    await rawRequest(port, get('/', 'User-Agent: buffered\r\n'));
    const log = path.join(dir, 'logs/buf.log');
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.readFileSync(log, 'utf8')).toBe('');
    const lines = await readLines(log, 1, 3000);
    expect(lines[0]).toMatch(/^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/ HTTP\/1\.1" 200 4 "-" "buffered"$/);
  });

  it('reopenLogs: after a rename, lines go to a new file', async () => {
    const port = await freePort();
    const rt = await start(`server { listen 127.0.0.1:${port}; root html; }`);
    await rawRequest(port, get('/'));
    const log = path.join(dir, 'logs/access.log');
    await readLines(log, 1);
    fs.renameSync(log, log + '.1');
    rt.reopenLogs();
    expect(fs.existsSync(log)).toBe(true);
    await rawRequest(port, get('/index.html'));
    expect((await readLines(log, 1))[0]).toContain('GET /index.html ');
    expect(fs.readFileSync(log + '.1', 'utf8')).not.toContain('/index.html');
  });
});
