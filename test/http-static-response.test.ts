import * as http from 'node:http';
import * as net from 'node:net';
import { Readable, pipeline } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpResponse } from '../src/http/response';

// r.res is nodinx's HttpResponse where it was node:http's ServerResponse:
// the same calls must put the same bytes on the wire and signal the same
// events. Each case runs once through each object, on a real socket, and
// the bytes the client reads are compared.

type Script = (res: HttpResponse | http.ServerResponse) => void | Promise<void>;

let server: net.Server;
let port = 0;
/** what the next connection's server side does, and with which object */
let next: { make: (s: net.Socket, head: boolean) => HttpResponse | http.ServerResponse; script: Script; head: boolean };

beforeAll(async () => {
  server = net.createServer((socket) => {
    const { make, script, head } = next;
    const res = make(socket, head);
    res.on('finish', () => socket.end());
    // what http-connection.ts does (and Node's HTTP server): a drained socket wakes the writer
    socket.on('drain', () => res.emit('drain'));
    void script(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const ours = (s: net.Socket, head: boolean): HttpResponse => {
  const res = new HttpResponse(head, false);
  res.assignSocket(s);
  // what http-connection.ts does for the response it has attached
  s.on('close', () => res.socket === s && res.socketClosed());
  return res;
};

const nodes = (s: net.Socket, head: boolean): http.ServerResponse => {
  const req = new http.IncomingMessage(s);
  req.method = head ? 'HEAD' : 'GET';
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  const res = new http.ServerResponse(req);
  res.sendDate = false;
  // nodinx's header filter decides chunking and names it in the head (chunked-filter.ts)
  res.useChunkedEncodingByDefault = false;
  res.assignSocket(s);
  return res;
};

function wire(make: typeof next.make, script: Script, head = false): Promise<string> {
  next = { make, script, head };
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let data = '';
    c.setEncoding('latin1');
    c.on('data', (d: string) => (data += d));
    c.on('end', () => resolve(data));
    c.on('error', reject);
  });
}

async function same(script: Script, head = false): Promise<string> {
  const a = await wire(nodes, script, head);
  const b = await wire(ours, script, head);
  expect(b).toBe(a);
  return b;
}

const HEAD = ['Server', 'nodinx', 'Content-Type', 'text/plain', 'Connection', 'close'];

describe('HttpResponse puts on the wire what ServerResponse does', () => {
  it('a head and one body buffer', async () => {
    const out = await same((res) => {
      res.writeHead(200, 'OK', [...HEAD, 'Content-Length', '5']);
      res.end(Buffer.from('hello'));
    });
    expect(out).toBe('HTTP/1.1 200 OK\r\nServer: nodinx\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello');
  });

  it('chunk framing once the head names it, strings and buffers, and the last chunk', async () => {
    await same((res) => {
      res.writeHead(200, 'OK', [...HEAD, 'Transfer-Encoding', 'chunked']);
      res.write('abc', 'latin1');
      res.write(Buffer.alloc(300, 0x78));
      res.write('');
      res.end('tail\u00e9', 'latin1');
    });
  });

  it('no body for HEAD, 204 and 304, whatever is written', async () => {
    await same((res) => {
      res.writeHead(200, 'OK', [...HEAD, 'Content-Length', '5']);
      res.write('hello');
      res.end();
    }, true);
    for (const status of [204, 304]) {
      await same((res) => {
        res.writeHead(status, 'X', HEAD);
        res.end('body');
      });
    }
  });

  it('a write before the head makes the default status line (and, unlike Node, no headers of its own)', async () => {
    const out = await wire(ours, (res) => {
      res.write('x');
      res.end();
    });
    expect(out).toBe('HTTP/1.1 200 OK\r\n\r\nx');
  });

  it('a large body in pieces, with backpressure', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
    await same(async (res) => {
      res.writeHead(200, 'OK', [...HEAD, 'Content-Length', String(big.length * 2)]);
      for (const part of [big, big]) {
        if (!res.write(part)) await new Promise((r) => res.once('drain', r));
      }
      res.end();
    });
  });

  it('works as the destination of pipe() and pipeline()', async () => {
    const body = Array.from({ length: 50 }, (_, i) => `line ${i}\n`);
    await same((res) => {
      res.writeHead(200, 'OK', [...HEAD, 'Transfer-Encoding', 'chunked']);
      Readable.from(body).pipe(res as NodeJS.WritableStream);
    });
    await same((res) => {
      res.writeHead(200, 'OK', HEAD);
      pipeline(Readable.from(body), res as NodeJS.WritableStream, () => undefined);
    });
  });

  it('refuses a header value with a control character, as ServerResponse does', () => {
    const res = new HttpResponse({ head: false, http09: false });
    expect(() => res.writeHead(200, 'OK', ['X-A', 'a\r\nb'])).toThrow(/Invalid character/);
    expect(res.headersSent).toBe(false);
  });

  it("'close' when the socket goes before the end, and no 'finish'", async () => {
    let events = '';
    await new Promise<void>((resolve) => {
      next = {
        make: ours,
        head: false,
        script(res) {
          res.on('finish', () => (events += 'finish'));
          res.on('close', () => {
            events += 'close';
            resolve();
          });
          res.writeHead(200, 'OK', [...HEAD, 'Content-Length', '10']);
          res.write('12345');
          res.destroy();
        },
      };
      net.connect(port, '127.0.0.1').on('error', () => undefined).resume();
    });
    expect(events).toBe('close');
  });
});
