import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureNginx, rawRequest, readLines, startPair, stopPair, normLog, tempDir, writeTree, type Running } from './helpers/http';
import { alive, BIN, NGINX, run } from './helpers/nodinx';
import { freePort, waitFor, waitForPort } from './helpers/ports';

// Logs that cannot be written, against the real nginx: a log path that
// cannot be created at start, a log directory that disappears before a
// reopen, a full disk, and `-s` with a stale or missing pid file. Each
// case runs both servers on the same tree and compares what they print,
// their exit status and their error-log lines.

beforeAll(() => ensureNginx());

type Who = 'nginx' | 'nodinx';
const WHO: Who[] = ['nginx', 'nodinx'];

function command(who: Who, dir: string, args: string[]): [string, string[]] {
  const common = ['-p', dir + '/', '-e', path.join(dir, 'logs/e.log'), '-c', 'nginx.conf', ...args];
  return who === 'nginx' ? [NGINX, common] : [process.execPath, [BIN, ...common]];
}

/** A tree of its own for each server, with the config's {PORT} and {DIR} filled in. */
async function trees(name: string, config: string): Promise<Record<Who, { dir: string; port: number }>> {
  const out = {} as Record<Who, { dir: string; port: number }>;
  for (const who of WHO) {
    const dir = fs.realpathSync(tempDir(`${name}-${who}`));
    // as root, workers become nobody and must read the tree
    fs.chmodSync(dir, 0o755);
    const port = await freePort();
    writeTree(dir, { 'html/index.html': 'hello\n', 'logs/': '', 'afile': 'a regular file\n' });
    fs.writeFileSync(path.join(dir, 'nginx.conf'), config.split('{PORT}').join(String(port)).split('{DIR}').join(dir));
    out[who] = { dir, port };
  }
  return out;
}

/** stderr and error-log lines with the directory, the port, times and pids made comparable. */
function norm(text: string, dir: string, port?: number): string[] {
  return text.split('\n').filter((l) => l !== '').map((l) => {
    let s = l.split(dir).join('{dir}').replace(/^(nginx|nodinx): /, '');
    if (port) s = s.split(`:${port}`).join(':PORT');
    return s.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: /, '[$1] ')
      // nginx names the sender of a signal; Node.js cannot know it
      .replace(/ received from \d+,/, ' received,');
  });
}

const readLog = (dir: string, name = 'logs/e.log'): string =>
  fs.existsSync(path.join(dir, name)) ? fs.readFileSync(path.join(dir, name), 'latin1') : '';

function cleanup(t: Record<Who, { dir: string }>): void {
  for (const who of WHO) fs.rmSync(t[who].dir, { recursive: true, force: true });
}


/** Ends the servers a describe started and that are still running. */
async function killAll(children: ChildProcess[]): Promise<void> {
  for (const c of children) {
    if (c.exitCode === null && c.pid && alive(c.pid)) {
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    }
  }
}

describe('a log that cannot be opened at start', () => {
  const cases: Array<[string, string]> = [
    ['access_log under a regular file (ENOTDIR)', 'http { access_log afile/access.log; server { listen 127.0.0.1:{PORT}; root html; } }'],
    ['access_log in a missing directory (ENOENT)', 'http { access_log nodir/access.log; server { listen 127.0.0.1:{PORT}; root html; } }'],
    ['error_log under a regular file', 'error_log afile/error.log;\nhttp { server { listen 127.0.0.1:{PORT}; root html; } }'],
    ['error_log in a missing directory, after a good one', 'error_log logs/error.log;\nerror_log nodir/error.log;\nhttp { server { listen 127.0.0.1:{PORT}; root html; } }'],
    ['access_log fails while error_log is elsewhere: the line goes to the -e log', 'error_log logs/conf.log;\nhttp { access_log afile/x.log; server { listen 127.0.0.1:{PORT}; root html; } }'],
  ];
  for (const [name, body] of cases) {
    it(`${name}: nginx's emerg on stderr and in the log, exit 1, no listener`, async () => {
      const t = await trees('logs-start', `pid logs/nginx.pid;\nevents {}\n${body}\n`);
      try {
        const got = WHO.map((who) => {
          const [cmd, args] = command(who, t[who].dir, ['-g', 'daemon off; master_process off;']);
          const r = run(cmd, args);
          return {
            status: r.status,
            stderr: norm(r.stderr, t[who].dir),
            log: norm(readLog(t[who].dir), t[who].dir),
            conf: fs.existsSync(path.join(t[who].dir, 'logs/conf.log')),
            pid: fs.existsSync(path.join(t[who].dir, 'logs/nginx.pid')),
          };
        });
        expect(got[0].status).toBe(1);
        expect(got[0].stderr[0]).toMatch(/^\[emerg\] open\(\) "\{dir\}\/(afile|nodir)\/.*" failed \((20: Not a directory|2: No such file or directory)\)$/);
        expect(got[1]).toEqual(got[0]);
        // -t says the same
        const tests = WHO.map((who) => {
          const [cmd, args] = command(who, t[who].dir, ['-t']);
          const r = run(cmd, args);
          return { status: r.status, stderr: norm(r.stderr, t[who].dir).filter((l) => l.startsWith('[')) };
        });
        expect(tests[1]).toEqual(tests[0]);
      } finally {
        cleanup(t);
      }
    });
  }
});

