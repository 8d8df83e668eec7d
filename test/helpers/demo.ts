import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { freePort, waitForPort } from './ports';

// bin/nodinx-demo as a real process (dist/ built by `npm test` first).

const BIN = path.resolve(__dirname, '../../bin/nodinx-demo');

export interface DemoProcess {
  name: string;
  port: number;
  log(): string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDemoProcess(name: string, memcachedNodes: string, extra: string[] = []): Promise<DemoProcess> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';
  const d: DemoProcess = {
    name, port,
    log: () => log,
    async start() {
      const c = spawn(process.execPath, [BIN, '--name', name, '--listen', `127.0.0.1:${port}`, '--memcached-nodes', memcachedNodes, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      c.stderr!.on('data', (b) => (log += b));
      exited = new Promise((resolve) => c.once('exit', () => resolve()));
      await Promise.race([waitForPort(port), exited.then(() => {
        throw new Error(`nodinx-demo ${name} exited: ${log}`);
      })]);
    },
    async stop() {
      if (child && child.exitCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
      await exited;
      child = undefined;
    },
  };
  await d.start();
  return d;
}

/** A client that keeps its cookies, as a browser does (one jar, no domain rules: all loopback). */
export class CookieClient {
  readonly cookies = new Map<string, string>();
  async get(url: string): Promise<{ status: number; body: string; setCookie: string[] }> {
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { headers, redirect: 'manual' });
    const setCookie = res.headers.getSetCookie();
    for (const c of setCookie) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return { status: res.status, body: await res.text(), setCookie };
  }
}

/** The demo's answer: { from, session, count }. */
export function demoAnswer(body: string): { from: string; session: string; count: number } {
  const m = /^from (.*)\nsession: (.*)\ncount: (\d+)\n$/.exec(body);
  if (!m) throw new Error(`not the demo's answer: ${JSON.stringify(body)}`);
  return { from: m[1], session: m[2], count: Number(m[3]) };
}
