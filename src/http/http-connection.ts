import type * as net from 'node:net';
import type { HttpConnection } from './request';
import type { HttpContext } from './http-context';
import { logRequest } from './http-context';
import { runRequest } from './phases';
import { Request, info, processRequest } from './request-line';
import { HeadReader } from './request-head';
import { setBodyControl, setBodyReader, bodyControl } from './request-body';
import { NO_BODY, RequestBodyState, discardBody, readBody, type BodyHost } from './request-body-state';
import { requestLocConf, requestSrvConf } from './core-request-module';
import { TRACE, type Trace } from './trace';
import type { ResponseHooks } from './response';
import { Deadline } from '../core/deadline';

// One client connection as ngx_http_request.c runs it: the request head is
// read into buffers the size of client_header_buffer_size and
// large_client_header_buffers (so a line is refused where nginx refuses it),
// under client_header_timeout counted from the connection or from the
// first wait for more; the request runs; its body is read (request-body-reader.ts)
// or discarded when a handler says so; then keep-alive (pipelined requests from what is already
// read), lingering close or close. Node's HTTP parser is not used: it
// refuses and accepts other things than nginx (see README).

/** What a connection needs from its listener. */
export interface ConnectionHooks {
  readonly closing: boolean;
  /** the current cycle's context, set on the record for a new request */
  refresh(c: HttpConnection): void;
  // stub_status: a request is reading from its first byte, writing once its head was read
  requestStarted(ctx: HttpContext): void;
  requestProcessing?(ctx: HttpContext): void;
  requestDone(ctx: HttpContext, writing: boolean): void;
}

type Phase = 'wait' | 'head' | 'busy' | 'draining' | 'keepalive' | 'linger' | 'closed';

const EMPTY: Buffer = Buffer.alloc(0);
// bytes read ahead while a request runs before the socket is paused (nginx
// does not read then at all; the kernel's buffers hold the rest)
const HIGH_WATER = 256 * 1024;

setBodyReader((r, opts) => bodyControl(r)?.read(opts) ?? Promise.resolve(NO_BODY));

export class ClientConnection {
  private buf: Buffer = EMPTY;
  private phase: Phase = 'wait';
  private r?: Request;
  private head = new HeadReader(0, 0, 0);
  private readonly deadline = new Deadline(() => this.onDeadline());
  private onDeadline: () => void = () => undefined;
  private lingerUntil = 0;
  private body?: RequestBodyState;
  private readonly bodyHost: BodyHost;
  private pipeline = false;
  private eof = false;
  private reset = false;
  /** send_timeout is running: a write found the kernel's buffer full (ngx_http_writer's timer) */
  private sendTimer = false;
  private readonly resHooks: ResponseHooks = {
    finished: (res) => {
      const r = this.r;
      if (r && r.res === res) this.responseDone(r);
    },
    blocked: (res) => {
      const r = this.r;
      if (!r || r.res !== res || this.sendTimer) return;
      this.sendTimer = true;
      this.c.socket.setTimeout(requestLocConf(r.loc).sendTimeout);
    },
  };

  constructor(readonly c: HttpConnection, private readonly hooks: ConnectionHooks) {
    const socket = c.socket;
    // tcp_nodelay: a response head and body written apart must not wait for an ACK (Nagle)
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('end', () => this.onEnd());
    socket.on('error', (e: NodeJS.ErrnoException) => (this.reset ||= e.code === 'ECONNRESET'));
    socket.on('close', () => this.onClose());
    socket.on('timeout', () => this.onSendTimeout());
    // what Node's HTTP server does for its responses: a full socket that drained wakes the writer
    socket.on('drain', () => {
      const res = (socket as net.Socket & { _httpMessage?: { writableEnded: boolean; emit(e: string): void } })._httpMessage;
      if (res && !res.writableEnded) res.emit('drain');
    });
    this.bodyHost = this.newBodyHost();
    const srv = requestSrvConf(c.addr.defaultServer!);
    // ngx_http_init_connection: the header timeout runs from the accept
    this.arm(srv.clientHeaderTimeout, () => this.headerTimedOut());
  }

