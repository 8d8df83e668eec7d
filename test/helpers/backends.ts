import * as net from 'node:net';
import * as tls from 'node:tls';
import { freePort } from './ports';

// Scripted fake upstreams over real sockets: each request a backend reads is
// recorded byte for byte (head as sent, headers in order, body decoded) and
// answered by the script's action for that request: a well-formed reply, raw
// bytes, a reset in the middle, silence... Both nginx and nodinx are pointed
// at the same backend, one after the other, so what each sent can be
// compared.

export interface BackendRequest {
  /** the request line, e.g. "GET /x HTTP/1.0" */
  line: string;
  method: string;
  target: string;
  headers: Array<[string, string]>;
  /** the head as sent, request line to the blank line */
  head: string;
  /** the body, chunked framing removed */
  body: Buffer;
  /** Transfer-Encoding: chunked was used */
  chunked: boolean;
  /** 1-based: the n-th request the backend read (over all connections) */
  n: number;
  /** the n-th request on its connection */
  onConnection: number;
}

export interface Exchange {
  req: BackendRequest;
  sock: net.Socket;
  backend: Backend;
}

/** What a backend does with a request; resolve when done (the connection is then read for the next one, unless closed). */
export type Action = (x: Exchange) => void | Promise<void>;

export interface Backend {
  port: number;
  /** "127.0.0.1:PORT" (or "unix:/path"), as $upstream_addr shows it; port is 0 for a unix socket */
  addr: string;
  requests: BackendRequest[];
  /** connections accepted so far */
  connections: number;
  /** connections open now */
  open: Set<net.Socket>;
  /** what reply() applies to header values ({B1} → an address, set by whoever knows them) */
  subst: (s: string) => string;
  /** forget what was recorded (between the nginx and the nodinx run) */
  reset(): void;
  close(): Promise<void>;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Parses one request from buf; undefined when incomplete. */
function parseRequest(buf: Buffer): { req: Omit<BackendRequest, 'n' | 'onConnection'>; used: number } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buf.subarray(0, end + 4).toString('latin1');
  const lines = head.slice(0, -4).split('\r\n');
  const line = lines.shift()!;
  const [method, target] = line.split(' ');
  const headers = lines.map((l): [string, string] => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
  const get = (n: string): string | undefined => headers.find(([k]) => k.toLowerCase() === n)?.[1];
  let pos = end + 4;
  const chunked = /chunked/i.test(get('transfer-encoding') ?? '');
  if (chunked) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf('\r\n', pos);
      if (eol < 0) return undefined;
      const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
      if (size === 0) {
        const trailerEnd = buf.indexOf('\r\n\r\n', eol);
        // no trailers: the last chunk is "0\r\n\r\n"
        const stop = buf.subarray(eol, eol + 4).toString() === '\r\n\r\n' ? eol + 4 : trailerEnd < 0 ? -1 : trailerEnd + 4;
        if (stop < 0) return undefined;
        return { req: { line, method, target, headers, head, body: Buffer.concat(parts), chunked }, used: stop };
      }
      if (buf.length < eol + 2 + size + 2) return undefined;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      pos = eol + 2 + size + 2;
    }
  }
  const len = Number(get('content-length') ?? 0);
  if (buf.length < pos + len) return undefined;
  return { req: { line, method, target, headers, head, body: Buffer.from(buf.subarray(pos, pos + len)), chunked }, used: pos + len };
}

/**
 * A backend on a free 127.0.0.1 port. `script` is one action for every
 * request, or a list: the n-th request gets the n-th action (the last one
 * repeats).
 */
export async function startBackend(script: Action | Action[], opts: { path?: string; tls?: { key: string; cert: string } } = {}): Promise<Backend> {
  const actions = Array.isArray(script) ? script : [script];
  const open = new Set<net.Socket>();
  const backend: Backend = {
    port: 0, addr: '', requests: [], connections: 0, open, subst: (x) => x,
    reset() {
      backend.requests = [];
      backend.connections = 0;
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    }),
  };
  const onConnection = (sock: net.Socket): void => {
    backend.connections++;
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.on('error', () => {});
    // a growing buffer: appending 10 MiB in socket-sized pieces must not copy it all each time
    let store = Buffer.alloc(64 * 1024);
    let len = 0;
    let busy = false;
    let nth = 0;
    const next = async (): Promise<void> => {
      if (busy) return;
      const parsed = parseRequest(store.subarray(0, len));
      if (!parsed) return;
      busy = true;
      store.copy(store, 0, parsed.used, len);
      len -= parsed.used;
      const req: BackendRequest = { ...parsed.req, n: backend.requests.length + 1, onConnection: ++nth };
      backend.requests.push(req);
      const action = actions[Math.min(req.n - 1, actions.length - 1)];
      try {
        await action({ req, sock, backend });
      } catch {
        sock.destroy();
      }
      busy = false;
      if (!sock.destroyed) void next();
    };
    sock.on('data', (d) => {
      if (len + d.length > store.length) {
        const grown = Buffer.alloc(Math.max(store.length * 2, len + d.length));
        store.copy(grown, 0, 0, len);
        store = grown;
      }
      d.copy(store, len);
      len += d.length;
      void next();
    });
  };
  // over TLS (proxy_pass https://): the same script on the decrypted stream
  const server = opts.tls ? tls.createServer(opts.tls, onConnection) : net.createServer(onConnection);
  if (opts.path) {
    // a unix-domain socket: addr is what nginx logs as $upstream_addr
    await new Promise<void>((resolve) => server.listen(opts.path, resolve));
    backend.addr = `unix:${opts.path}`;
    return backend;
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  backend.port = (server.address() as net.AddressInfo).port;
  backend.addr = `127.0.0.1:${backend.port}`;
  return backend;
}

