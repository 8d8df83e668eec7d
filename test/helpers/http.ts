import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/conf/load';
import { HttpRuntime } from '../../src/http/runtime';
import { ErrorLog } from '../../src/process/error-log';
import { freePort, waitForPort } from './ports';
import { ensurePackages } from '../global-setup';

export { freePort };

// Helpers for tests that run nodinx and the real nginx side by side on the
// same configuration and compare what they answer on the wire.

export const NGINX = '/usr/sbin/nginx';

/** Installs Debian's nginx when it is missing, without letting the package start it. */
export function ensureNginx(): void {
  ensurePackages({ [NGINX]: 'nginx' });
}

export function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `nodinx-${name}-`));
}

/** Writes files under dir: { 'html/index.html': '...' }; a fixed mtime keeps ETags comparable. */
export function writeTree(dir: string, files: Record<string, string | Buffer>, mtime = 1700000000): void {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    fs.mkdirSync(name.endsWith('/') ? file : path.dirname(file), { recursive: true });
    if (name.endsWith('/')) continue;
    fs.writeFileSync(file, content);
    fs.utimesSync(file, mtime, mtime);
  }
}

export interface Running {
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** The real nginx in the foreground, single process, on dir as its prefix. */
export async function startNginx(dir: string, port: number): Promise<Running> {
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const child: ChildProcess = spawn(NGINX, [
    '-p', dir + '/', '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'logs/error.log'),
    '-g', `daemon off; master_process off; pid ${dir}/nginx.pid;`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([waitForPort(port), exited.then(() => {
      throw new Error(`nginx exited: ${stderr}`);
    })]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    port, dir,
    async stop() {
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
      await exited;
    },
  };
}

/** nodinx in this process: the config loaded and served by HttpRuntime. */
export async function startNodinx(dir: string, port: number, errorLevel: 'error' | 'info' = 'error'): Promise<Running & { runtime: HttpRuntime }> {
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const cycle = loadConfig({ prefix: dir, confFile: 'nginx.conf' });
  const errorLog = new ErrorLog();
  errorLog.open([{ file: path.join(dir, 'logs/error.log'), level: errorLevel, debug: false }]);
  const runtime = new HttpRuntime({ errorLog });
  await runtime.listen(cycle);
  return {
    port, dir, runtime,
    async stop() {
      await runtime.close(false);
      errorLog.close();
    },
  };
}

export interface RawResponse {
  statusLine: string;
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
  /** the server closed the connection after the response */
  closed: boolean;
}

export function header(res: RawResponse, name: string): string | undefined {
  return res.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}

/**
 * Sends raw bytes and reads one response: to the end of Content-Length (or
 * the close). `head` says the response has no body.
 */
export function rawRequest(port: number, request: string | Buffer, opts: { head?: boolean; wait?: number } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let parsed: RawResponse | undefined;
    let bodyStart = -1;
    let want = -1;
    const timer = setTimeout(() => finish(true), opts.wait ?? 5000);
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      if (!parsed) {
        reject(new Error(`no response: ${JSON.stringify(buf.toString('latin1'))}`));
        return;
      }
      parsed.body = buf.subarray(bodyStart, want >= 0 ? bodyStart + want : buf.length);
      parsed.closed = closed;
      resolve(parsed);
    };
    sock.on('connect', () => sock.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!parsed) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const statusLine = lines.shift()!;
        const headers = lines.map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
        parsed = { statusLine, status: Number(statusLine.split(' ')[1]), headers, body: Buffer.alloc(0), closed: false };
        bodyStart = end + 4;
        const cl = header(parsed, 'content-length');
        want = opts.head || parsed.status === 304 || parsed.status === 204 ? 0 : cl !== undefined ? Number(cl) : -1;
      }
      if (want >= 0 && buf.length >= bodyStart + want) {
        // give a server that closes after the response the chance to say so
        setTimeout(() => finish(sock.readableEnded), 30);
      }
    });
    sock.on('end', () => finish(true));
    sock.on('error', (e) => (parsed ? finish(true) : reject(e)));
  });
}

/** The lines of a log file once it has at least n of them (logs are written after the response). */
export async function readLines(file: string, n: number, ms = 3000): Promise<string[]> {
  const until = Date.now() + ms;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'latin1') : '';
    const lines = text.split('\n').filter((l) => l !== '');
    if (lines.length >= n || Date.now() > until) return lines;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * nginx and nodinx on the same tree and config ({PORT} replaced by each
 * one's port), each in a directory of its own.
 */
export async function startPair(
  name: string, files: Record<string, string | Buffer>, config: string, prepare?: (dir: string) => void,
): Promise<[Running, Running & { runtime: HttpRuntime }]> {
  ensureNginx();
  const [p1, p2] = [await freePort(), await freePort()];
  const dirs = [tempDir(`${name}-nginx`), tempDir(`${name}-nodinx`)];
  for (const [dir, port] of [[dirs[0], p1], [dirs[1], p2]] as const) {
    writeTree(dir, files);
    prepare?.(dir);
    fs.writeFileSync(path.join(dir, 'nginx.conf'), config.split('{PORT}').join(String(port)));
  }
  return [await startNginx(dirs[0], p1), await startNodinx(dirs[1], p2)];
}

/** Log lines with the run's directory, port, times and pids made comparable. */
export function normLog(lines: string[], run: Running): string[] {
  return lines.map((l) => l.split(run.dir).join('{dir}').split(`:${run.port}`).join(':PORT')
    .replace(/\[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]/, '[TIME]')
    .replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: \*\d+ /, '[$1] '));
}

/** Stops the servers startPair started and removes their trees (KEEP=1 keeps them, printed). */
export async function stopPair(...runs: Array<Running | undefined>): Promise<void> {
  for (const r of runs) await r?.stop();
  if (process.env.KEEP) console.log(...runs.map((r) => r?.dir));
  else for (const r of runs) if (r) fs.rmSync(r.dir, { recursive: true, force: true });
}