  private newBodyHost(): BodyHost {
    const [phase, eof] = [(): Phase => this.phase, (): boolean => this.eof];
    return {
      socket: this.c.socket,
      buf: () => this.buf,
      headerEnd: () => this.head.capEnd,
      consume: (n) => this.consume(n),
      arm: (ms, fn) => this.arm(ms, fn),
      disarm: () => this.disarm(),
      get draining() { return phase() === 'draining'; },
      get busy() { return phase() === 'busy'; },
      get eof() { return eof(); },
      forget: () => (this.body = undefined),
      drained: () => this.finalizeConnection(this.r!),
      waitDrain: () => this.lingerTimer(() => this.close(false)),
      close: (now) => this.close(now),
    };
  }

  // client_header_timeout, keepalive_timeout, lingering_timeout...: one
  // deadline per connection, armed and disarmed per request without a timer each time
  private arm(ms: number, fn: () => void): void {
    this.onDeadline = fn;
    this.deadline.arm(ms);
  }

  private disarm(): void {
    this.deadline.disarm();
  }

  /** A closed connection leaves no timer behind to keep the process up. */
  private dropTimer(): void {
    this.deadline.drop();
  }

  private readonly closeQuietly = (): void => this.close(false);

  private onData(d: Buffer): void {
    if (this.phase === 'closed') return;
    if (this.phase === 'linger') {
      this.lingerRead();
      return;
    }
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    if (this.phase === 'wait' || this.phase === 'keepalive') {
      this.startRequest(false);
      return;
    }
    if (this.phase === 'head') {
      this.readHead();
      return;
    }
    if (this.body?.reader) this.body.reader.feed();
    else if (this.body) this.body.drain();
    if (this.buf.length > HIGH_WATER && !this.c.socket.isPaused()) this.c.socket.pause();
  }

  /** ngx_http_create_request on the first byte of a request. */
  private startRequest(pipelined: boolean): void {
    this.hooks.refresh(this.c);
    const c = this.c;
    const r = new Request(c);
    r.trace = (c.socket as net.Socket & { [TRACE]?: Trace })[TRACE];
    r.action = pipelined ? 'reading client pipelined request line' : 'reading client request line';
    r.pipeline = pipelined;
    c.requests++;
    c.current = r;
    this.r = r;
    this.hooks.requestStarted(c.ctx);
    if (this.phase === 'keepalive' || pipelined) this.disarm();
    this.body = undefined;
    const old = this.head;
    if (!pipelined || old.capEnd <= 0) {
      const size = requestSrvConf(r.server).clientHeaderBufferSize;
      this.head = new HeadReader(size, size, 0);
    } else this.head = new HeadReader(old.capEnd, old.capSize, old.nbusy > 0 ? 1 : 0);
    this.phase = 'head';
    this.readHead();
  }

  private readHead(): void {
    const rc = this.head.read(this.buf, this.r!);
    if (rc === 'again') this.needMore();
    else if (rc === 'done') this.headDone();
    else this.headFailed(rc);
  }

  /** ngx_http_read_request_header found nothing more: the header timer, if not running. */
  private needMore(): void {
    if (!this.deadline.armed) this.arm(requestSrvConf(this.r!.server).clientHeaderTimeout, () => this.headerTimedOut());
    if (this.c.socket.isPaused()) this.c.socket.resume();
  }

  private headFailed(status: number): void {
    this.run(status);
  }

  private headDone(): void {
    this.r!.statWriting = true;
    this.hooks.requestProcessing?.(this.c.ctx);
    processRequest(this.r!, this.hooks.closing);
    this.run(undefined);
  }

