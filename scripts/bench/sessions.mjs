// Sessions (MSM store) and sticky routing through the proxy.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BACKEND_JS } from './proxy.mjs';
import { ROOT, require, NGINX, haveNginx, table, median, freePort, connects, timeToListen, wrkMs, wrk, started, stopped, startedOrFailed } from './common.mjs';

/**
 * Sessions (issue 8): requests/s through a proxy to one demo app server
 * with MSM sessions in two memcached (one cookie, its count written on
 * every request) against the same app without sessions, as a ratio. The
 * proxy is nodinx when it can load the example config, else nginx.
 */
export async function benchSession() {
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
export async function benchSticky() {
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

