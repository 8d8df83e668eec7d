#!/usr/bin/env node
// npm run bench: nodinx beside nginx on the same work, in the same run, as
// ratios (absolute figures on a shared 2-core machine mean little).
// Sections: config load (issue "Config language"); others join as they land.
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

if (!fs.existsSync(path.join(ROOT, 'dist/conf/load.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
await benchStartup();
benchConfigLoad();
