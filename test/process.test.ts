import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alive, BIN, run } from './helpers/nodinx';
import { freePort, waitFor, waitForPort } from './helpers/ports';

// The running server as an operator drives it: start, pid file, -s signals,
// daemon mode, reload with a broken config, bind failures.

let dir: string;
let port: number;
let child: ChildProcess | undefined;
const pidFile = () => path.join(dir, 'logs/nginx.pid');

function writeConf(root = 'html'): void {
  fs.writeFileSync(path.join(dir, 'conf/nginx.conf'), `error_log logs/error.log notice;\nevents {}\nhttp {\n  access_log logs/access.log;\n  server {\n    listen 127.0.0.1:${port};\n    location / { root ${root}; }\n  }\n}\n`);
}

function get(p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

const nodinx = (args: string[]) => run(process.execPath, [BIN, '-p', dir + '/', ...args]);

beforeEach(async () => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-proc-')));
  // run as root, the workers become nobody (nginx's default user) and must read the tree
  fs.chmodSync(dir, 0o755);
  for (const d of ['conf', 'logs', 'html']) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(path.join(dir, 'html/index.html'), 'hello\n');
  port = await freePort();
  writeConf();
});

afterEach(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
  }
  child = undefined;
  try {
    const pid = Number(fs.readFileSync(pidFile(), 'utf8'));
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
  } catch {
    // no daemon left
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

function start(args: string[] = []): ChildProcess {
  child = spawn(process.execPath, [BIN, '-p', dir + '/', '-g', 'daemon off;', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return child;
}

describe('the nodinx process', () => {
  it('writes the pid file only once it listens, and stops on -s quit', async () => {
    const c = start();
    let listeningWhenPidAppeared: boolean | undefined;
    await waitFor(() => fs.existsSync(pidFile()));
    listeningWhenPidAppeared = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    expect(listeningWhenPidAppeared).toBe(true);
    expect(Number(fs.readFileSync(pidFile(), 'utf8'))).toBe(c.pid);
    expect((await get('/')).body).toBe('hello\n');
    const r = nodinx(['-s', 'quit']);
    expect(r.status).toBe(0);
    const code = await new Promise((resolve) => c.once('exit', resolve));
    expect(code).toBe(0);
    expect(fs.existsSync(pidFile())).toBe(false);
  });

  it('daemonizes by default: returns once listening, the pid file holds the daemon', async () => {
    const r = nodinx([]);
    expect(r.status).toBe(0);
    const pid = Number(fs.readFileSync(pidFile(), 'utf8'));
    expect(alive(pid)).toBe(true);
    expect((await get('/')).status).toBe(200);
    expect(nodinx(['-s', 'stop']).status).toBe(0);
    await waitFor(() => !alive(pid));
    expect(fs.existsSync(pidFile())).toBe(false);
  });

  it('reload: a broken config is refused and logged, the old one keeps serving; a good one is taken', async () => {
    start();
    await waitFor(() => fs.existsSync(pidFile()));
    fs.writeFileSync(path.join(dir, 'conf/nginx.conf'), 'events {}\nbogus;\n');
    expect(nodinx(['-s', 'reload']).status).toBe(1); // -s reads the config too, as nginx does
    process.kill(child!.pid!, 'SIGHUP');
    await waitFor(() => fs.readFileSync(path.join(dir, 'logs/error.log'), 'utf8').includes('unknown directive "bogus"'));
    expect((await get('/')).body).toBe('hello\n');
    fs.mkdirSync(path.join(dir, 'html2'));
    fs.writeFileSync(path.join(dir, 'html2/index.html'), 'second\n');
    writeConf('html2');
    expect(nodinx(['-s', 'reload']).status).toBe(0);
    await waitFor(() => fs.readFileSync(path.join(dir, 'logs/error.log'), 'utf8').split('received, reconfiguring').length === 3);
    // the reload is applied right after the log line: poll until the new root answers
    for (let i = 0; i < 100 && (await get('/')).body !== 'second\n'; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await get('/')).body).toBe('second\n');
  });

  it('reopen: after logrotate renames the log, new lines go to a new file', async () => {
    start();
    await waitFor(() => fs.existsSync(pidFile()));
    await get('/');
    const log = path.join(dir, 'logs/access.log');
    await waitFor(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('GET / '));
    fs.renameSync(log, log + '.1');
    expect(nodinx(['-s', 'reopen']).status).toBe(0);
    await waitFor(() => fs.existsSync(log));
    await get('/index.html');
    await waitFor(() => fs.readFileSync(log, 'utf8').includes('GET /index.html '));
    expect(fs.readFileSync(log + '.1', 'utf8')).not.toContain('/index.html');
  });

  it('a port in use: nginx five bind() tries, then "still could not bind()", exit 1, no pid file', async () => {
    const blocker = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const c = start();
      let stderr = '';
      c.stderr!.on('data', (d) => (stderr += d));
      const code = await new Promise((resolve) => c.once('exit', resolve));
      expect(code).toBe(1);
      const lines = stderr.trim().split('\n');
      expect(lines.filter((l) => l === `nodinx: [emerg] bind() to 127.0.0.1:${port} failed (98: Address already in use)`)).toHaveLength(5);
      expect(lines[lines.length - 1]).toBe('nodinx: [emerg] still could not bind()');
      expect(fs.existsSync(pidFile())).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('TERM stops at once and removes the pid file', async () => {
    const c = start();
    await waitFor(() => fs.existsSync(pidFile()));
    await waitForPort(port);
    c.kill('SIGTERM');
    expect(await new Promise((r) => c.once('exit', r))).toBe(0);
    expect(fs.existsSync(pidFile())).toBe(false);
  });
});
