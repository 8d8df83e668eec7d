// What every bench section shares: paths, tables, ports, wrk and process helpers.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const require = createRequire(import.meta.url);
export const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';
export const haveNginx = fs.existsSync(NGINX);

export function table(title, header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => '| ' + cells.map((c, i) => String(c).padStart(widths[i])).join(' | ') + ' |';
  console.log(`\n${title}\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function connects(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

/** Milliseconds from spawn to an accepted TCP connection. */
export async function timeToListen(cmd, args) {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { stdio: 'ignore' });
  const m = /127\.0\.0\.1:(\d+)/.exec(fs.readFileSync(args[args.indexOf('-c') + 1], 'utf8'));
  while (!(await connects(Number(m[1])))) await new Promise((r) => setTimeout(r, 1));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return ms;
}


/** wrk's figure ("87.84ms", "850.00us", "1.20s") in milliseconds. */
export function wrkMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60000 }[m[2]];
}

export function wrk(url, seconds, extra = []) {
  const r = spawnSync('wrk', ['-t1', '-c50', `-d${seconds}s`, '--latency', ...extra, url], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const p99 = wrkMs(/^\s+99%\s+(\S+)/m.exec(r.stdout)?.[1] ?? '');
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(r.stdout);
  if (errors) throw new Error(`wrk saw errors against ${url}: ${errors[0]}`);
  return { rps, p99 };
}

export async function started(cmd, args, port) {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  while (!(await connects(port))) await new Promise((r) => setTimeout(r, 5));
  return child;
}

export async function stopped(child) {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}


/** Starts a server and waits for its port; rejects if it exits first (a config nodinx cannot read yet). */
export async function startedOrFailed(cmd, args, port, ms = 15000) {
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

