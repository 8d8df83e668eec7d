// Log writers and the access log end to end.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, require, NGINX, haveNginx, table, median, freePort, connects, timeToListen, wrkMs, wrk, started, stopped, startedOrFailed } from './common.mjs';

/**
 * Log writing (issue 7): 1e6 combined-format lines through nodinx's access
 * log writer and through sonic-boom (pino's destination; pino itself only
 * formats objects, and nginx's lines come formatted), unbuffered and with
 * buffer=64k flush=1s, renaming the file and reopening half-way as
 * logrotate does. Lines arrive 50 per event-loop turn, as from 50 busy
 * connections, then (a tenth as many) one per turn, the worst case for a
 * writer that writes once a turn. Each run is checked: every line once, in
 * order, across the two files.
 */
export async function benchLogWriters() {
  const { LogFile } = require(path.join(ROOT, 'dist/http/log-file.js'));
  const SonicBoom = require('sonic-boom');
  const N = Number(process.env.BENCH_LOG_LINES ?? 1e6);
  if (N === 0) return; // BENCH_LOG_LINES=0: the end-to-end part only
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-bench-log-')));
  const head = '127.0.0.1 - - [25/Nov/2026:11:07:20 +0000] "GET /index.html?page=';
  const tail = ' HTTP/1.1" 200 615 "http://example.com/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"\n';
  const errors = [];
  const writers = {
    'nodinx': (file) => new LogFile(file, (m) => errors.push(m)),
    'nodinx buffer=64k flush=1s': (file) => new LogFile(file, (m) => errors.push(m), 64 * 1024, 1000),
    'sonic-boom': (file) => sonic(file, 0, 0, false),
    'sonic-boom minLength=64k periodicFlush=1s': (file) => sonic(file, 64 * 1024, 1000, false),
    'sonic-boom sync': (file) => sonic(file, 0, 0, true),
    'sonic-boom sync minLength=64k periodicFlush=1s': (file) => sonic(file, 64 * 1024, 1000, true),
  };
  function sonic(file, minLength, periodicFlush, sync) {
    const s = new SonicBoom({ dest: file, append: true, contentMode: 'buffer', minLength, maxWrite: 1024 * 1024, periodicFlush, sync, mkdir: false });
    s.on('error', (e) => errors.push(e.message));
    return {
      write: (line) => s.write(Buffer.from(line, 'latin1')),
      reopen: () => s.reopen(),
      close: () => new Promise((resolve) => { s.once('close', resolve); s.end(); }),
    };
  }
  async function run(make, N, perTurn) {
    const file = path.join(dir, 'access.log');
    for (const f of [file, file + '.1']) fs.rmSync(f, { force: true });
    const w = make(file);
    await new Promise((r) => setTimeout(r, 50)); // an asynchronous open completes
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N;) {
      for (const end = Math.min(N, i + perTurn); i < end; i++) {
        w.write(head + i + tail);
        if (i === Math.floor(N / 2)) {
          fs.renameSync(file, file + '.1');
          w.reopen();
        }
      }
      await new Promise(setImmediate);
    }
    await w.close();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const text = fs.readFileSync(file + '.1', 'latin1') + fs.readFileSync(file, 'latin1');
    const lines = text.split('\n');
    lines.pop();
    const ok = lines.length === N && lines.every((l, i) => l.startsWith(head + i + ' '));
    if (!ok) throw new Error(`log bench: ${lines.length} lines of ${N}, or out of order`);
    return ms;
  }
  // rounds alternate the writers, so load from elsewhere falls on all
  for (const [perTurn, lines, only] of [[50, N, undefined], [1, Math.floor(N / 10), ['nodinx', 'sonic-boom']]]) {
    const chosen = Object.entries(writers).filter(([label]) => !only || only.includes(label));
    const runs = Object.fromEntries(chosen.map(([k]) => [k, []]));
    for (let k = 0; k < rounds; k++) for (const [label, make] of chosen) runs[label].push(await run(make, lines, perTurn));
    const rows = Object.entries(runs).map(([label, xs]) => {
      const ms = median(xs);
      return [label, ms.toFixed(0), ((lines / ms) * 1000).toFixed(0)];
    });
    if (errors.length) throw new Error(`log bench: ${errors[0]}`);
    table(`Access log writers: ${lines} lines, ${perTurn} per event-loop turn, rename + reopen half-way (median of ${rounds})`,
      ['writer', 'ms', 'lines/s'], rows);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A process's user + system CPU time in clock ticks (1/100 s), from /proc. */
function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * The writers end to end: wrk -t1 -c50 on a 1 KiB static file, one
 * process each, with access_log off, on, and buffer=64k flush=1s: nodinx,
 * nodinx with sonic-boom as its access-log writer (preloaded by
 * scripts/bench-sonic-log.cjs) and nginx; rounds alternate, the median
 * counts. What logging costs a request is the difference to "off".
 */
export async function benchLogEndToEnd() {
  if (spawnSync('wrk', ['--version']).error) {
    console.log('\nAccess log end to end: skipped (wrk not installed)');
    return;
  }
  const seconds = Number(process.env.BENCH_WRK_SECONDS ?? 3);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-bench-log-e2e-')));
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.mkdirSync(path.join(dir, 'html'));
  fs.writeFileSync(path.join(dir, 'html', '1k.bin'), Buffer.alloc(1024, 'x'));
  // every (config, server) pair runs once a round, so the machine's other load falls on all alike
  const cases = [];
  for (const [label, log] of [['off', 'access_log off;'], ['on', 'access_log logs/access.log;'], ['buffer=64k flush=1s', 'access_log logs/access.log combined buffer=64k flush=1s;']]) {
    const port = await freePort();
    const conf = path.join(dir, `${label.replace(/\W/g, '')}.conf`);
    fs.writeFileSync(conf, `events { worker_connections 1024; }\nhttp {\n  ${log}\n  server { listen 127.0.0.1:${port}; location / { root html; } }\n}\n`);
    const common = ['-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', conf];
    const nodinx = [path.join(ROOT, 'bin/nodinx'), ...common, '-g', 'daemon off; master_process off;'];
    const c = { label, port, runs: { nodinx: [], sonic: [], nginx: [] }, cpu: { nodinx: [], sonic: [], nginx: [] }, servers: [['nodinx', process.execPath, nodinx]] };
    if (label !== 'off') c.servers.push(['sonic', process.execPath, ['-r', path.join(ROOT, 'scripts/bench-sonic-log.cjs'), ...nodinx]]);
    if (haveNginx) c.servers.push(['nginx', NGINX, [...common, '-g', `daemon off; master_process off; pid ${dir}/nginx.pid;`]]);
    cases.push(c);
  }
  for (let k = 0; k < rounds; k++) {
    for (const c of cases) {
      for (const [who, cmd, args] of c.servers) {
        const child = await started(cmd, args, c.port);
        try {
          // a busy machine may hold a response past wrk's default 2 s timeout
          wrk(`http://127.0.0.1:${c.port}/1k.bin`, 1, ['--timeout', '10s']);
          const t0 = cpuTicks(child.pid);
          const r = wrk(`http://127.0.0.1:${c.port}/1k.bin`, seconds, ['--timeout', '10s']);
          c.runs[who].push(r.rps);
          c.cpu[who].push(((cpuTicks(child.pid) - t0) * 1e4) / (r.rps * seconds));
        } finally {
          await stopped(child);
        }
        fs.rmSync(path.join(dir, 'logs/access.log'), { force: true });
      }
    }
  }
  const fig = (xs, digits = 0) => (xs.length ? median(xs).toFixed(digits) : '-');
  const rows = cases.map(({ label, runs, cpu }) =>
    [label, fig(runs.nodinx), fig(runs.sonic), fig(runs.nginx), fig(cpu.nodinx, 1), fig(cpu.sonic, 1), fig(cpu.nginx, 1)]);
  table(`Access log end to end: 1 KiB file, wrk -t1 -c50 -d${seconds}s, one process each, rounds alternate (median of ${rounds}); ` +
    'CPU µs per request (the server\'s user+system time over its requests) is what the writer costs, req/s also what the machine\'s other load took',
    ['access_log', 'nodinx req/s', 'sonic-boom req/s', 'nginx req/s', 'nodinx CPU µs/req', 'sonic-boom CPU µs/req', 'nginx CPU µs/req'], rows);
  fs.rmSync(dir, { recursive: true, force: true });
}