describe('reopen when the log directory has become a file', () => {
  let t: Record<Who, { dir: string; port: number }>;
  const children: ChildProcess[] = [];

  afterAll(async () => {
    await killAll(children);
    if (t) cleanup(t);
  });

  it('keeps the old files, logs nginx\'s emerg for each in master and worker, keeps serving', async () => {
    t = await trees('logs-reopen', `error_log logs/sub/error.log notice;\npid logs/nginx.pid;\nworker_processes 1;\nevents {}\n` +
      `http { access_log logs/sub/access.log; server { listen 127.0.0.1:{PORT}; root html; } }\n`);
    const got: Record<string, unknown>[] = [];
    for (const who of WHO) {
      const { dir, port } = t[who];
      fs.mkdirSync(path.join(dir, 'logs/sub'));
      const [cmd, args] = command(who, dir, ['-g', 'daemon off;']);
      const child = spawn(cmd, args, { stdio: 'ignore' });
      children.push(child);
      await waitForPort(port);
      await waitFor(() => fs.existsSync(path.join(dir, 'logs/nginx.pid')));
      expect((await rawRequest(port, 'GET /index.html HTTP/1.0\r\n\r\n')).status).toBe(200);
      await readLines(path.join(dir, 'logs/sub/access.log'), 1);
      // logrotate gone wrong: the directory moved away, a file in its place
      fs.renameSync(path.join(dir, 'logs/sub'), path.join(dir, 'logs/sub.old'));
      fs.writeFileSync(path.join(dir, 'logs/sub'), '');
      const [scmd, sargs] = command(who, dir, ['-s', 'reopen']);
      expect(run(scmd, sargs).status).toBe(0);
      const errorLog = path.join(dir, 'logs/sub.old/error.log');
      // the master's two lines and the worker's two
      await waitFor(() => (readLog(dir, 'logs/sub.old/error.log').match(/\[emerg\]/g) ?? []).length >= 4);
      expect((await rawRequest(port, 'GET /again HTTP/1.0\r\n\r\n')).status).toBe(404);
      const access = await readLines(path.join(dir, 'logs/sub.old/access.log'), 2);
      const [qcmd, qargs] = command(who, dir, ['-s', 'quit']);
      expect(run(qcmd, qargs).status).toBe(0);
      await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
      const text = fs.readFileSync(errorLog, 'latin1');
      const lines = norm(text, dir, port);
      const master = /\] (\d+)#\d+: start worker processes/.exec(text)?.[1];
      got.push({
        // who said it, the master or the worker, in order
        reopen: text.split('\n').filter((l) => /reopening logs|\[emerg\]/.test(l))
          .map((l) => norm(l, dir)[0].replace(/^\[\w+\] /, '') + (/\] (\d+)#/.exec(l)?.[1] === master ? ' (master)' : ' (worker)')),
        emerg: lines.filter((l) => l.startsWith('[emerg]')),
        access: access.map((l) => l.replace(/\[[^\]]+\]/, '[TIME]')),
        alert: lines.filter((l) => l.startsWith('[alert]')),
      });
    }
    expect(got[0].emerg).toEqual([
      '[emerg] open() "{dir}/logs/sub/error.log" failed (20: Not a directory)',
      '[emerg] open() "{dir}/logs/sub/access.log" failed (20: Not a directory)',
      '[emerg] open() "{dir}/logs/sub/error.log" failed (20: Not a directory)',
      '[emerg] open() "{dir}/logs/sub/access.log" failed (20: Not a directory)',
    ]);
    expect(got[1]).toEqual(got[0]);
  });
});

