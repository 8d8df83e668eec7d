// Start-up time and config load time.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, require, NGINX, haveNginx, table, median, freePort, connects, timeToListen, wrkMs, wrk, started, stopped, startedOrFailed } from './common.mjs';

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

export function benchConfigLoad() {
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


export async function benchStartup() {
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

