import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { ensurePackages } from '../global-setup';
import { freePort, waitForPort } from './ports';

// Real memcached servers for the session tests: Debian's memcached, started
// on free loopback ports and stopped by the test; and a TCP server that
// accepts and never answers, to stand for a node that hangs.

export const MEMCACHED = '/usr/bin/memcached';

export function ensureMemcached(): void {
  ensurePackages({ memcached: 'memcached' });
}

export interface Memcached {
  port: number;
  /** `id:127.0.0.1:port` for memcachedNodes */
  node(id: string): string;
  stop(): Promise<void>;
  /** starts it again on the same port (empty, as a restarted memcached is) */
  start(): Promise<void>;
  stats(): Promise<Record<string, number>>;
  /** the operations memcached counted: get, set, add, delete, touch */
  ops(): Promise<number>;
}

export async function startMemcached(): Promise<Memcached> {
  ensureMemcached();
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const m: Memcached = {
    port,
    node: (id) => `${id}:127.0.0.1:${port}`,
    async start() {
      const c = spawn(MEMCACHED, [
        '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16', '-t', '1',
        // memcached refuses to run as root unless told whom to run as
        ...(process.getuid?.() === 0 ? ['-u', 'root'] : []),
      ], { stdio: 'ignore' });
      child = c;
      exited = new Promise((resolve) => c.once('exit', () => resolve()));
      await waitForPort(port);
    },
    async stop() {
      if (child && child.exitCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
      await exited;
      child = undefined;
    },
    stats: () => memcachedStats(port),
    async ops() {
      const s = await memcachedStats(port);
      return s.cmd_get + s.cmd_set + s.cmd_touch + s.delete_hits + s.delete_misses;
    },
  };
  await m.start();
  return m;
}

/** `stats` over the text protocol, numbers only. */
export function memcachedStats(port: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.on('connect', () => s.write('stats\r\n'));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (!buf.endsWith('END\r\n')) return;
      s.destroy();
      const out: Record<string, number> = {};
      for (const line of buf.split('\r\n')) {
        const m = /^STAT (\S+) (\S+)$/.exec(line);
        if (m && /^-?[\d.]+$/.test(m[2])) out[m[1]] = Number(m[2]);
      }
      resolve(out);
    });
    s.on('error', reject);
  });
}

/** A server that accepts connections and never answers (a hung memcached). */
export async function startBlackhole(): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
  return {
    port,
    stop: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    }),
  };
}

/** The remaining TTL of a key by memcached's meta get (-1: never expires; undefined: missing). */
export function memcachedTtl(port: number, key: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.on('connect', () => s.write(`mg ${key} t\r\n`));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (!buf.endsWith('\r\n')) return;
      s.destroy();
      const m = /^HD t(-?\d+)/.exec(buf);
      resolve(m ? Number(m[1]) : undefined);
    });
    s.on('error', reject);
  });
}
