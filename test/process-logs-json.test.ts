import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, readLines, tempDir, writeTree } from './helpers/http';
import { BIN, run } from './helpers/nodinx';
import { freePort, waitFor, waitForPort } from './helpers/ports';
import { jsonLine, textLine } from '../src/process/error-log';

// error_log_json, nodinx's own: the records of the text error log (whose
// lines the comparison tests hold to nginx's), one JSON object a line, with
// each of nginx's context fields a member of its own.

let dir: string;
let port: number;
let child: ChildProcess;

beforeAll(async () => {
  dir = fs.realpathSync(tempDir('logs-json'));
  port = await freePort();
  writeTree(dir, { 'html/index.html': 'hello\n', 'logs/': '' });
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `
error_log logs/error.log info;
error_log_json logs/error.json info;
error_log_json logs/warn.json warn;
pid logs/nginx.pid;
events {}
http {
  server {
    listen 127.0.0.1:${port};
    server_name example.test;
    root html;
    location /loc/ { error_log_json logs/loc.json; }
  }
}
`);
  child = spawn(process.execPath, [BIN, '-p', dir + '/', '-c', 'nginx.conf', '-g', 'daemon off; master_process off;'], { stdio: 'ignore' });
  await waitForPort(port);
});

afterAll(async () => {
  if (child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

const records = (file: string): Array<Record<string, unknown>> =>
  fs.readFileSync(path.join(dir, file), 'latin1').split('\n').filter((l) => l).map((l) => JSON.parse(l));

describe('error_log_json', () => {
  it('is accepted by -t beside error_log, at every level error_log is', () => {
    const r = run(process.execPath, [BIN, '-p', dir + '/', '-c', 'nginx.conf', '-t']);
    expect(r.status).toBe(0);
    expect(fs.existsSync(path.join(dir, 'logs/warn.json'))).toBe(true);
  });

  it('writes the text log\'s record as fields: time, level, pid, connection, message, client, server, request, host, referrer', async () => {
    // a referrer that looks like the context itself is still one field
    const referrer = 'http://x/", client: 1.2.3.4, server: evil, request: "GET / HTTP/1.1';
    await rawRequest(port, `GET /missing?a=1 HTTP/1.1\r\nHost: example.test\r\nReferer: ${referrer}\r\nConnection: close\r\n\r\n`);
    await waitFor(() => records('logs/error.json').some((r) => String(r.message).startsWith('open()')));
    const text = (await readLines(path.join(dir, 'logs/error.log'), 1)).find((l) => l.includes('open()'))!;
    const rec = records('logs/error.json').find((r) => String(r.message).startsWith('open()'))!;
    expect(rec).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      level: 'error',
      pid: child.pid,
      tid: child.pid,
      connection: expect.any(Number),
      message: `open() "${dir}/html/missing" failed (2: No such file or directory)`,
      client: '127.0.0.1',
      server: 'example.test',
      request: 'GET /missing?a=1 HTTP/1.1',
      host: 'example.test',
      referrer,
    });
    // the same record as the text line
    expect(text).toBe(textLine('error', rec.message as string, { ...rec, connection: rec.connection as number }, new Date(rec.time as string))
      .replace(/\d+#\d+/, `${child.pid}#${child.pid}`).trimEnd());
    // warn.json takes error and above only
    expect(records('logs/warn.json').map((r) => r.level)).not.toContain('info');
  });

  it('splits the context of messages written as text (connection-level info lines)', async () => {
    await rawRequest(port, 'GET /index.html HTTP/1.1\r\nHost: example.test\r\n\r\n', { wait: 300 });
    await waitFor(() => records('logs/error.json').some((r) => /closed keepalive connection/.test(String(r.message))));
    const rec = records('logs/error.json').find((r) => /closed keepalive connection/.test(String(r.message)))!;
    expect(rec.connection).toEqual(expect.any(Number));
    expect(rec.message).toBe('client 127.0.0.1 closed keepalive connection');
  });

  it('a location\'s error_log_json gets that location\'s errors', async () => {
    await rawRequest(port, 'GET /loc/nope HTTP/1.0\r\n\r\n');
    await waitFor(() => fs.existsSync(path.join(dir, 'logs/loc.json')) && records('logs/loc.json').length > 0);
    const rec = records('logs/loc.json')[0];
    expect(rec).toMatchObject({ level: 'error', request: 'GET /loc/nope HTTP/1.0', server: 'example.test', client: '127.0.0.1' });
    expect(rec.host).toBeUndefined();
  });

  it('escapes control bytes, keeps other bytes as they came, cuts messages at 2048 bytes', () => {
    const line = jsonLine('warn', 'a\tb"c\\d\x01é' + 'x'.repeat(3000), { client: '::1' }, new Date(0));
    expect(line.endsWith('}\n')).toBe(true);
    const rec = JSON.parse(line);
    expect(rec.time).toBe('1970-01-01T00:00:00.000Z');
    expect(rec.message.slice(0, 9)).toBe('a\tb"c\\d\x01é');
    expect(rec.message.length).toBe(2048);
    expect(rec.client).toBe('::1');
    expect('server' in rec).toBe(false);
  });
});
