import * as net from 'node:net';

// A client that speaks raw bytes: it sends what a case says (in pieces,
// with pauses, optionally half-closing), reads until the server closes or
// goes quiet, and splits what came back into responses.

export type Piece = string | Buffer | { pause: number };

export interface Exchange {
  data: Buffer;
  /** the server closed (FIN or RST) before `idle` ms of silence */
  closed: boolean;
  /** the connection was reset */
  reset: boolean;
  /** ms from connect to close (or to the end of waiting) */
  ms: number;
}

const bytes = (p: string | Buffer): Buffer => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p);

/** Sends the pieces on a new connection to 127.0.0.1:port and collects the answer. */
export function exchange(port: number, pieces: Piece[], opts: { idle?: number; shut?: boolean; max?: number } = {}): Promise<Exchange> {
  const idle = opts.idle ?? 300;
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let reset = false;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const done = (closed: boolean): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), closed, reset, ms: Date.now() - t0 });
    };
    const quiet = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => done(false), idle);
    };
    const hardStop = setTimeout(() => done(false), opts.max ?? 15000);
    sock.on('data', (d) => {
      chunks.push(d);
      quiet();
    });
    sock.on('end', () => done(true));
    sock.on('close', () => {
      clearTimeout(hardStop);
      done(true);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true;
      done(true);
    });
    sock.on('connect', async () => {
      for (const p of pieces) {
        if (finished) return;
        if (typeof p === 'object' && !Buffer.isBuffer(p)) await new Promise((r) => setTimeout(r, p.pause));
        else sock.write(bytes(p));
      }
      if (opts.shut) sock.end();
      quiet();
    });
  });
}

export interface Response {
  statusLine: string;
  headers: Array<[string, string]>;
  body: string;
}

/**
 * Splits a stream of responses (Content-Length framed; "100 Continue" is a
 * response of its own). What does not start with "HTTP/" is an HTTP/0.9
 * body: one response with no status line.
 */
export function splitResponses(data: Buffer, headOnly = false): Response[] {
  const text = data.toString('latin1');
  const out: Response[] = [];
  let at = 0;
  while (at < text.length) {
    if (!text.startsWith('HTTP/', at)) {
      out.push({ statusLine: '', headers: [], body: text.slice(at) });
      break;
    }
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) {
      out.push({ statusLine: text.slice(at), headers: [], body: '' });
      break;
    }
    const lines = text.slice(at, end).split('\r\n');
    const statusLine = lines.shift()!;
    const headers = lines.map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
    const cl = headers.find(([k]) => k.toLowerCase() === 'content-length');
    const status = Number(statusLine.split(' ')[1]);
    const len = headOnly || status === 100 || status === 304 || !cl ? 0 : Number(cl[1]);
    out.push({ statusLine, headers, body: text.slice(end + 4, end + 4 + len) });
    at = end + 4 + len;
  }
  return out;
}