describe('a full disk: access_log /dev/full', () => {
  let ngx: Running | undefined;
  let ndx: Running | undefined;
  afterAll(() => stopPair(ngx, ndx));

  it('requests are served; one alert a minute, in the request\'s context, as nginx', async () => {
    [ngx, ndx] = await startPair('logs-full', { 'html/index.html': 'hello\n' },
      'events {}\nhttp { access_log /dev/full; server { listen 127.0.0.1:{PORT}; root html; } }\n');
    const got = [];
    for (const s of [ngx, ndx]) {
      for (let i = 0; i < 3; i++) {
        const res = await rawRequest(s.port, `GET /index.html?${i} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
        expect(res.status).toBe(200);
        expect(res.body.toString()).toBe('hello\n');
      }
      got.push(normLog(await readLines(path.join(s.dir, 'logs/error.log'), 1), s));
    }
    expect(got[0]).toEqual([
      '[alert] write() to "/dev/full" failed (28: No space left on device) while logging request, client: 127.0.0.1, server: , request: "GET /index.html?0 HTTP/1.1", host: "localhost"',
    ]);
    expect(got[1]).toEqual(got[0]);
  });
});

describe('a full disk under buffer=: access_log /dev/full buffer=190 flush=1s', () => {
  let ngx: Running | undefined;
  let ndx: Running | undefined;
  afterAll(() => stopPair(ngx, ndx));

  it('the line that overflows the buffer alerts in its request\'s context, the flush= write without one, as nginx', async () => {
    [ngx, ndx] = await startPair('logs-full-buf', { 'html/index.html': 'hello\n' },
      'events {}\nhttp { access_log /dev/full combined buffer=190 flush=1s; server { listen 127.0.0.1:{PORT}; root html; } }\n');
    const got = [];
    for (const s of [ngx, ndx]) {
      // the first line fits in the buffer, the second does not as nginx measures it (20 bytes for $status and $body_bytes_sent)
      for (let i = 0; i < 2; i++) {
        const res = await rawRequest(s.port, `GET /index.html?${i} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
        expect(res.status).toBe(200);
      }
      got.push(normLog(await readLines(path.join(s.dir, 'logs/error.log'), 2, 5000), s));
    }
    expect(got[0]).toEqual([
      '[alert] write() to "/dev/full" failed (28: No space left on device) while logging request, client: 127.0.0.1, server: , request: "GET /index.html?1 HTTP/1.1", host: "localhost"',
      expect.stringMatching(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[alert\] \d+#\d+: write\(\) to "\/dev\/full" failed \(28: No space left on device\)$/),
    ]);
    expect(got[1].map((l) => l.replace(/^[\d/: ]+\[/, '[').replace(/\d+#\d+/, 'PID')))
      .toEqual(got[0].map((l) => l.replace(/^[\d/: ]+\[/, '[').replace(/\d+#\d+/, 'PID')));
  });
});

describe('a log named by variables that cannot be opened', () => {
  let ngx: Running | undefined;
  let ndx: Running | undefined;
  afterAll(() => stopPair(ngx, ndx));

  it('requests are served; crit for each request and log, in the request\'s context, as nginx', async () => {
    [ngx, ndx] = await startPair('logs-var', { 'html/index.html': 'hello\n', 'afile': 'x' },
      'events {}\nhttp { access_log nodir/$host.log; access_log afile/$host.log; server { listen 127.0.0.1:{PORT}; root html; } }\n');
    const got = [];
    for (const s of [ngx, ndx]) {
      for (let i = 0; i < 2; i++) {
        const res = await rawRequest(s.port, `GET /?${i} HTTP/1.1\r\nHost: h${i}\r\nConnection: close\r\n\r\n`);
        expect(res.status).toBe(200);
      }
      got.push(normLog(await readLines(path.join(s.dir, 'logs/error.log'), 4), s));
    }
    expect(got[0]).toHaveLength(4);
    expect(got[0][0]).toBe('[crit] open() "{dir}/nodir/h0.log" failed (2: No such file or directory) while logging request, client: 127.0.0.1, server: , request: "GET /?0 HTTP/1.1", host: "h0"');
    expect(got[1]).toEqual(got[0]);
  });
});

describe('-s with a pid file that names no process, is missing, or holds no number', () => {
  const states: Array<[string, string | undefined]> = [['stale', '4194000\n'], ['missing', undefined], ['not a number', 'junk\n'], ['empty', '']];
  for (const [state, content] of states) {
    for (const sig of ['reload', 'reopen', 'stop', 'quit']) {
      it(`${state} pid file, -s ${sig}: nginx's message, status and log lines`, async () => {
        const t = await trees('logs-pid', `pid logs/nginx.pid;\nevents {}\nhttp { server { listen 127.0.0.1:{PORT}; root html; } }\n`);
        try {
          const got = WHO.map((who) => {
            const { dir } = t[who];
            if (content !== undefined) fs.writeFileSync(path.join(dir, 'logs/nginx.pid'), content);
            const [cmd, args] = command(who, dir, ['-s', sig]);
            const r = run(cmd, args);
            return { status: r.status, stderr: norm(r.stderr, dir), log: norm(readLog(dir), dir) };
          });
          expect(got[0].status).toBe(1);
          expect(got[1]).toEqual(got[0]);
        } finally {
          cleanup(t);
        }
      });
    }
  }
});

describe('buffer= under reopen and exit, with a master and a worker', () => {
  let t: Record<Who, { dir: string; port: number }>;
  const children: ChildProcess[] = [];

  afterAll(async () => {
    await killAll(children);
    if (t) cleanup(t);
  });

  const get = async (port: number, uri: string): Promise<void> => {
    const res = await rawRequest(port, `GET ${uri} HTTP/1.0\r\n\r\n`);
    expect(res.status).toBe(200);
  };

  it('lines wait in the buffer, go to the old file at reopen and out at exit: none lost, none twice', async () => {
    t = await trees('logs-buffer', `pid logs/nginx.pid;\nworker_processes 1;\nevents {}\n` +
      `http { access_log logs/access.log combined buffer=64k flush=1h; server { listen 127.0.0.1:{PORT}; root html; } }\n`);
    const got: Record<string, unknown>[] = [];
    for (const who of WHO) {
      const { dir, port } = t[who];
      const log = path.join(dir, 'logs/access.log');
      const [cmd, args] = command(who, dir, ['-g', 'daemon off;']);
      const child = spawn(cmd, args, { stdio: 'ignore' });
      children.push(child);
      await waitForPort(port);
      await waitFor(() => fs.existsSync(path.join(dir, 'logs/nginx.pid')));
      const signal = (sig: string): void => {
        const [scmd, sargs] = command(who, dir, ['-s', sig]);
        expect(run(scmd, sargs).status).toBe(0);
      };
      for (let i = 0; i < 20; i++) await get(port, `/index.html?before=${i}`);
      // flush=1h: nothing written yet
      const waited = fs.statSync(log).size;
      fs.renameSync(log, `${log}.0`);
      signal('reopen');
      await waitFor(() => fs.existsSync(log) && readLog(dir, 'logs/access.log.0').split('\n').length > 20);
      // four clients busy while the log is rotated three more times
      const clients = [0, 1, 2, 3].map(async (c) => {
        for (let i = 0; i < 40; i++) await get(port, `/index.html?c=${c}&i=${i}`);
      });
      for (let k = 1; k <= 3; k++) {
        await new Promise((r) => setTimeout(r, 50));
        fs.renameSync(log, `${log}.${k}`);
        signal('reopen');
        await waitFor(() => fs.existsSync(log));
      }
      await Promise.all(clients);
      signal('quit');
      await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
      const uris = ['.0', '.1', '.2', '.3', ''].flatMap((s) => readLog(dir, `logs/access.log${s}`).split('\n').filter((l) => l))
        .map((l) => /"GET (\S+) HTTP/.exec(l)?.[1]);
      got.push({ waited, before: uris.filter((u) => u?.includes('before=')).length, total: uris.length, distinct: new Set(uris).size });
    }
    expect(got[0]).toEqual({ waited: 0, before: 20, total: 180, distinct: 180 });
    expect(got[1]).toEqual(got[0]);
  });
});
