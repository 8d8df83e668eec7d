import type { Socket } from 'node:net';
import type { Request } from './request-line';
import { ChunkedState, type ReadBodyOptions, type RequestBody } from './request-body';
import { BodyReader } from './request-body-reader';

// The body of the request a connection is running: not touched yet, being
// read for a handler (ngx_http_read_client_request_body, request-body-reader.ts)
// or being discarded (ngx_http_discard_request_body), "Expect: 100-continue"
// answered first either way (ngx_http_test_expect). The connection
// (http-connection.ts) feeds it what it reads and is told when it is over.

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
export const NO_BODY: RequestBody = { length: 0, buffered: [] };

/** What the body needs from its connection. */
export interface BodyHost {
  readonly socket: Socket;
  /** the bytes read and not consumed yet */
  buf(): Buffer;
  /** where nginx's header buffer ends in buf() */
  headerEnd(): number;
  consume(n: number): void;
  arm(ms: number, fn: () => void): void;
  disarm(): void;
  /** the response is over and the rest of the body is being dropped */
  readonly draining: boolean;
  /** the request is running (no response finished yet) */
  readonly busy: boolean;
  /** the client has half-closed */
  readonly eof: boolean;
  /** the body is over (read, dropped or given up): the connection forgets it */
  forget(): void;
  /** a dropped body ended while draining: keep-alive or close */
  drained(): void;
  /** wait lingering_timeout for more of a dropped body, then close */
  waitDrain(): void;
  close(now: boolean): void;
}

/** ngx_http_test_expect: "100 Continue" once, when the body is wanted. */
export function testExpect(r: Request, socket: Socket, expectTested: boolean): void {
  const expect = r.req.headers.expect;
  if (!expectTested && !r.expectTested && r.httpVersion > 1000 && typeof expect === 'string' && expect.toLowerCase() === '100-continue') {
    socket.write(CONTINUE, 'latin1');
    r.bodyBytesSent += CONTINUE.length;
  }
  r.expectTested = true;
}

/** ngx_http_read_client_request_body: once per request; a body already dropped reads as none. */
export function readBody(r: Request, current: boolean, body: RequestBodyState | undefined, opts: ReadBodyOptions): Promise<RequestBody | number> {
  const reading = r.ctx.bodyRead as Promise<RequestBody | number> | undefined;
  if (reading) return reading;
  if (!current || r.done || body?.started) return Promise.resolve(NO_BODY);
  testExpect(r, r.conn.socket, false);
  return (r.ctx.bodyRead = body ? body.read(opts) : Promise.resolve(NO_BODY));
}

/** ngx_http_discard_request_body, with ngx_http_test_expect first (expectTested: no "100 Continue"). */
export function discardBody(r: Request, current: boolean, body: RequestBodyState | undefined, expectTested: boolean): number | undefined {
  if (!current || body?.started) return undefined;
  testExpect(r, r.conn.socket, expectTested);
  return body?.discard();
}

export class RequestBodyState {
  started = false;
  reader?: BodyReader;
  private readonly chunked?: ChunkedState;

  constructor(private readonly r: Request, private readonly host: BodyHost, private remaining: number, chunked: boolean) {
    if (chunked) this.chunked = new ChunkedState();
  }

  /** ngx_http_read_client_request_body: the body for a handler. */
  read(opts: ReadBodyOptions): Promise<RequestBody | number> {
    const r = this.r;
    const host = this.host;
    const socket = host.socket;
    this.started = true;
    const reader = new BodyReader(r, {
      buf: () => host.buf(),
      headerEnd: () => host.headerEnd(),
      consume: (n) => host.consume(n),
      pause: () => socket.pause(),
      resume: () => {
        if (socket.isPaused() && !socket.destroyed) socket.resume();
      },
      arm: (ms, fn) => host.arm(ms, fn),
      disarm: () => host.disarm(),
      complete: () => {
        host.forget();
        r.lingeringClose = false;
        if (socket.isPaused() && !socket.destroyed) socket.resume();
      },
      failed: (terminate) => {
        host.forget();
        // ngx_http_finalize_connection: a body not read to its end forbids keep-alive
        r.keepalive = false;
        r.lingeringClose = true;
        if (terminate) host.close(true);
        else if (socket.isPaused()) socket.resume();
      },
    }, this.remaining, this.chunked, opts);
    this.reader = reader;
    reader.start();
    // the client may have gone before anyone asked for the body
    if (host.eof) reader.eof();
    return reader.promise;
  }

  /** ngx_http_discard_request_body: from now on what is read of the body is dropped. */
  discard(): number | undefined {
    this.started = true;
    return this.drain();
  }

  /** Skips body bytes that were read; 400 for a broken chunked body. */
  drain(): number | undefined {
    if (!this.started) return undefined;
    const r = this.r;
    const host = this.host;
    const buf = host.buf();
    if (this.chunked) {
      const [p, state] = this.chunked.skip(buf, 0, buf.length);
      host.consume(p);
      if (state === 'invalid') {
        host.forget();
        const c = r.conn;
        c.ctx.errorLog.log('error', `*${c.id} client sent invalid chunked body, client: ${c.remoteAddr}, server: ${r.server.core.names[0]?.name ?? ''}, request: "${r.requestLine}"${r.hostHeader ? `, host: "${r.hostHeader[1]}"` : ''}`);
        if (host.busy && !r.headerSent) return 400;
        host.close(false);
        return undefined;
      }
      if (state === 'done') this.remaining = 0;
    } else {
      const n = Math.min(this.remaining, buf.length);
      host.consume(n);
      this.remaining -= n;
    }
    if (this.remaining === 0) {
      host.forget();
      r.lingeringClose = false;
      if (host.draining) host.drained();
    } else if (host.draining) host.waitDrain();
    if (host.socket.isPaused()) host.socket.resume();
    return undefined;
  }
}
