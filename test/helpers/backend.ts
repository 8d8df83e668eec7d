import * as net from 'node:net';

// A scripted fake upstream over a real socket on 127.0.0.1:0: it records
// every request head (and body) it receives and answers each with what the
// script says — bytes, a reset, a hang, a close — so that nginx and nodinx
// can be put in front of the same misbehaviour.

export interface Received {
  /** the request head as sent, CRLFs included */
  head: string;
  body: Buffer;
  /** the n-th request on its connection (1-based) */
  onConn: number;
}

export type Reply =
  | string
  | Buffer
  | { parts: Array<string | Buffer>; gap?: number; close?: boolean }
  | 'reset'
  | 'hang'
  | 'close';

export interface Backend {
  port: number;
  received: Received[];
  connections: number;
  open: Set<net.Socket>;
  stop(): Promise<void>;
}

function headEnd(b: Buffer): number {
  const i = b.indexOf('\r\n\r\n');
  return i < 0 ? -1 : i + 4;
}

/** reply(req, index of request across the run) → what to answer */
export function startBackend(reply: (req: Received, n: number) => Reply): Promise<Backend> {
  const received: Received[] = [];
  const open = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const b: Backend = { port: 0, received, connections: 0, open, stop: async () => undefined };
  const srv = net.createServer((sock) => {
    b.connections++;
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let onConn = 0;
    let busy = false;
    const step = (): void => {
      if (busy) return;
      const end = headEnd(buf);
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
      let bodyLen = cl ? Number(cl[1]) : 0;
      let body: Buffer;
      if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        const term = buf.indexOf('0\r\n\r\n', end);
        if (term < 0) return;
        bodyLen = term + 5 - end;
        body = buf.subarray(end, end + bodyLen);
      } else {
        if (buf.length < end + bodyLen) return;
        body = buf.subarray(end, end + bodyLen);
      }
      buf = buf.subarray(end + bodyLen);
      const req: Received = { head, body: Buffer.from(body), onConn: ++onConn };
      received.push(req);
      const r = reply(req, received.length - 1);
      if (r === 'reset') {
        sock.resetAndDestroy();
        return;
      }
      if (r === 'hang') {
        busy = true;
        return;
      }
      if (r === 'close') {
        sock.end();
        return;
      }
      if (typeof r === 'string' || Buffer.isBuffer(r)) {
        sock.write(r);
        step();
        return;
      }
      busy = true;
      const parts = [...r.parts];
      const next = (): void => {
        const p = parts.shift();
        if (p === undefined) {
          busy = false;
          if (r.close) sock.end();
          else step();
          return;
        }
        if (p === 'RESET') {
          sock.resetAndDestroy();
          return;
        }
        sock.write(p);
        const t = setTimeout(() => (timers.delete(t), next()), r.gap ?? 20);
        timers.add(t);
      };
      next();
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      step();
    });
  });
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => {
      b.port = (srv.address() as net.AddressInfo).port;
      b.stop = () => new Promise<void>((res) => {
        for (const t of timers) clearTimeout(t);
        for (const s of open) s.destroy();
        srv.close(() => res());
      });
      resolve(b);
    });
  });
}

/** A response with Content-Length. */
export function ok(body: string, headers: string[] = [], status = '200 OK'): string {
  return `HTTP/1.1 ${status}\r\n${headers.map((h) => h + '\r\n').join('')}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