/** A port nothing listens on (connections are refused). */
export const refusingPort = freePort;

// --- actions ---

export interface ReplyOptions {
  /** close the connection after the response (and say so unless headers set Connection) */
  close?: boolean;
  /** send the body chunked */
  chunked?: boolean;
  /** no Content-Length and close: a body delimited by the end of the connection */
  closeDelimited?: boolean;
  /** no body, even if given (answer to HEAD) */
  noBody?: boolean;
}

/** The bytes of a response: status line, headers as given (plus Content-Length unless chunked or close-delimited), body. */
export function response(status: number | string, headers: Array<[string, string]>, body: string | Buffer = '', opts: ReplyOptions = {}): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  const statusLine = typeof status === 'number' ? `HTTP/1.1 ${status} ${REASONS[status] ?? 'Status'}` : status;
  const h = [...headers];
  const has = (n: string): boolean => h.some(([k]) => k.toLowerCase() === n);
  if (opts.chunked) {
    if (!has('transfer-encoding')) h.push(['Transfer-Encoding', 'chunked']);
  } else if (!opts.closeDelimited && !has('content-length')) h.push(['Content-Length', String(b.length)]);
  if (opts.close && !has('connection')) h.push(['Connection', 'close']);
  const head = Buffer.from(`${statusLine}\r\n${h.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, 'latin1');
  if (opts.noBody) return head;
  if (!opts.chunked) return Buffer.concat([head, b]);
  const chunks = b.length ? [Buffer.from(b.length.toString(16) + '\r\n'), b, Buffer.from('\r\n')] : [];
  return Buffer.concat([head, ...chunks, Buffer.from('0\r\n\r\n')]);
}

const REASONS: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 206: 'Partial Content', 301: 'Moved Permanently', 302: 'Found',
  303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 400: 'Bad Request', 403: 'Forbidden',
  404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** Answers with a response; the body of a HEAD request is left out. */
export function reply(status: number | string, headers: Array<[string, string]> = [], body: string | Buffer = '', opts: ReplyOptions = {}): Action {
  return ({ req, sock, backend }) => {
    const noBody = opts.noBody ?? req.method === 'HEAD';
    sock.write(response(status, headers.map(([k, v]) => [k, backend.subst(v)]), body, { ...opts, noBody }));
    if (opts.close || opts.closeDelimited) sock.end();
  };
}

/** Sends the request back as the body: what the backend received. */
export function echo(extra: Array<[string, string]> = []): Action {
  return ({ req, sock }) => {
    sock.write(response(200, [['Content-Type', 'text/plain'], ...extra], req.head + req.body.toString('latin1')));
  };
}

/** Writes bytes as they are, then closes (or not). */
export function raw(bytes: string | Buffer, opts: { close?: boolean } = {}): Action {
  return ({ sock }) => {
    sock.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    if (opts.close) sock.end();
  };
}

/** Writes bytes, then resets the connection (RST). */
export function resetAfter(bytes: string | Buffer = '', wait = 50): Action {
  return async ({ sock }) => {
    if (bytes.length) sock.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    await sleep(wait);
    sock.resetAndDestroy();
  };
}

/** Reads the request and never answers (the connection stays open until the peer or close() ends it). */
export function hang(): Action {
  return () => new Promise<void>(() => {});
}

/** Pieces of a response written with pauses between them. */
export function slow(pieces: Array<string | Buffer>, pauseMs: number, opts: { close?: boolean } = {}): Action {
  return async ({ sock }) => {
    for (const p of pieces) {
      if (sock.destroyed) return;
      sock.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
      await sleep(pauseMs);
    }
    if (opts.close) sock.end();
  };
}
