import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, rawRequest, startPair, stopPair, tempDir, type Running } from './helpers/http';
import { BIN } from './helpers/nodinx';
import { waitFor, waitForPort } from './helpers/ports';

// stub_status's Reading and Writing as nginx counts them (ngx_stat_reading
// from a request's first byte until its head is read, ngx_stat_writing from
// then until it is freed; Waiting is what is neither): the same open
// connections against nginx and nodinx, the same page.

let ngx: Running;
let ndx: Running;

const CONFIG = `events {}
http {
  log_format c '$request_uri $status $connections_active $connections_reading $connections_writing';
  access_log logs/c.log c;
  server {
    listen 127.0.0.1:{PORT};
    location = /status { stub_status; }
    location / { root html; }
  }
}
`;

beforeAll(async () => {
  [ngx, ndx] = await startPair('stub-rw', { 'html/index.html': 'x\n' }, CONFIG);
});
afterAll(async () => {
  await stopPair(ngx, ndx);
});

const readLog = (run: Running): string[] => fs.readFileSync(path.join(run.dir, 'logs/c.log'), 'latin1').split('\n').filter((l) => l !== '');

/** A connection that sent `bytes` and is left open; resolves once what it sent got its answer (if any). */
function open(port: number, bytes: string, answers: boolean): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      if (bytes) s.write(bytes);
      if (!answers) setTimeout(() => resolve(s), 150);
    });
    s.on('data', () => resolve(s));
    s.on('error', reject);
  });
}

async function scene(run: { port: number }, halfHeads = 1, dropping = 0): Promise<string> {
  const socks = [
    // accepted, nothing sent: waiting
    await open(run.port, '', false),
    // a keep-alive connection between requests: waiting
    await open(run.port, 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n', true),
  ];
  // answered (405), the rest of its body still to come and be dropped: writing until then
  for (let i = 0; i < dropping; i++) socks.push(await open(run.port, `POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`, true));
  // half a request head: reading
  for (let i = 0; i < halfHeads; i++) socks.push(await open(run.port, 'GET /index.html HTTP/1.1\r\nHost: x\r\nUser-Ag', false));
  try {
    const res = await rawRequest(run.port, 'GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    return res.body.toString('latin1');
  } finally {
    for (const s of socks) s.destroy();
    // the server sees them go before the next case counts
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('stub_status Reading / Writing / Waiting', () => {
  it('counts a half-read head as reading, a body being dropped as writing, idle connections as waiting, as nginx', async () => {
    const want = await scene(ngx, 1, 1);
    const got = await scene(ndx, 1, 1);
    expect(want).toMatch(/Reading: 1 Writing: 2 Waiting: 2 /);
    // accepts and handled differ by the probe startNginx makes for the port: requests are compared
    const norm = (t: string): string => t.replace(/^ \d+ \d+ (\d+) $/m, ' A A $1 ');
    expect(norm(got)).toBe(norm(want));
  });
});

describe('$connections_* while a request is logged', () => {
  it('the request is off reading or writing, as nginx frees it before logging', async () => {
    const before = [ngx, ndx].map((run) => readLog(run).length);
    for (const run of [ngx, ndx]) {
      const half = await open(run.port, 'GET /index.html HTTP/1.1\r\nHost: x\r\nUser-Ag', false);
      // refused while its head is read (reading), answered (writing)
      await rawRequest(run.port, 'GET /bad HTTP/1.1\r\nHost: x\r\nBad\x01: y\r\n\r\n');
      await rawRequest(run.port, 'GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await rawRequest(run.port, 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n');
      // the keep-alive connection just dropped is gone first
      await new Promise((r) => setTimeout(r, 100));
      half.destroy();
      await new Promise((r) => setTimeout(r, 100));
    }
    const [want, got] = [ngx, ndx].map((run, i) => readLog(run).slice(before[i]));
    // the half-sent head is logged too when its client goes (400)
    expect(want).toHaveLength(4);
    expect(got).toEqual(want);
  });
});

describe('stub_status across workers', () => {
  it('adds up every worker\'s reading connections', async () => {
    const port = await freePort();
    const dir = fs.realpathSync(tempDir('stub-rw-workers'));
    // run as root, workers become nobody and must read the tree
    fs.chmodSync(dir, 0o755);
    for (const d of ['logs', 'html']) fs.mkdirSync(path.join(dir, d));
    fs.writeFileSync(path.join(dir, 'html/index.html'), 'x\n');
    fs.writeFileSync(path.join(dir, 'nginx.conf'), `worker_processes 2;\npid logs/nginx.pid;\n${CONFIG.split('{PORT}').join(String(port))}`);
    const proc = spawn(process.execPath, [BIN, '-p', dir + '/', '-c', 'nginx.conf', '-e', 'logs/error.log', '-g', 'daemon off;'], { stdio: 'ignore' });
    try {
      await waitForPort(port);
      await waitFor(() => fs.existsSync(path.join(dir, 'logs/nginx.pid')));
      // the connections land on either worker; the page sums both
      const page = await scene({ port }, 4);
      expect(page).toMatch(/^Active connections: 7 \n/);
      expect(page).toMatch(/Reading: 4 Writing: 1 Waiting: 2 \n$/);
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30000);
});
