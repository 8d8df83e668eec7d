// Static files and gzip.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, require, NGINX, haveNginx, table, median, freePort, connects, timeToListen, wrkMs, wrk, started, stopped, startedOrFailed } from './common.mjs';

/**
 * Static files (issue "Static file throughput"): one process each
 * (master_process off), wrk -t1 -c50, the same config for both, with and
 * without open_file_cache. Rounds alternate nodinx and nginx so load from
 * elsewhere on the machine falls on both; the median round counts.
 */
export async function benchStatic() {
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
 * gzip (issue "Static content" item 5): a 100 KiB text file at the same
 * gzip_comp_level, one process each, wrk -t1 -c50 sending Accept-Encoding:
 * gzip; rounds alternate, the median counts. nodinx keeps the compressed
 * bytes of a file it keeps in memory (up to 128 KiB), so a 200 KiB file is
 * measured too: that one it compresses on every request, as nginx does.
 */
export async function benchGzip() {
  if (spawnSync('wrk', ['--version']).error || !haveNginx) {
    console.log('\ngzip: skipped (needs wrk and nginx)');
    return;
  }
  const seconds = Number(process.env.BENCH_WRK_SECONDS ?? 3);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-bench-gzip-')));
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.mkdirSync(path.join(dir, 'html'));
  let text = '';
  for (let i = 0; text.length < 200 * 1024; i++) text += `${i} the quick brown fox jumps over the lazy dog ${(i * 7919) % 1000}\n`;
  fs.writeFileSync(path.join(dir, 'html', '100k.txt'), text.slice(0, 100 * 1024));
  fs.writeFileSync(path.join(dir, 'html', '200k.txt'), text.slice(0, 200 * 1024));
  // BENCH_GZIP_LEVEL=1,6 (the default): one table row per level
  const levels = String(process.env.BENCH_GZIP_LEVEL ?? '1,6').split(',').map(Number);
  const rows = [];
  for (const level of levels) {
    const port = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(conf, `events { worker_connections 1024; }\nhttp {\n  access_log off;\n  types { text/plain txt; }\n  gzip on; gzip_types text/plain; gzip_comp_level ${level};\n  server { listen 127.0.0.1:${port}; location / { root html; } }\n}\n`);
    const common = ['-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', conf];
    const servers = [
      ['nodinx', process.execPath, [path.join(ROOT, 'bin/nodinx'), ...common, '-g', 'daemon off; master_process off;']],
      ['nginx', NGINX, [...common, '-g', `daemon off; master_process off; pid ${dir}/nginx.pid;`]],
    ];
    for (const [file, what] of [['100k.txt', '100 KiB (nodinx: kept compressed)'], ['200k.txt', '200 KiB (compressed per request)']]) {
      const url = `http://127.0.0.1:${port}/${file}`;
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
      rows.push([level, what, a.toFixed(0), b.toFixed(0), (a / b).toFixed(2)]);
    }
  }
  table(`gzip: text files, wrk -t1 -c50 -d${seconds}s, one process each (median of ${rounds} alternating rounds)`,
    ['gzip_comp_level', 'file', 'nodinx req/s', 'nginx req/s', 'req/s nodinx/nginx'], rows);
  const worst = Math.min(...rows.map((r) => Number(r[4])));
  console.log(`target: at least 1x nginx's req/s at the same level: ${worst >= 1 ? 'met' : 'NOT met'} (worst ${worst.toFixed(2)}x)`);
  fs.rmSync(dir, { recursive: true, force: true });
}

