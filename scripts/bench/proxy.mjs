// Proxying: nginx, nodinx and a node:http floor on one backend.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, require, NGINX, haveNginx, table, median, freePort, connects, timeToListen, wrkMs, wrk, started, stopped, startedOrFailed } from './common.mjs';

/** A small Node backend answering /100 and /10k with 100 B and 10 KiB bodies (a child process of its own). */
export const BACKEND_JS = `
const http = require('node:http');
const bodies = { '/100': Buffer.alloc(100, 'b'), '/10k': Buffer.alloc(10240, 'k') };
http.createServer((req, res) => {
  const body = bodies[req.url] ?? bodies['/100'];
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
}).listen(Number(process.argv[1]), '127.0.0.1');
`;

/** The floor: node:http in front of the backend through an http.Agent, in N cluster workers. */
const FLOOR_JS = `
const cluster = require('node:cluster');
const http = require('node:http');
const [port, upstream, workers, keepalive] = process.argv.slice(1).map(Number);
if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const agent = new http.Agent({ keepAlive: keepalive === 1, maxSockets: 256 });
  http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: upstream, path: req.url, method: req.method, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => { res.statusCode = 502; res.end(); });
    req.pipe(up);
  }).listen(port, '127.0.0.1');
}
`;


/**
 * Proxying (issue "Reverse proxy and upstream load balancing"): the same
 * Node backend behind nginx, nodinx and a plain node:http proxy (the floor),
 * wrk -t1 -c50, 100 B and 10 KiB bodies, 1 and 2 worker processes, upstream
 * keep-alive on (keepalive 32, HTTP/1.1) and off (nginx's default HTTP/1.0,
 * a connection per request). Servers alternate within a round; the median
 * round counts.
 */
export async function benchProxy() {
  if (spawnSync('wrk', ['--version']).error || !haveNginx) {
    console.log('\nProxy: skipped (needs wrk and nginx)');
    return;
  }
  const seconds = Number(process.env.BENCH_WRK_SECONDS ?? 3);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-bench-proxy-')));
  fs.mkdirSync(path.join(dir, 'logs'));
  const backendPort = await freePort();
  const backend = await startedOrFailed(process.execPath, ['-e', BACKEND_JS, String(backendPort)], backendPort);
  const rows = [];
  const notes = new Set();
  try {
    for (const workers of [1, 2]) {
      for (const keepalive of [true, false]) {
        const port = await freePort();
        const conf = path.join(dir, 'nginx.conf');
        const location = keepalive
          ? 'proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";'
          : 'proxy_pass http://backend;';
        fs.writeFileSync(conf, `worker_processes ${workers};\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n` +
          `  upstream backend { server 127.0.0.1:${backendPort};${keepalive ? ' keepalive 32;' : ''} }\n` +
          `  server { listen 127.0.0.1:${port}; location / { ${location} } }\n}\n`);
        const common = ['-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', conf];
        const servers = [
          ['nginx', NGINX, [...common, '-g', `daemon off; pid ${dir}/nginx.pid;`]],
          ['nodinx', process.execPath, [path.join(ROOT, 'bin/nodinx'), ...common, '-g', `daemon off; pid ${dir}/nodinx.pid;`]],
          ['node', process.execPath, ['-e', FLOOR_JS, String(port), String(backendPort), String(workers), keepalive ? '1' : '0']],
        ];
        for (const [label, uri] of [['100 B', '/100'], ['10 KiB', '/10k']]) {
          const runs = { nginx: [], nodinx: [], node: [] };
          for (let k = 0; k < rounds; k++) {
            for (const [who, cmd, args] of servers) {
              let child;
              try {
                child = await startedOrFailed(cmd, args, port);
                const url = `http://127.0.0.1:${port}${uri}`;
                // JIT warm-up and the first upstream connections stay out of the figures
                wrk(url, 1);
                runs[who].push(wrk(url, seconds));
              } catch (e) {
                notes.add(`${who}: ${e.message}`);
              } finally {
                if (child) await stopped(child);
              }
            }
          }
          const pick = (xs) => (xs.length ? { rps: median(xs.map((x) => x.rps)), p99: median(xs.map((x) => x.p99)) } : undefined);
          const [a, b, f] = [pick(runs.nodinx), pick(runs.nginx), pick(runs.node)];
          const n = (x, k, d = 0) => (x ? x[k].toFixed(d) : '-');
          rows.push([workers, keepalive ? 'on' : 'off', label, n(b, 'rps'), n(a, 'rps'), n(f, 'rps'),
            a && b ? (a.rps / b.rps).toFixed(2) : '-', f && b ? (f.rps / b.rps).toFixed(2) : '-',
            n(b, 'p99', 2), n(a, 'p99', 2), n(f, 'p99', 2), a && b ? (a.p99 / b.p99).toFixed(1) : '-']);
        }
      }
    }
  } finally {
    await stopped(backend);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  table(`Proxy: a Node backend behind each, wrk -t1 -c50 -d${seconds}s (median of ${rounds} alternating rounds)`,
    ['workers', 'upstream keepalive', 'body', 'nginx req/s', 'nodinx req/s', 'node floor req/s', 'nodinx/nginx', 'floor/nginx',
      'nginx p99 ms', 'nodinx p99 ms', 'floor p99 ms', 'p99 nodinx/nginx'], rows);
  for (const note of notes) console.log(`not measured: ${note}`);
  const target = rows.find((r) => r[0] === 1 && r[2] === '100 B' && r[1] === 'on');
  if (target && target[6] !== '-') {
    const ok = Number(target[6]) >= 0.8 && Number(target[11]) <= 1.5;
    console.log(`target: 1 worker, 100 B, keepalive: nodinx >= 0.8x nginx req/s with p99 <= 1.5x: ${ok ? 'met' : 'NOT met'} (${target[6]}x, p99 ${target[11]}x)`);
  }
}