  /** ngx_http_process_request (or finalize with an error): the head is over, the request runs. */
  private run(status: number | undefined): void {
    this.disarm();
    const r = this.r!;
    const socket = this.c.socket;
    // the body (or the next request) starts where the head ended
    this.consume(this.head.pos);
    this.phase = 'busy';
    if (r.contentLength > 0) this.body = new RequestBodyState(r, this.bodyHost, r.contentLength, false);
    else if (r.chunked) this.body = new RequestBodyState(r, this.bodyHost, 1, true);
    const res = r.attachResponse(this.resHooks);
    res.assignSocket(socket);
    setBodyControl(r, {
      discard: (expectTested) => discardBody(r, r === this.r, this.body, expectTested),
      read: (opts) => readBody(r, r === this.r, this.body, opts),
    });
    void runRequest(r, status);
  }

  /** Drops n bytes from the front of what was read. */
  private consume(n: number): void {
    if (n === 0) return;
    this.buf = this.buf.length === n ? EMPTY : this.buf.subarray(n);
    this.head.consumed(n);
  }

  /** ngx_http_free_request's log and the runtime's accounting. */
  private finish(r: Request): void {
    if (r.done) return;
    r.done = true;
    if (r.res && !r.res.writableFinished) r.clientGone = true;
    if (r.clientGone && !r.headerSent && !r.errStatus) r.status = 499;
    try {
      logRequest(r);
    } catch (e) {
      this.c.ctx.errorLog.log('alert', `access log failed: ${(e as Error).message}`);
    }
    // a request whose connection goes on for it (a body to drop) counts till then
    if (this.phase !== 'busy') this.statDone(r);
  }

  /** ngx_http_free_request's counters: nginx frees a request once its body was dropped. */
  private statDone(r: Request | undefined): void {
    if (!r?.done || r.statDone) return;
    r.statDone = true;
    this.hooks.requestDone(this.c.ctx, r.statWriting);
  }

  private responseDone(r: Request): void {
    const socket = this.c.socket;
    if (this.sendTimer) {
      this.sendTimer = false;
      socket.setTimeout(0);
    }
    r.res.detachSocket(socket);
    this.finish(r);
    if (this.phase === 'closed' || socket.destroyed) return;
    if (this.body?.reader) {
      // answered before its body was read: nginx keeps no such connection alive
      this.body.reader.abort();
      this.body = undefined;
      r.keepalive = false;
      r.lingeringClose = true;
      return this.finalizeConnection(r);
    }
    if (this.body && !this.body.started) discardBody(r, true, this.body, true);
    if (this.body) {
      // the rest of the body is read and dropped, lingering_timeout at a time
      this.phase = 'draining';
      this.lingerUntil = Date.now() + requestLocConf(r.loc).lingeringTime;
      this.lingerTimer(() => this.close(false));
      if (socket.isPaused()) socket.resume();
      return;
    }
    this.finalizeConnection(r);
  }

  /** ngx_http_finalize_connection: keep-alive, lingering close or close. */
  private finalizeConnection(r: Request): void {
    const lc = requestLocConf(r.loc);
    const keepaliveTimeout = r.loc.keepaliveTimeout ?? 75000;
    // nginx frees the request here: a connection kept alive or lingering is waiting
    this.statDone(r);
    if (!this.hooks.closing && r.keepalive && !r.closeAfter && keepaliveTimeout > 0) return this.setKeepalive(keepaliveTimeout);
    if (lc.lingeringClose === 'always' || (lc.lingeringClose === 'on' && (r.lingeringClose || this.buf.length > 0 || this.pipeline))) {
      return this.lingeringClose(r);
    }
    this.close(false);
  }

  /** ngx_http_set_keepalive: a pipelined request at once, else wait keepalive_timeout. */
  private setKeepalive(timeout: number): void {
    this.r = undefined;
    if (this.buf.length > 0) {
      this.pipeline = true;
      return this.startRequest(true);
    }
    this.head.capEnd = 0;
    if (this.eof) {
      this.c.ctx.errorLog.log('info', `*${this.c.id} client ${this.c.remoteAddr} closed keepalive connection`);
      return this.close(false);
    }
    this.phase = 'keepalive';
    this.arm(timeout, this.closeQuietly);
    if (this.c.socket.isPaused()) this.c.socket.resume();
  }

