import * as http from 'node:http';
import * as net from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ListenConf } from './listen';
import type { AddrEntry, PortEntry } from './server-names';
import { findServer } from './server-names';
import type { HttpConnection, HttpRequest } from './request';
import { newOutHeaders } from './request';
import { type HttpContext, URI_CHANGES, logRequest, runRequest, setNamedCaptures } from './phases';
import { errorPageBody, serverHeader, statusText, userAgentQuirks, wantsPadding, wireStatus } from './error-pages';
import { httpDateNow } from './core-variables';

// One listening socket: Node's HTTP parser on top, nginx's request
// processing below. A connection picks its address entry (and so its
// virtual servers) by the local address it was accepted on; a request picks
// its server by Host, its URI is decoded and normalised as
// ngx_http_parse_complex_uri does, and what Node's parser refuses still gets
// nginx's 400 page.

/** What a listener needs from the runtime that owns it. */
export interface ListenerOwner {
  /** a connection may be accepted (worker_connections) */
  admit(socket: net.Socket): boolean;
  released(): void;
  nextConnectionId(): number;
  readonly closing: boolean;
  requestStarted(ctx: HttpContext): void;
  requestDone(ctx: HttpContext): void;
}

const HOST_INVALID = Symbol('invalid host');

/** ngx_http_validate_host: lower-cased, port and trailing dot removed; HOST_INVALID if bad. */
export function validateHost(host: string): string | typeof HOST_INVALID {
  let dotPos = host.length;
  let hostLen = host.length;
  let state = 0; // 0 usual, 1 literal, 2 rest
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    switch (c) {
      case 0x2e: // .
        if (dotPos === i - 1) return HOST_INVALID;
        dotPos = i;
        break;
      case 0x3a: // :
        if (state === 0) {
          hostLen = i;
          state = 2;
        }
        break;
      case 0x5b: // [
        if (i === 0) state = 1;
        break;
      case 0x5d: // ]
        if (state === 1) {
          hostLen = i + 1;
          state = 2;
        }
        break;
      case 0:
        return HOST_INVALID;
      default:
        if (c === 0x2f || c <= 0x20 || c === 0x7f) return HOST_INVALID;
    }
  }
  if (dotPos === hostLen - 1) hostLen--;
  if (hostLen <= 0) return HOST_INVALID;
  return host.slice(0, hostLen).toLowerCase();
}

const hexVal = (c: number): number =>
  c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;

/**
 * ngx_http_parse_complex_uri: percent-decoding, "//" merged, "." and ".."
 * resolved; undefined for what nginx answers 400 (bad escapes, %00, a path
 * above the root).
 */
export function normalizeUri(raw: string): string | undefined {
  let s = raw;
  const hash = s.indexOf('#');
  if (hash >= 0) s = s.slice(0, hash);
  if (s.includes('%')) {
    let out = '';
    let from = 0;
    for (let i = s.indexOf('%'); i >= 0; i = s.indexOf('%', from)) {
      const hi = hexVal(s.charCodeAt(i + 1));
      const lo = hexVal(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return undefined;
      const c = (hi << 4) | lo;
      if (c === 0) return undefined;
      out += s.slice(from, i) + String.fromCharCode(c);
      from = i + 3;
    }
    s = out + s.slice(from);
  }
  if (!s.includes('//') && !s.includes('/.')) return s;
  const parts = s.split('/');
  const stack: string[] = [];
  let trailing = false;
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i];
    const last = i === parts.length - 1;
    if (seg === '' || seg === '.') {
      trailing = last;
      continue;
    }
    if (seg === '..') {
      if (stack.length === 0) return undefined;
      stack.pop();
      trailing = last;
      continue;
    }
    stack.push(seg);
    trailing = false;
  }
  if (stack.length === 0) return '/';
  return '/' + stack.join('/') + (trailing ? '/' : '');
}

const TOKEN_METHOD = /^[A-Z_-]+$/;

class Request implements HttpRequest {
  server!: HttpRequest['server'];
  loc!: HttpRequest['loc'];
  method: string;
  uri = '';
  args = '';
  hasArgs = false;
  requestUri = '';
  host = '';
  vars: Array<string | undefined> = [];
  captures?: string[] = undefined;
  uriChanges = URI_CHANGES;
  internal = false;
  status = 0;
  startTime = process.hrtime.bigint();
  startMs = Date.now();
  bodyBytesSent = 0;
  errorPage = false;
  protocol: string;
  requestLine: string;
  errStatus = 0;
  out = newOutHeaders();
  headerSent = false;
  headerBytes = 0;
  keepalive = false;
  headerOnly: boolean;
  clientGone = false;
  done = false;
  contentLength = -1;
  requestLength = 0;
  quirks = userAgentQuirks(undefined);
  requestId?: string = undefined;
  filename?: string = undefined;
  headerLimit = Infinity;
  bare = false;
  closeAfter = false;
  ctx: Record<string, unknown> = {};

