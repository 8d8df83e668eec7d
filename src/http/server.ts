import * as http from 'node:http';
import * as net from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ListenConf } from './listen';
import type { AddrEntry, PortEntry } from './server-names';
import type { HttpConnection } from './request';
import { type HttpContext, logRequest } from './http-context';
import { runRequest } from './phases';
import { Request, processRequestHeaders } from './request-line';
import { type ParserError, clientError } from './client-error';
import { TRACE, type Trace } from './trace';

// One listening socket: Node's HTTP parser on top, nginx's request
// processing below. A connection picks its address entry (and so its
// virtual servers) by the local address it was accepted on; a request is
// checked as ngx_http_process_request_line/headers would (request-line.ts),
// what Node's parser refuses still gets nginx's 400 page (client-error.ts),
// and after the response the connection is kept alive or closed here.

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
    this.server.on('clientError', (err: ParserError, socket: net.Socket) => clientError(err, socket, this.conns.get(socket)));
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
    // `nodinx explain` hands its connection a trace to fill
    r.trace = (socket as net.Socket & { [TRACE]?: Trace })[TRACE];
    conn.current = r;
    this.owner.requestStarted(r.conn.ctx);
    res.once('finish', () => this.finish(r));
    res.once('close', () => {
      if (!r.done) {
        r.clientGone = true;
        this.finish(r);
      }
    });
    const bad = processRequestHeaders(r, this.owner.closing);
    if (bad !== undefined) {
      void runRequest(r, bad);
      return;
    }
    void runRequest(r);
  }

  /** ngx_http_free_request (the access log), then ngx_http_finalize_connection: keep-alive or close. */
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