  /** ngx_http_set_lingering_close: no more writes, reads dropped until quiet or lingering_time. */
  private lingeringClose(r: Request): void {
    this.phase = 'linger';
    this.buf = EMPTY;
    this.lingerUntil = Date.now() + requestLocConf(r.loc).lingeringTime;
    this.c.socket.end();
    this.lingerTimer(() => this.close(true));
    if (this.c.socket.isPaused()) this.c.socket.resume();
  }

  private lingerRead(): void {
    this.lingerTimer(() => this.close(true));
  }

  /** lingering_timeout, but never past lingering_time. */
  private lingerTimer(fn: () => void): void {
    const left = this.lingerUntil - Date.now();
    if (left <= 0) return fn();
    const loc = this.r?.loc ?? this.c.addr.defaultServer!.core.loc!;
    this.arm(Math.min(left, requestLocConf(loc).lingeringTimeout), fn);
  }

  private close(now: boolean): void {
    this.phase = 'closed';
    this.statDone(this.r);
    this.dropTimer();
    const unread = this.buf.length > 0;
    this.buf = EMPTY;
    const socket = this.c.socket;
    // close() on a socket with unread input resets it: so does nginx's, without lingering
    if (unread && !socket.destroyed) socket.resetAndDestroy();
    else if (now || socket.destroyed) socket.destroy();
    else socket.destroySoon();
  }

  /** client_header_timeout: nothing, or not enough, came in time. */
  private headerTimedOut(): void {
    const c = this.c;
    if (this.phase === 'wait') {
      c.ctx.errorLog.log('info', `*${c.id} client timed out (110: Connection timed out) while waiting for request, client: ${c.remoteAddr}, server: ${c.listenText}`);
      return this.close(true);
    }
    const r = this.r;
    if (this.phase !== 'head' || !r) return;
    if (this.head.readingLine) r.requestLine = this.head.partialLine(this.buf, Math.min(this.buf.length, this.head.capEnd));
    info(r, 'client timed out (110: Connection timed out)');
    r.status = 408;
    this.finish(r);
    this.close(true);
  }

  /** send_timeout: the client stopped reading the response. */
  private onSendTimeout(): void {
    const r = this.r;
    if (this.phase !== 'busy' || !r || !r.headerSent || r.done) return;
    r.action = 'sending response to client';
    info(r, 'client timed out (110: Connection timed out)');
    this.close(true);
  }

  private onEnd(): void {
    this.eof = true;
    const c = this.c;
    switch (this.phase) {
      case 'wait':
        c.ctx.errorLog.log('info', `*${c.id} client closed connection while waiting for request, client: ${c.remoteAddr}, server: ${c.listenText}`);
        return this.close(true);
      case 'keepalive':
        if (this.buf.length > 0) return;
        c.ctx.errorLog.log('info', `*${c.id} client ${c.remoteAddr} closed keepalive connection`);
        return this.close(true);
      case 'head': {
        const r = this.r!;
        if (this.head.readingLine) r.requestLine = this.head.partialLine(this.buf, this.buf.length);
        info(r, 'client prematurely closed connection');
        r.status = 400;
        this.finish(r);
        return this.close(true);
      }
      case 'busy':
        this.body?.reader?.eof();
        if (this.r?.res?.socket === this.c.socket) this.r.res.clientEnded();
        return;
      case 'draining':
        // ngx_http_read_discarded_request_body: the end of input ends the body
        this.body = undefined;
        return this.close(false);
      case 'linger':
        return this.close(true);
    }
  }

  private onClose(): void {
    this.dropTimer();
    this.body?.reader?.closed(this.reset ? 'reset' : undefined);
    const r = this.r;
    if (r && !r.done) {
      if (this.phase === 'head') r.status = 400;
      else r.clientGone = true;
      this.finish(r);
    }
    this.phase = 'closed';
    this.statDone(r);
    // the response still writing hears of it after the log line, as its 'close' listeners always did
    if (r?.res && r.res.socket === this.c.socket) r.res.socketClosed();
  }
}
