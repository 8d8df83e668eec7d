#!/usr/bin/env node
// npm run bench: nodinx beside nginx on the same work, in the same run, as
// ratios (absolute figures on a shared 2-core machine mean little).
// Sections: start-up, config load (issue "Config language"), static files
// (issue "Static file throughput"), proxy (issue "Reverse proxy and upstream
// load balancing"); others join as they land.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';
const haveNginx = fs.existsSync(NGINX);

function table(title, header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => '| ' + cells.map((c, i) => String(c).padStart(widths[i])).join(' | ') + ' |';
  console.log(`\n${title}\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function generate(dir, servers, locationsPerServer) {
  const out = [
    'worker_processes 1;', 'events { worker_connections 1024; }', 'http {',
    '  server_names_hash_max_size 131072;', '  server_names_hash_bucket_size 128;', '  default_type text/plain;',
  ];
  const kinds = [
    (i, j) => `location / { root html; index index.html; }`,
    (i, j) => `location = /exact/${i}/${j} { root html; }`,
    (i, j) => `location ^~ /static/${j}/ { alias html/; }`,
    (i, j) => `location ~ ^/api/v[0-9]+/${j}/(?<rest>.*)$ { root html; }`,
    (i, j) => `location /app/${j}/ { root html; location /app/${j}/nested/ { root html; } }`,
  ];
  for (let i = 0; i < servers; i++) {
    out.push(`  server {`, `    listen 127.0.0.1:8080;`, `    server_name s${i}.example.com *.w${i}.example.com;`);
    for (let j = 0; j < locationsPerServer; j++) out.push(`    ${kinds[j % kinds.length](i, j)}`);
    out.push('  }');
  }
  out.push('}');
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, out.join('\n') + '\n');
  return file;
}

function benchConfigLoad() {
  const { loadConfig } = require(path.join(ROOT, 'dist/conf/load.js'));
  const rows = [];
  for (const servers of [1250, 2500, 5000, 10000]) {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-bench-')));
    fs.mkdirSync(path.join(dir, 'logs'));
    fs.mkdirSync(path.join(dir, 'html'));
    const file = generate(dir, servers, 5);
    const mb = (fs.statSync(file).size / 1048576).toFixed(1);
    const ours = [];
    for (let k = 0; k < 3; k++) {
      const t0 = process.hrtime.bigint();
      loadConfig({ prefix: dir, confFile: file });
      ours.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    let theirs = NaN;
    if (haveNginx) {
      const ts = [];
      for (let k = 0; k < 3; k++) {
        const t0 = process.hrtime.bigint();
        const r = spawnSync(NGINX, ['-t', '-q', '-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', file], { encoding: 'utf8' });
        ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (r.status !== 0) throw new Error(`nginx -t failed: ${r.stderr}`);
      }
      theirs = median(ts);
    }
    const m = median(ours);
    rows.push([servers, servers * 5, mb, m.toFixed(0), Number.isNaN(theirs) ? '-' : theirs.toFixed(0),
      Number.isNaN(theirs) ? '-' : (m / theirs).toFixed(2), (m / (servers * 5 / 1000)).toFixed(2)]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  table('Config load (nodinx in-process loadConfig vs nginx -t, median of 3)',
    ['servers', 'locations', 'MB', 'nodinx ms', 'nginx ms', 'nodinx/nginx', 'ms per 1k loc'], rows);
  const last = rows[rows.length - 1];
  console.log(`target: 10,000 servers / 50,000 locations under 2000 ms: ${Number(last[3]) < 2000 ? 'met' : 'NOT met'} (${last[3]} ms)`);
}

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function connects(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

/** Milliseconds from spawn to an accepted TCP connection. */
async function timeToListen(cmd, args) {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { stdio: 'ignore' });
  const m = /127\.0\.0\.1:(\d+)/.exec(fs.readFileSync(args[args.indexOf('-c') + 1], 'utf8'));
  while (!(await connects(Number(m[1])))) await new Promise((r) => setTimeout(r, 1));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return ms;
}

async function benchStartup() {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-bench-')));
  fs.mkdirSync(path.join(dir, 'logs'));
  const rows = [];
  let single = NaN;
  // the process that was started serves; then a master and one worker, the default
  for (const [label, model] of [['small config', 'master_process off;'], ['small config, master + 1 worker', 'worker_processes 1;']]) {
    const runs = { nodinx: [], nginx: [] };
    for (let k = 0; k < 7; k++) {
      const port = await freePort();
      const conf = path.join(dir, 'nginx.conf');
      fs.writeFileSync(conf, `events {}\nhttp {\n  access_log logs/access.log;\n  server { listen 127.0.0.1:${port}; location / { root html; } }\n}\n`);
      const common = ['-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', conf];
      runs.nodinx.push(await timeToListen(process.execPath, [path.join(ROOT, 'bin/nodinx'), ...common, '-g', `daemon off; ${model}`]));
      if (haveNginx) runs.nginx.push(await timeToListen(NGINX, [...common, '-g', `daemon off; ${model} pid ${dir}/nginx.pid;`]));
    }
    const a = median(runs.nodinx), b = haveNginx ? median(runs.nginx) : NaN;
    if (Number.isNaN(single)) single = a;
    rows.push([label, a.toFixed(0), Number.isNaN(b) ? '-' : b.toFixed(0), Number.isNaN(b) ? '-' : (a / b).toFixed(1)]);
  }
  table('Start-up: spawn to first accepted connection (median of 7)', ['config', 'nodinx ms', 'nginx ms', 'nodinx/nginx'], rows);
  console.log(`target: well under 300 ms: ${single < 300 ? 'met' : 'NOT met'} (${single.toFixed(0)} ms)`);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** wrk's figure ("87.84ms", "850.00us", "1.20s") in milliseconds. */
function wrkMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60000 }[m[2]];
}

function wrk(url, seconds, extra = []) {
  const r = spawnSync('wrk', ['-t1', '-c50', `-d${seconds}s`, '--latency', ...extra, url], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const p99 = wrkMs(/^\s+99%\s+(\S+)/m.exec(r.stdout)?.[1] ?? '');
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(r.stdout);
  if (errors) throw new Error(`wrk saw errors against ${url}: ${errors[0]}`);
  return { rps, p99 };
}

async function started(cmd, args, port) {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  while (!(await connects(port))) await new Promise((r) => setTimeout(r, 5));
  return child;
}

async function stopped(child) {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

/**
 * Static files (issue "Static file throughput"): one process each
 * (master_process off), wrk -t1 -c50, the same config for both, with and
 * without open_file_cache. Rounds alternate nodinx and nginx so load from
 * elsewhere on the machine falls on both; the median round counts.
 */
async function benchStatic() {
  if (spawnSync('wrk', ['--version']).error) {
    console.log('\nStatic files: skipped (wrk not installed: apt-get install wrk)');
    return;
  }
  const seconds = Number(process.env.BENCH_WRK_SECONDS ?? 5);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-bench-')));
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.mkdirSync(path.join(dir, 'html'));
  const files = [['1 KiB', '1k.bin', 1024], ['100 KiB', '100k.bin', 100 * 1024]];
  for (const [, name, size] of files) fs.writeFileSync(path.join(dir, 'html', name), Buffer.alloc(size, 'x'));
  const rows = [];
  const ratios = [];
  for (const [label, extra] of [['default', ''], ['open_file_cache', 'open_file_cache max=1000;']]) {
    const port = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(conf, `events { worker_connections 1024; }\nhttp {\n  access_log logs/access.log;\n  ${extra}\n  server { listen 127.0.0.1:${port}; location / { root html; } }\n}\n`);
    const common = ['-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', conf];
    const servers = [['nodinx', process.execPath, [path.join(ROOT, 'bin/nodinx'), ...common, '-g', 'daemon off; master_process off;']]];
    if (haveNginx) servers.push(['nginx', NGINX, [...common, '-g', `daemon off; master_process off; pid ${dir}/nginx.pid;`]]);
    for (const [size, name] of files) {
      const runs = { nodinx: [], nginx: [] };
      for (let k = 0; k < rounds; k++) {
        for (const [who, cmd, args] of servers) {
          const child = await started(cmd, args, port);
          try {
            // JIT warm-up (and nginx's first opens) stay out of the figures
            wrk(`http://127.0.0.1:${port}/${name}`, 1);
            runs[who].push(wrk(`http://127.0.0.1:${port}/${name}`, seconds));
          } finally {
            await stopped(child);
          }
        }
      }
      const pick = (xs) => (xs.length ? { rps: median(xs.map((x) => x.rps)), p99: median(xs.map((x) => x.p99)) } : undefined);
      const a = pick(runs.nodinx), b = pick(runs.nginx);
      const ratio = b ? a.rps / b.rps : NaN;
      if (b) ratios.push(ratio);
      rows.push([label, size, a.rps.toFixed(0), b ? b.rps.toFixed(0) : '-', b ? ratio.toFixed(2) : '-',
        a.p99.toFixed(2), b ? b.p99.toFixed(2) : '-', b ? (a.p99 / b.p99).toFixed(1) : '-']);
    }
  }
  table(`Static files: wrk -t1 -c50 -d${seconds}s, one process each (median of ${rounds} alternating rounds)`,
    ['config', 'file', 'nodinx req/s', 'nginx req/s', 'req/s nodinx/nginx', 'nodinx p99 ms', 'nginx p99 ms', 'p99 nodinx/nginx'], rows);
  if (ratios.length) {
    const worst = Math.min(...ratios);
    console.log(`target: at least 0.5x nginx's req/s for 1 KiB and 100 KiB: ${worst >= 0.5 ? 'met' : 'NOT met'} (worst ${worst.toFixed(2)}x)`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * gzip (issue "Static content" item 5): a 100 KiB text file compressed on
 * every request at the same gzip_comp_level, one process each, wrk -t1 -c50
 * sending Accept-Encoding: gzip; rounds alternate, the median counts.
 */
async function benchGzip() {
  if (spawnSync('wrk', ['--version']).error || !haveNginx) {
    console.log('\ngzip: skipped (needs wrk and nginx)');
    return;
  }
  const seconds = Number(process.env.BENCH_WRK_SECONDS ?? 3);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const level = Number(process.env.BENCH_GZIP_LEVEL ?? 1);
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-bench-gzip-')));
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.mkdirSync(path.join(dir, 'html'));
  let text = '';
  for (let i = 0; text.length < 100 * 1024; i++) text += `${i} the quick brown fox jumps over the lazy dog ${(i * 7919) % 1000}\n`;
  fs.writeFileSync(path.join(dir, 'html', '100k.txt'), text.slice(0, 100 * 1024));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, `events { worker_connections 1024; }\nhttp {\n  access_log off;\n  types { text/plain txt; }\n  gzip on; gzip_types text/plain; gzip_comp_level ${level};\n  server { listen 127.0.0.1:${port}; location / { root html; } }\n}\n`);
  const common = ['-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', conf];
  const servers = [
    ['nodinx', process.execPath, [path.join(ROOT, 'bin/nodinx'), ...common, '-g', 'daemon off; master_process off;']],
    ['nginx', NGINX, [...common, '-g', `daemon off; master_process off; pid ${dir}/nginx.pid;`]],
  ];
  const url = `http://127.0.0.1:${port}/100k.txt`;
  const runs = { nodinx: [], nginx: [] };
  for (let k = 0; k < rounds; k++) {
    for (const [who, cmd, args] of servers) {
      const child = await started(cmd, args, port);
      try {
        // a compressing server under 50 connections on a busy machine may pass wrk's default 2s timeout
        const extra = ['-H', 'Accept-Encoding: gzip', '--timeout', '10s'];
        wrk(url, 1, extra);
        runs[who].push(wrk(url, seconds, extra).rps);
      } finally {
        await stopped(child);
      }
    }
  }
  const a = median(runs.nodinx), b = median(runs.nginx);
  table(`gzip: 100 KiB text, gzip_comp_level ${level}, wrk -t1 -c50 -d${seconds}s, one process each (median of ${rounds} rounds)`,
    ['nodinx req/s', 'nginx req/s', 'req/s nodinx/nginx'], [[a.toFixed(0), b.toFixed(0), (a / b).toFixed(2)]]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A small Node backend answering /100 and /10k with 100 B and 10 KiB bodies (a child process of its own). */
const BACKEND_JS = `
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

/** Starts a server and waits for its port; rejects if it exits first (a config nodinx cannot read yet). */
async function startedOrFailed(cmd, args, port, ms = 15000) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + ms;
  while (!(await connects(port))) {
    if (exited) throw new Error(stderr.trim().split('\n')[0] || 'exited');
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('did not listen');
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return child;
}

/**
 * Proxying (issue "Reverse proxy and upstream load balancing"): the same
 * Node backend behind nginx, nodinx and a plain node:http proxy (the floor),
 * wrk -t1 -c50, 100 B and 10 KiB bodies, 1 and 2 worker processes, upstream
 * keep-alive on (keepalive 32, HTTP/1.1) and off (nginx's default HTTP/1.0,
 * a connection per request). Servers alternate within a round; the median
 * round counts.
 */
async function benchProxy() {
  if (spawnSync('wrk', ['--version']).error || !haveNginx) {
    console.log('\nProxy: skipped (needs wrk and nginx)');
    return;
  }
  const seconds = Number(process.env.BENCH_WRK_SECONDS ?? 3);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
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

/**
 * Sessions (issue 8): requests/s through a proxy to one demo app server
 * with MSM sessions in two memcached (one cookie, its count written on
 * every request) against the same app without sessions, as a ratio. The
 * proxy is nodinx when it can load the example config, else nginx.
 */
async function benchSession() {
  const memcached = '/usr/bin/memcached';
  if (spawnSync('wrk', ['--version']).error || !fs.existsSync(memcached)) {
    console.log('\nSessions: skipped (needs wrk and memcached)');
    return;
  }
  const seconds = Number(process.env.BENCH_WRK_SECONDS ?? 3);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-bench-session-')));
  fs.mkdirSync(path.join(dir, 'logs'));
  const mcPorts = [await freePort(), await freePort()];
  const root = typeof process.getuid === 'function' && process.getuid() === 0 ? ['-u', 'root'] : [];
  const mcs = [];
  for (const p of mcPorts) mcs.push(await started(memcached, ['-l', '127.0.0.1', '-p', String(p), '-U', '0', ...root], p));
  const nodes = `n1:127.0.0.1:${mcPorts[0]} n2:127.0.0.1:${mcPorts[1]}`;
  const appPort = await freePort();
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, `events { worker_connections 1024; }\nhttp {\n  access_log off;\n  upstream tom { server 127.0.0.1:${appPort}; keepalive 16; }\n  server { listen 127.0.0.1:${port}; location /test1 { proxy_pass http://tom/; proxy_http_version 1.1; proxy_set_header Connection ""; } }\n}\n`);
  const common = ['-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', conf];
  const nodinxOk = spawnSync(process.execPath, [path.join(ROOT, 'bin/nodinx'), '-t', ...common]).status === 0;
  const [who, cmd, args] = nodinxOk
    ? ['nodinx', process.execPath, [path.join(ROOT, 'bin/nodinx'), ...common, '-g', 'daemon off; master_process off;']]
    : ['nginx', NGINX, [...common, '-g', `daemon off; master_process off; pid ${dir}/nginx.pid;`]];
  const proxy = await started(cmd, args, port);
  const demo = path.join(ROOT, 'bin/nodinx-demo');
  const url = `http://127.0.0.1:${port}/test1`;
  const runs = { with: [], without: [] };
  try {
    for (let k = 0; k < rounds; k++) {
      for (const mode of ['with', 'without']) {
        const extra = mode === 'with' ? ['--memcached-nodes', nodes] : ['--no-sessions'];
        const app = await started(process.execPath, [demo, '--name', 'bench', '--listen', `127.0.0.1:${appPort}`, ...extra], appPort);
        try {
          let cookie = [];
          if (mode === 'with') {
            const res = await fetch(url);
            cookie = ['-H', `Cookie: ${res.headers.getSetCookie()[0].split(';')[0]}`];
          }
          wrk(url, 1, cookie);
          runs[mode].push(wrk(url, seconds, cookie).rps);
        } finally {
          await stopped(app);
        }
      }
    }
  } finally {
    await stopped(proxy);
    for (const m of mcs) await stopped(m);
  }
  const a = median(runs.with), b = median(runs.without);
  table(`Sessions: demo app behind ${who}, one session (written every request) vs no sessions, wrk -t1 -c50 -d${seconds}s (median of ${rounds} rounds)`,
    ['with sessions req/s', 'without req/s', 'with/without'], [[a.toFixed(0), b.toFixed(0), (a / b).toFixed(2)]]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Sticky sessions (issue "Sessions that survive the pool"): nodinx alone
 * (nginx OSS has no `sticky`), two Node backends, 100 B, 1 worker, upstream
 * keep-alive; plain round robin against the same upstream with `sticky
 * cookie` (every request carries the cookie of one server), `sticky route`
 * (the jvmRoute of a JSESSIONID) and `sticky learn` (a session learned in
 * the zone). Reported as sticky/plain ratios of req/s.
 */
async function benchSticky() {
  if (spawnSync('wrk', ['--version']).error) {
    console.log('\nSticky: skipped (needs wrk)');
    return;
  }
  const seconds = Number(process.env.BENCH_WRK_SECONDS ?? 3);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-bench-sticky-')));
  fs.mkdirSync(path.join(dir, 'logs'));
  const ports = [await freePort(), await freePort()];
  const backends = [];
  for (const p of ports) backends.push(await startedOrFailed(process.execPath, ['-e', BACKEND_JS, String(p)], p));
  const variants = [
    ['round robin', '', []],
    ['sticky cookie', 'sticky cookie srv;', ['-H', 'Cookie: srv=b']],
    ['sticky route', 'sticky route $cookie_jsessionid;', ['-H', 'Cookie: JSESSIONID=0123456789ABCDEF-n1.b']],
    // the backend sets no cookie: the first response "creates" the client's session, later ones look it up
    ['sticky learn', 'sticky learn create=$cookie_jsessionid lookup=$cookie_jsessionid zone=s:1m;', ['-H', 'Cookie: JSESSIONID=S1']],
  ];
  const rows = [];
  const notes = new Set();
  try {
    const results = {};
    for (let k = 0; k < rounds; k++) {
      for (const [name, sticky, extra] of variants) {
        const port = await freePort();
        const conf = path.join(dir, 'nginx.conf');
        fs.writeFileSync(conf, `worker_processes 1;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n` +
          `  upstream backend { server 127.0.0.1:${ports[0]} route=a; server 127.0.0.1:${ports[1]} route=b; keepalive 32; ${sticky} }\n` +
          `  server { listen 127.0.0.1:${port}; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } }\n}\n`);
        let child;
        try {
          child = await startedOrFailed(process.execPath, [path.join(ROOT, 'bin/nodinx'), '-p', dir + '/', '-e', path.join(dir, 'logs/error.log'),
            '-c', conf, '-g', `daemon off; pid ${dir}/nodinx.pid;`], port);
          const url = `http://127.0.0.1:${port}/100`;
          wrk(url, 1, extra);
          (results[name] ??= []).push(wrk(url, seconds, extra));
        } catch (e) {
          notes.add(`${name}: ${e.message}`);
        } finally {
          if (child) await stopped(child);
        }
      }
    }
    const base = results['round robin'] ? median(results['round robin'].map((x) => x.rps)) : NaN;
    for (const [name] of variants) {
      const xs = results[name];
      if (!xs) continue;
      const rps = median(xs.map((x) => x.rps));
      rows.push([name, rps.toFixed(0), median(xs.map((x) => x.p99)).toFixed(2), Number.isNaN(base) ? '-' : (rps / base).toFixed(2)]);
    }
  } finally {
    for (const b of backends) await stopped(b);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  table(`Sticky: nodinx, 1 worker, two Node backends, 100 B, wrk -t1 -c50 -d${seconds}s (median of ${rounds})`,
    ['upstream', 'req/s', 'p99 ms', 'vs round robin'], rows);
  for (const note of notes) console.log(`not measured: ${note}`);
}

if (!fs.existsSync(path.join(ROOT, 'dist/conf/load.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
// BENCH_ONLY=static (or startup, config, gzip, proxy, session, sticky) runs one section
const only = process.env.BENCH_ONLY;
if (!only || only === 'startup') await benchStartup();
if (!only || only === 'config') benchConfigLoad();
if (!only || only === 'static') await benchStatic();
if (!only || only === 'gzip') await benchGzip();
if (!only || only === 'proxy') await benchProxy();
if (!only || only === 'session') await benchSession();
if (!only || only === 'sticky') await benchSticky();