  constructor(readonly req: IncomingMessage, readonly res: ServerResponse, public conn: HttpConnection) {
    this.method = req.method ?? '';
    this.protocol = `HTTP/${req.httpVersion}`;
    this.requestLine = `${this.method} ${req.url} ${this.protocol}`;
    this.headerOnly = this.method === 'HEAD';
  }
}

/** Request line, headers and the blank line, as counted by $request_length. */
function headLength(r: Request): number {
  let n = r.requestLine.length + 2 + 2;
  const raw = r.req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) n += raw[i].length + raw[i + 1].length + 4;
  return n;
}

/** A listening socket and the servers behind it, for the current cycle. */
export class Listener {
  readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly conns = new WeakMap<net.Socket, HttpConnection>();

  constructor(
    readonly key: string,
    public listen: ListenConf,
    public port: PortEntry,
    public ctx: HttpContext,
    private readonly owner: ListenerOwner,
  ) {
    this.server = http.createServer({
      requireHostHeader: false,
      maxHeaderSize: 32 * 1024,
      keepAliveTimeout: 0,
      requestTimeout: 0,
      headersTimeout: 60000,
      joinDuplicateHeaders: false,
    } as http.ServerOptions);
    // a client that half-closes after its request still gets the answer, as from nginx
    (this.server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.server.on('connection', (socket: net.Socket) => this.onConnection(socket));
    this.server.on('request', (req, res) => this.onRequest(req, res));
    this.server.on('checkContinue', (req, res) => this.onRequest(req, res));
    this.server.on('checkExpectation', (req, res) => this.onRequest(req, res));
    this.server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: net.Socket) => this.onClientError(err, socket));
  }

  /** Which listen entry a local address belongs to: the exact one, else the wildcard. */
  private entryFor(localAddr: string): AddrEntry {
    const addrs = this.port.addrs;
    if (addrs.length === 1 || this.listen.family === 'unix') return addrs.find((a) => a.listen.text === this.listen.text) ?? addrs[0];
    const bare = localAddr.startsWith('::ffff:') ? localAddr.slice(7) : localAddr;
    for (const a of addrs) if (!a.listen.wildcard && a.listen.addr === bare) return a;
    return addrs.find((a) => a.listen.wildcard) ?? addrs[0];
  }

  private onConnection(socket: net.Socket): void {
    if (!this.owner.admit(socket)) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    const unix = this.listen.family === 'unix';
    const localAddr = unix ? 'unix:' : (socket.localAddress ?? '');
    const conn: HttpConnection = {
      id: this.owner.nextConnectionId(),
      requests: 0,
      socket,
      addr: this.entryFor(localAddr),
      remoteAddr: unix ? 'unix:' : stripMapped(socket.remoteAddress ?? ''),
      remotePort: unix ? '' : String(socket.remotePort ?? ''),
      localAddr: stripMapped(localAddr),
      localPort: unix ? '' : String(socket.localPort ?? ''),
      listenText: this.listen.text,
      startMs: Date.now(),
      ctx: this.ctx,
      prefix: this.ctx.prefix,
    };
    this.conns.set(socket, conn);
    const ka = this.listen.soKeepalive;
    if (ka) socket.setKeepAlive(true, typeof ka === 'object' && ka.idle ? ka.idle * 1000 : 0);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.owner.released();
      const cur = conn.current;
      if (cur && !cur.done) this.finish(cur as Request);
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const conn = this.conns.get(socket);
    if (!conn) {
      socket.destroy();
      return;
    }
    conn.requests++;
    // new requests use the current cycle
    if (conn.ctx !== this.ctx) {
      conn.ctx = this.ctx;
      conn.prefix = this.ctx.prefix;
      conn.addr = this.entryFor(conn.localAddr);
    }
    // nginx's send_timeout / client_body_timeout (60s): a client that stops
    // reading or sending mid-request is dropped. A handler that waits longer
    // on purpose (an upstream) sets its own timeout on the socket.
    socket.setTimeout(60000);
    const r = new Request(req, res, conn);
    conn.current = r;
    this.owner.requestStarted(r.conn.ctx);
    res.once('finish', () => this.finish(r));
    res.once('close', () => {
      if (!r.done) {
        r.clientGone = true;
        this.finish(r);
      }
    });
    const bad = this.prepare(r);
    if (bad !== undefined) {
      void runRequest(r, bad);
      return;
    }
    void runRequest(r);
  }

  /**
   * The checks of ngx_http_process_request_line/headers: the target, Host,
   * the server, keep-alive. Returns a status to answer with at once.
   */
  private prepare(r: Request): number | undefined {
    const req = r.req;
    const conn = r.conn;
    const entry = conn.addr;
    r.server = entry.defaultServer!;
    r.loc = r.server.core.loc!;
    r.requestLength = headLength(r);
    const cl = req.headers['content-length'];
    if (cl !== undefined) r.contentLength = Number(cl);
    if (r.protocol !== 'HTTP/1.0' && r.protocol !== 'HTTP/1.1') {
      return this.lineError(r, r.protocol >= 'HTTP/2' ? 505 : 400);
    }
    if (!TOKEN_METHOD.test(r.method)) return this.lineError(r, 400);
    // the request target: origin form, or absolute form whose host wins over Host
    let target = req.url ?? '';
    let lineHost: string | undefined;
    if (!target.startsWith('/')) {
      const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(target);
      if (!m) return this.lineError(r, 400);
      lineHost = m[1];
      target = target.slice(m[0].length) || '/';
      if (!target.startsWith('/')) target = '/' + target;
    }
    r.requestUri = target;
    const q = target.indexOf('?');
    const rawPath = q < 0 ? target : target.slice(0, q);
    if (q >= 0) {
      r.args = target.slice(q + 1);
      r.hasArgs = true;
    }
    const uri = normalizeUri(rawPath);
    if (uri === undefined) {
      r.requestUri = '';
      r.args = '';
      r.hasArgs = false;
      return this.lineError(r, 400);
    }
    r.uri = uri;
    // headers
    let hostHeader: string | undefined;
    let connection: string | undefined;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      if (name === 'host') {
        if (hostHeader !== undefined) {
          this.info(r, 'client sent duplicate host header: "Host: ' + raw[i + 1] + '", previous value: "Host: ' + hostHeader + '"');
          return this.headerError(r, i, 400);
        }
        hostHeader = raw[i + 1];
        if (lineHost === undefined && validateHost(hostHeader) === HOST_INVALID) {
          this.info(r, 'client sent invalid host header');
          return this.headerError(r, i, 400);
        }
      } else if (name === 'connection') connection = raw[i + 1].toLowerCase();
      else if (name === 'user-agent' && r.quirks.msie === false) r.quirks = userAgentQuirks(raw[i + 1]);
    }
    const hostText = lineHost ?? hostHeader;
    if (hostText !== undefined) {
      const host = validateHost(hostText);
      if (host === HOST_INVALID) {
        this.info(r, 'client sent invalid host header');
        return 400;
      }
      r.host = host;
    } else if (r.protocol === 'HTTP/1.1') {
      this.info(r, 'client sent HTTP/1.1 request without "Host" header');
      return 400;
    }
    if (cl !== undefined && !/^[0-9]+$/.test(cl)) return 400;
    const found = findServer(entry, r.host);
    r.server = found.server;
    r.loc = r.server.core.loc!;
    if (found.captures) {
      r.captures = Array.from(found.captures, (x) => x ?? '');
      if (found.captures.groups) setNamedCaptures(r, found.captures.groups);
    }
    if (connection !== undefined && connection.includes('close')) r.keepalive = false;
    else if (connection !== undefined && connection.includes('keep-alive')) r.keepalive = true;
    else r.keepalive = r.protocol === 'HTTP/1.1';
    if (this.owner.closing) r.keepalive = false;
    return undefined;
  }

  /** Refused at the request line: the headers were never read. */
  private lineError(r: Request, status: number): number {
    r.headerLimit = 0;
    r.requestLength = r.requestLine.length + 2;
    return status;
  }

  /** Refused at the header at rawHeaders[i]: those after it were never read. */
  private headerError(r: Request, i: number, status: number): number {
    r.headerLimit = i + 2;
    let n = r.requestLine.length + 2;
    const raw = r.req.rawHeaders;
    for (let j = 0; j <= i; j += 2) n += raw[j].length + raw[j + 1].length + 4;
    r.requestLength = n;
    return status;
  }

  private info(r: Request, message: string): void {
    const log = r.conn.ctx.errorLog;
    log.log('info', `*${r.conn.id} ${message} while reading client request headers, client: ${r.conn.remoteAddr}, server: ${r.server?.core.names[0]?.name ?? ''}, request: "${r.requestLine}"`);
  }

  private finish(r: Request): void {
    if (r.done) return;
    r.done = true;
    if (!r.res.writableFinished) r.clientGone = true;
    if (r.clientGone && !r.headerSent && !r.errStatus) r.status = 499;
    try {
      logRequest(r);
    } catch (e) {
      r.conn.ctx.errorLog.log('alert', `access log failed: ${(e as Error).message}`);
    }
    this.owner.requestDone(r.conn.ctx);
    const conn = r.conn;
    const socket = conn.socket;
    if (conn.current !== r || socket.destroyed) return;
    if (!r.keepalive || this.owner.closing || r.closeAfter) {
      if (!r.keepalive) socket.destroySoon?.();
      else socket.end();
      return;
    }
    const ms = r.loc?.keepaliveTimeout ?? 75000;
    socket.setTimeout(ms);
  }

  /** What Node's parser refused: nginx's 400 (or 414, 494, 505) with Connection: close. */
  private onClientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: net.Socket): void {
    const conn = this.conns.get(socket);
    if (!socket.writable || err.code === 'ECONNRESET' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !conn
      || (socket as unknown as { _httpMessage?: ServerResponse })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const packet = err.rawPacket?.toString('latin1') ?? '';
    let end = packet.search(/[\r\n]/);
    if (end < 0) end = packet.length;
    const line = packet.slice(0, end);
    let code = 400;
    if (err.code === 'HPE_HEADER_OVERFLOW') code = end >= 8192 || !/[\r\n]/.test(packet) ? 414 : 494;
    else if (err.code === 'HPE_INVALID_METHOD' && /^[A-Z_-]+ \/\S* HTTP\/1\.[01]$/.test(line)) code = 405;
    else if (err.code === 'HPE_INVALID_VERSION' && /HTTP\/[2-9]/.test(line)) code = 505;
    conn.requests++;
    const server = conn.addr.defaultServer!;
    const loc = server.core.loc!;
    const tokens = loc.serverTokens ?? 'on';
    const ua = /\r?\nuser-agent:[ \t]*([^\r\n]*)/i.exec(packet)?.[1];
    const body = errorPageBody(code, tokens, wantsPadding(code, userAgentQuirks(ua)))!;
    const wire = wireStatus(code);
    const head = `HTTP/1.1 ${wire} ${statusText(wire)}\r\nServer: ${serverHeader(tokens)}\r\nDate: ${httpDateNow()}\r\n` +
      `Content-Type: text/html\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
    // log it as nginx does: the request line as far as it was read
    const fake = new Request(
      { method: '', url: '', httpVersion: '', rawHeaders: [], headers: {} } as unknown as IncomingMessage,
      {} as ServerResponse, conn,
    );
    fake.requestLine = line;
    fake.bare = true;
    fake.headerLimit = 0;
    fake.out.contentType = 'text/html';
    fake.out.contentLength = body.length;
    fake.server = server;
    fake.loc = loc;
    fake.status = wire;
    fake.errStatus = wire;
    fake.headerSent = true;
    fake.headerBytes = head.length;
    fake.bodyBytesSent = body.length;
    fake.requestLength = 0;
    fake.done = true;
    conn.current = fake;
    try {
      logRequest(fake);
    } catch {
      // nothing to do
    }
  }

  /** Starts listening; rejects with nginx's bind() message. */
  async bind(): Promise<void> {
    const ls = this.listen;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        this.server.off('listening', onListening);
        reject(e);
      };
      const onListening = (): void => {
        this.server.off('error', onError);
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      if (ls.family === 'unix') this.server.listen({ path: ls.path!, backlog: ls.backlog ?? 511, exclusive: true });
      else {
        this.server.listen({
          host: ls.addr, port: ls.port, backlog: ls.backlog && ls.backlog > 0 ? ls.backlog : 511,
          ipv6Only: ls.family === 6 ? ls.ipv6only : undefined, exclusive: true,
        });
      }
    });
    this.server.on('error', (e) => this.ctx.errorLog.log('alert', `listener ${ls.text} failed: ${e.message}`));
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Stops accepting; graceful lets requests finish and closes idle connections. */
  close(graceful: boolean): Promise<void> {
    return new Promise((resolve) => {
      let pending = 2;
      const done = (): void => {
        if (--pending === 0) resolve();
      };
      this.server.close(() => done());
      if (!graceful) {
        for (const s of this.sockets) s.destroy();
      } else {
        for (const s of this.sockets) {
          const cur = this.conns.get(s)?.current;
          if (!cur || cur.done) s.destroy();
        }
      }
      // not unref'd: whoever awaits the close must not see the loop empty first
      const check = (): void => {
        if (this.sockets.size === 0) done();
        else setTimeout(check, 20);
      };
      check();
    });
  }
}

function stripMapped(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
