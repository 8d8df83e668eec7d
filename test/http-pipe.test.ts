import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  readLines, startPair, stopPair, type Running,
} from './helpers/http';

// $pipe is "p" for a request read from what the previous one left in the
// buffer, "." otherwise; and $sent_trailer_* is empty, as nodinx sends none.

let ngx: Running;
let ndx: Running;

const CONFIG = `events {}
http {
  log_format pipe '$request_uri $pipe "$sent_trailer_x"';
  access_log logs/pipe.log pipe;
  server { listen 127.0.0.1:{PORT}; location / { root html; } }
}
`;

function send(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}

beforeAll(async () => {
  [ngx, ndx] = await startPair('pipe', { 'html/a': 'a\n', 'html/b': 'b\n', 'html/c': 'c\n' }, CONFIG);
});
afterAll(async () => {
  await stopPair(ngx, ndx);
});

describe('$pipe', () => {
  it('marks pipelined requests as nginx does', async () => {
    const lines: Record<string, string[]> = {};
    for (const run of [ngx, ndx]) {
      await send(run.port, 'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      // three requests in one packet: the second and third come from the buffer
      await send(run.port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      lines[run === ngx ? 'nginx' : 'nodinx'] = await readLines(path.join(run.dir, 'logs/pipe.log'), 4);
    }
    expect(lines.nginx).toEqual(['/a . "-"', '/a . "-"', '/b p "-"', '/c p "-"']);
    expect(lines.nodinx).toEqual(lines.nginx);
  });
});
