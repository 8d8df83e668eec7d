import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Readable } from 'node:stream';
import { DONE, type HttpRequest, type Outcome } from './request';
import { logError } from './http-context';
import { headerIn } from './core-variables';
import { sendHeader } from './header-filter';
import { internalRedirect, namedLocation } from './find-config';
import { HeaderState, parseHeaderLine } from './header-parser';
import { RC } from './request-parser';
import type { ProxyLocConf } from './proxy-module';
import { FT, IGN } from './proxy-flags';
import { newState, type UpstreamInfo, type UpstreamState } from './upstream-variables';
import { freePeer, getPeer, initPick } from './proxy-upstream';
import { ChunkedDecoder, StatusLine, parseStatusLine } from '../upstream/http-parse';
import { UpstreamConn, connectPeer, getKeepalive, putKeepalive, type ConnOwner } from '../upstream/keepalive';
import { NO_LIVE, type Peer, type PickState, type UpstreamGroup } from '../upstream/types';
import { processHeaders } from './proxy-headers';
import { lowerName } from './request-line';
import { noLimitRate, upstreamLimitRate } from './limit-rate';
import { setOverrideCharset } from './charset-module';
import { atTurnEnd, type TurnEndWriter } from '../core/turn-end';

// ngx_http_upstream.c's request path for the proxy module: connect to a
// peer, send the request, read and check the response head, decide
// whether to try the next peer (ngx_http_upstream_next), then pass the
// head through the header filters and stream the body both ways with
// backpressure, logging nginx's lines with nginx's "while ..." actions.

/** errno text as ngx_strerror gives it, by Node's error code */
const ERRNO: Record<string, [number, string]> = {
  ECONNREFUSED: [111, 'Connection refused'],
  ECONNRESET: [104, 'Connection reset by peer'],
  ETIMEDOUT: [110, 'Connection timed out'],
  EHOSTUNREACH: [113, 'No route to host'],
  ENETUNREACH: [101, 'Network is unreachable'],
  EPIPE: [32, 'Broken pipe'],
  ENOENT: [2, 'No such file or directory'],
  EACCES: [13, 'Permission denied'],
  EADDRNOTAVAIL: [99, 'Cannot assign requested address'],
};

const errnoText = (e: NodeJS.ErrnoException): string => {
  const k = ERRNO[e.code ?? ''];
  return k ? `${k[0]}: ${k[1]}` : `${-(e.errno ?? 0)}: ${e.message}`;
};

/** ngx_http_upstream_next_errors */
const NEXT_ERRORS: Array<[number, number]> = [
  [500, FT.http_500], [502, FT.http_502], [503, FT.http_503], [504, FT.http_504],
  [403, FT.http_403], [404, FT.http_404], [429, FT.http_429],
];

const NON_IDEMPOTENT = new Set(['POST', 'LOCK', 'PATCH']);

// one empty buffer for every "nothing read yet": Buffer.alloc(0) validates and zero-fills each time
const EMPTY: Buffer = Buffer.alloc(0);

type Action = 'proxying upgraded connection' | 'connecting to upstream' | 'sending request to upstream' | 'reading response header from upstream' | 'reading upstream';

export interface RequestToSend {
  head: string;
  /** a buffered body, or a stream (proxy_request_buffering off) */
  buffered?: Buffer[];
  stream?: Readable;
  /** frame the stream as chunked (HTTP/1.1, unknown length) */
  chunked: boolean;
  schema: string;
  uri: string;
}

export class ProxyRun implements ConnOwner, TurnEndWriter {
  private resolve!: (o: Outcome) => void;
  private readonly state: PickState;
  private readonly startMs = Date.now();
  private peer?: Peer;
  private lastPeer?: Peer;
  private conn?: UpstreamConn;
  private cached = false;
  private cur!: UpstreamState;
  private tryStart = 0;
  private action: Action = 'connecting to upstream';
  private requestSent = false;
  private finished = false;
  // response
  private buf: Buffer = EMPTY;
  private status = new StatusLine();
  private hstate = new HeaderState();
  private statusDone = false;
  /** name, value and the name in lower case, once */
  private headersIn: Array<[string, string, string]> = [];
  private bodyMode: 'none' | 'length' | 'chunked' | 'close' = 'none';
  private rest = 0;
  private chunked?: ChunkedDecoder;
  private keepalive = false;
  private connectionClose = false;
  private headerPassed = false;
  /** the timer of an upgraded connection (the upstream connection's own deadline is gone with it) */
  private upgradeTimer?: NodeJS.Timeout;
  private drainWait = false;
  private readonly onClientClose = () => this.clientClosed();

  constructor(
    private readonly r: HttpRequest,
    private readonly conf: ProxyLocConf,
    private readonly group: UpstreamGroup,
    private readonly info: UpstreamInfo,
    private readonly req: RequestToSend,
    private readonly head: boolean,
  ) {
    this.state = initPick(group, r, conf.nextUpstreamTries!);
    this.state.log = (level, message) => logError(r, level, message, this.action);
  }

  // the upstream connection's events, while this request owns it (ConnOwner)
  onData(d: Buffer): void {
    try {
      this.read(d);
    } catch (e) {
      this.crashed(e);
    }
  }
  onEnd(): void {
    this.onClose();
  }
  onClose(): void {
    try {
      this.eof();
    } catch (e) {
      this.crashed(e);
    }
  }
  onError(e: NodeJS.ErrnoException): void {
    this.failed(e);
  }
  onTimeout(): void {
    this.timedOut();
  }

  /** A bug must not take the worker down with it: the request ends in a 500 (or its connection closes). */
  private crashed(e: unknown): void {
    logError(this.r, 'alert', `internal error: ${(e as Error).stack ?? e}`);
    if (this.headerPassed && !this.finished) this.r.res.destroy();
    this.finalize(500);
  }

  run(): Promise<Outcome> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      // a client that closed its side is gone for nginx too (EPOLLRDHUP)
      this.r.res.onClientGone = this.onClientClose;
      if (this.r.conn.socket.readableEnded) queueMicrotask(this.onClientClose);
      // a method may look the request up elsewhere first (sticky learn in memcached); it never rejects
      const prepared = this.group.balancer.prepare?.(this.group, this.state);
      if (prepared) prepared.then(() => this.finished || this.connect());
      else this.connect();
    });
  }

  private log(level: 'error' | 'warn' | 'info', message: string): void {
    logError(this.r, level, message, this.action);
  }

  /** ngx_http_upstream_connect */
  private connect(): void {
    this.cur = newState(this.info);
    this.tryStart = Date.now();
    this.action = 'connecting to upstream';
    this.resetResponse();
    const peer = getPeer(this.group, this.state);
    if (peer === NO_LIVE) {
      this.cur.peer = this.group.name;
      this.info.logText = `${this.req.schema}${this.group.name}${this.req.uri}`;
      this.log('error', 'no live upstreams');
      this.next(FT.nolive);
      return;
    }
    this.peer = peer;
    this.lastPeer = peer;
    this.cur.peer = peer.name;
    this.info.logText = `${this.req.schema}${peer.name}${this.req.uri}`;
    const kept = getKeepalive(this.group, peer);
    if (kept) {
      this.cached = true;
      this.conn = kept;
      kept.requests++;
      kept.owner = this;
      this.cur.connectTime = 0;
      this.sendRequest();
      return;
    }
    this.cached = false;
    // https://: TLS as nginx's defaults have it (proxy_ssl_verify off, no SNI: proxy_ssl_server_name off)
    const tlsOn = this.req.schema.length === 8;
    this.conn = tlsOn
      ? new UpstreamConn(tls.connect({ host: peer.host, port: peer.port, path: peer.socketPath, rejectUnauthorized: false }), peer)
      : connectPeer(peer);
    const sock = this.conn.sock;
    sock.setNoDelay(true);
    this.conn.owner = this;
    this.arm(this.conf.connectTimeout!);
    sock.once(tlsOn ? 'secureConnect' : 'connect', () => {
      if (this.conn?.sock !== sock) return;
      this.cur.connectTime = Date.now() - this.tryStart;
      this.sendRequest();
    });
  }

  /** The connection is no more this request's: its events and its deadline stop reaching it. */
  private detach(): UpstreamConn | undefined {
    const conn = this.conn;
    if (!conn) return undefined;
    if (conn.owner === this) conn.owner = undefined;
    conn.deadline.disarm();
    if (this.drainWait) {
      this.drainWait = false;
      conn.sock.off('drain', this.onDrain);
    }
    return conn;
  }

  /** connect, send and read timeouts run on the connection's deadline */
  private arm(ms: number): void {
    this.conn?.deadline.arm(ms);
  }

  private disarm(): void {
    this.conn?.deadline.disarm();
    if (this.upgradeTimer) clearTimeout(this.upgradeTimer);
    this.upgradeTimer = undefined;
  }

  private resetResponse(): void {
    this.buf = EMPTY;
    this.status = new StatusLine();
    this.hstate = new HeaderState();
    this.statusDone = false;
    this.headersIn = [];
    this.bodyMode = 'none';
    this.keepalive = false;
    this.connectionClose = false;
    this.requestSent = false;
  }

  /** ngx_http_upstream_send_request */
  private sendRequest(): void {
    const sock = this.conn!.sock;
    this.action = 'sending request to upstream';
    this.requestSent = true;
    if (!this.req.buffered && !this.req.stream) {
      // a head alone goes with the other writes of this turn (core/turn-end.ts)
      this.turnSock = sock;
      atTurnEnd(this);
      this.sent();
      return;
    }
    let ok = sock.write(this.req.head, 'latin1');
    this.cur.bytesSent += this.req.head.length;
    if (this.req.buffered) {
      for (const b of this.req.buffered) {
        ok = sock.write(b);
        this.cur.bytesSent += b.length;
      }
    }
    const stream = this.req.stream;
    if (stream) {
      this.streamBody(sock, stream);
      return;
    }
    if (ok) this.sent();
    else this.waitDrain(sock);
  }

  /** the upstream socket whose request head waits for the end of the turn */
  private turnSock?: net.Socket = undefined;

  turnEnd(): void {
    const sock = this.turnSock;
    this.turnSock = undefined;
    // the request ended (client gone, timeout) or moved to another peer meanwhile
    if (!sock || this.finished || this.conn?.sock !== sock || sock.destroyed) return;
    this.cur.bytesSent += this.req.head.length;
    if (!sock.write(this.req.head, 'latin1')) this.waitDrain(sock);
  }

  /** The kernel took only part of the request: proxy_send_timeout till the rest is out. */
  private waitDrain(sock: net.Socket): void {
    this.arm(this.conf.sendTimeout!);
    this.drainWait = true;
    sock.once('drain', this.onDrain);
  }

  private readonly onDrain = () => {
    this.drainWait = false;
    this.sent();
  };

  private streamBody(sock: net.Socket, stream: Readable): void {
    const chunked = this.req.chunked;
    this.arm(this.conf.sendTimeout!);
    stream.on('data', (d: Buffer) => {
      if (this.finished || this.conn?.sock !== sock) return;
      const framed = chunked ? [Buffer.from(d.length.toString(16) + '\r\n', 'latin1'), d, Buffer.from('\r\n', 'latin1')] : [d];
      let ok = true;
      for (const f of framed) {
        ok = sock.write(f);
        this.cur.bytesSent += f.length;
      }
      this.conn.deadline.refresh();
      if (!ok) {
        stream.pause();
        sock.once('drain', () => stream.resume());
      }
    });
    // the body reader gave up (client gone, broken chunked body): its status ends the request, the upstream is closed
    stream.once('error', (e: Error & { status?: number }) => {
      if (this.finished) return;
      this.detach()?.destroy();
      this.finalize(e.status ?? 400);
    });
    stream.once('end', () => {
      if (this.finished || this.conn?.sock !== sock) return;
      if (chunked) {
        sock.write('0\r\n\r\n', 'latin1');
        this.cur.bytesSent += 5;
      }
      this.sent();
    });
  }

  /** The whole request went out: wait for the answer under proxy_read_timeout. */
  private sent(): void {
    if (this.finished) return;
    // the action stays "sending request" until the read handler runs (ngx_http_upstream_process_header)
    this.arm(this.conf.readTimeout!);
  }

  /** What nginx's read handler sets before it looks at the connection. */
  private reading(): void {
    if (!this.headerPassed) this.action = 'reading response header from upstream';
  }

  private timedOut(): void {
    if (this.finished) return;
    if (this.requestSent) this.reading();
    if (this.headerPassed) {
      this.log('error', 'upstream timed out (110: Connection timed out)');
      this.finalize(504);
      return;
    }
    // ngx_http_upstream_next logs it, after the peer was freed
    this.next(FT.timeout);
  }

  private failed(e: NodeJS.ErrnoException): void {
    if (this.finished) return;
    if (e.syscall === 'read') this.reading();
    // the event pipe (proxy_buffering on) reads the body with readv(), everything else with recv()
    const recv = this.action === 'reading upstream' && this.buffering ? 'readv()' : 'recv()';
    const sys = e.syscall === 'connect' ? 'connect()' : e.syscall === 'read' ? recv : e.syscall === 'write' || e.syscall === 'writev' ? 'writev()' : `${e.syscall ?? 'recv'}()`;
    this.log('error', `${sys} failed (${errnoText(e)})`);
    this.detach()?.destroy();
    if (this.headerPassed) {
      this.finalize(502);
      return;
    }
    this.next(FT.error);
  }

  private eof(): void {
    if (this.finished) return;
    this.reading();
    if (!this.statusDone || this.headerPassed === false) {
      if (this.conn?.sock.readableEnded === false && !this.conn.sock.destroyed) return;
      this.log('error', 'upstream prematurely closed connection');
      this.detach()?.destroy();
      this.next(FT.error);
      return;
    }
    if (this.bodyMode === 'close') {
      this.done();
      return;
    }
    this.log('error', 'upstream prematurely closed connection');
    this.finalize(502, 'all');
  }

  /** ngx_http_upstream_next */
  private next(ft: number): void {
    const peer = this.peer;
    if (this.peer) {
      this.detach()?.destroy();
      this.conn = undefined;
      this.cur.responseTime = Date.now() - this.tryStart;
      freePeer(this.group, this.peer, this.state, ft !== FT.http_403 && ft !== FT.http_404);
      this.peer = undefined;
    }
    if (ft === FT.timeout) this.log('error', 'upstream timed out (110: Connection timed out)');
    if (peer && this.cached && ft === FT.error) this.state.tries++;
    const status = ft === FT.timeout || ft === FT.http_504 ? 504
      : ft === FT.http_500 ? 500 : ft === FT.http_503 ? 503 : ft === FT.http_403 ? 403
      : ft === FT.http_404 ? 404 : ft === FT.http_429 ? 429 : 502;
    if (this.r.clientGone) {
      this.finalize(499);
      return;
    }
    this.cur.status = status;
    if (this.requestSent && NON_IDEMPOTENT.has(this.r.method)) ft |= FT.non_idempotent;
    const timeout = this.conf.nextUpstreamTimeout!;
    if (this.state.tries === 0 || (this.conf.nextUpstream! & ft) !== ft || (this.requestSent && this.req.stream !== undefined)
      || (timeout && Date.now() - this.startMs >= timeout)) {
      this.finalize(status);
      return;
    }
    this.connect();
  }

  private read(d: Buffer): void {
    if (this.finished) return;
    this.reading();
    this.cur.bytesReceived += d.length;
    if (this.headerPassed) {
      this.conn?.deadline.refresh();
      this.body(d, 0);
      return;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    this.processHeader();
  }

  /** ngx_http_proxy_process_status_line + ngx_http_proxy_process_header over what was read */
  private processHeader(): void {
    const b = this.buf;
    const limit = this.conf.bufferSize!;
    const end = Math.min(b.length, limit);
    let pos = 0;
    if (!this.statusDone) {
      const [rc, p] = parseStatusLine(this.status, b, 0, end);
      if (rc === 'again') return this.tooBig(end, limit);
      if (rc === 'error') {
        this.log('error', 'upstream sent no valid HTTP/1.0 header');
        this.cur.status = 200;
        this.http09 = true;
        this.connectionClose = true;
        this.statusDone = true;
        this.bodyMode = 'close';
        this.afterHeader(0);
        return;
      }
      this.statusDone = true;
      if (this.cur.status === 0) this.cur.status = this.status.code;
      if (this.status.httpVersion < 1001) this.connectionClose = true;
      this.statusText = b.toString('latin1', this.status.start, this.status.end);
      pos = p;
      this.hpos = p;
    } else pos = this.hpos;
    // the head read so far as one string: names and values are slices of it
    let head: string | undefined;
    for (;;) {
      const [rc, p] = parseHeaderLine(this.hstate, b, pos, end, true);
      if (rc === RC.OK) {
        const st = this.hstate;
        head ??= b.toString('latin1', 0, end);
        const name = head.slice(st.nameStart, st.nameEnd);
        this.headersIn.push([name, head.slice(st.valueStart, st.valueEnd), lowerName(name)]);
        pos = p;
        this.hpos = p;
        continue;
      }
      if (rc === RC.HEADER_DONE) {
        this.afterHeader(p);
        return;
      }
      if (rc === RC.AGAIN) {
        this.hpos = pos;
        return this.tooBig(end, limit);
      }
      const st = this.hstate;
      const name = b.toString('latin1', st.nameStart, st.valueEnd);
      const bad = b[st.valueEnd] ?? 0;
      this.log('error', `upstream sent invalid header: "${name}\\x${bad.toString(16).toUpperCase().padStart(2, '0')}..."`);
      this.next(FT.invalid_header);
      return;
    }
  }

  private http09 = false;
  /** HTTP/0.9 answer: the bytes go to the client socket as they are */
  private raw = false;
  /** proxy_buffering on: body bytes held as nginx's buffers hold them, sent once they fill or at the end */
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private get buffering(): boolean {
    return this.xAccelBuffering ?? this.conf.buffering!;
  }
  private xAccelBuffering?: boolean;
  private statusText = '';
  private hpos = 0;

  private tooBig(end: number, limit: number): void {
    if (end < limit) return;
    this.log('error', 'upstream sent too big header');
    this.next(FT.invalid_header);
  }

  /** The head is in: next upstream, intercepted errors, X-Accel-Redirect, or the response goes out. */
  private afterHeader(bodyStart: number): void {
    this.disarm();
    const r = this.r;
    const code = this.http09 ? 200 : this.status.code;
    this.cur.headerTime = Date.now() - this.tryStart;
    const hs = this.analyze();
    this.accelHeaders();
    // ngx_http_upstream_test_next
    for (const [status, mask0] of NEXT_ERRORS) {
      if (code !== status) continue;
      const mask = this.requestSent && NON_IDEMPOTENT.has(r.method) ? mask0 | FT.non_idempotent : mask0;
      const timeout = this.conf.nextUpstreamTimeout!;
      if (this.state.tries > 1 && (this.conf.nextUpstream! & mask) === mask && !(this.requestSent && this.req.stream)
        && !(timeout && Date.now() - this.startMs >= timeout)) {
        this.next(mask0);
        return;
      }
    }
    this.info.headersIn = this.headersIn;
    // ngx_http_upstream_intercept_errors
    if (this.conf.interceptErrors && code >= 300 && r.loc.errorPages?.some((p) => p.codes.includes(code))) {
      if (code === 401) {
        const wa = this.headersIn.find((h) => h[2] === 'www-authenticate');
        if (wa) r.out.headers.push([wa[0], wa[1]]);
      }
      this.forgetCtx();
      this.finalize(code);
      return;
    }
    const redirect = hs.xAccelRedirect;
    if (redirect !== undefined && !(this.conf.ignoreHeaders! & IGN['x-accel-redirect'])) {
      this.release();
      this.finished = true;
      this.cleanup();
      this.forgetCtx();
      const rc = this.accelRedirect(redirect);
      this.resolve(rc);
      return;
    }
    if (hs.xAccelBuffering !== undefined && !(this.conf.ignoreHeaders! & IGN['x-accel-buffering'])) {
      const v = hs.xAccelBuffering.toLowerCase();
      if (v === 'yes') this.xAccelBuffering = true;
      else if (v === 'no') this.xAccelBuffering = false;
    }
    if (hs.chunked) hs.contentLength = -1;
    // ngx_http_proxy_input_filter_init
    if (code === 204 || code === 304 || this.head) this.bodyMode = 'none';
    else if (hs.chunked) {
      this.bodyMode = 'chunked';
      this.chunked = new ChunkedDecoder();
    } else if (hs.contentLength === 0) this.bodyMode = 'none';
    else if (hs.contentLength > 0) {
      this.bodyMode = 'length';
      this.rest = hs.contentLength;
    } else this.bodyMode = 'close';
    if (this.bodyMode === 'none') this.keepalive = !this.connectionClose;
    if (this.http09) {
      // nginx answers an HTTP/0.9 upstream as HTTP/0.9: the bytes alone, no head, logged as status 009
      r.status = 9;
      r.keepalive = false;
      r.headerSent = true;
      this.headerPassed = true;
      this.raw = true;
      this.startBody(0);
      return;
    }
    r.status = code;
    processHeaders(r, this.conf, this.headersIn, hs, this.statusText);
    if (code === 101 && headerIn(r, 'upgrade') !== undefined) {
      this.upgrade(bodyStart);
      return;
    }
    if (this.group.balancer.responded && this.lastPeer) {
      const lower = this.headersIn.map(([, v, l]): [string, string] => [l, v]);
      this.group.balancer.responded(this.group, this.state, this.lastPeer, lower, r.out.headers);
    }
    // nginx drops the rate of an unbuffered response (an upstream's X-Accel-Limit-Rate too)
    if (!this.buffering) noLimitRate(r);
    const rc = sendHeader(r);
    this.headerPassed = true;
    if (rc !== DONE) {
      this.finalize(rc);
      return;
    }
    // the non-buffered path sends the head at once; nginx's buffers hold it until they flush
    if (!this.buffering) r.res.flushHeaders();
    if (r.headerOnly && this.bodyMode !== 'none') {
      // nginx closes the upstream rather than read a body it will not send
      this.finalize(0);
      return;
    }
    this.startBody(bodyStart);
  }

  /** An internal redirect clears the module contexts: $proxy_host and $proxy_port are no longer found. */
  private forgetCtx(): void {
    this.info.hostHeader = undefined;
    this.info.port = undefined;
  }

  private analyze() {
    let contentLength = -1;
    let chunked = false;
    let xAccelRedirect: string | undefined;
    let xAccelBuffering: string | undefined;
    for (const [, v, l] of this.headersIn) {
      if (l === 'content-length') {
        const n = /^[0-9]+$/.test(v) ? Number(v) : -1;
        contentLength = n;
      } else if (l === 'transfer-encoding') {
        if (v.toLowerCase().includes('chunked')) chunked = true;
      } else if (l === 'connection') {
        if (v.toLowerCase().includes('close')) this.connectionClose = true;
      } else if (l === 'x-accel-redirect') xAccelRedirect ??= v;
      else if (l === 'x-accel-buffering') xAccelBuffering ??= v;
    }
    return { contentLength, chunked, xAccelRedirect, xAccelBuffering };
  }

  /**
   * ngx_http_upstream_process_limit_rate and _charset, called for each
   * header line as it is parsed: what they set stays with the request
   * through a next upstream or an X-Accel-Redirect.
   */
  private accelHeaders(): void {
    const ignore = this.conf.ignoreHeaders!;
    for (const [, v, l] of this.headersIn) {
      if (l === 'x-accel-limit-rate' && !(ignore & IGN['x-accel-limit-rate'])) upstreamLimitRate(this.r, v);
      else if (l === 'x-accel-charset' && !(ignore & IGN['x-accel-charset'])) setOverrideCharset(this.r, v);
    }
  }

  private accelRedirect(uri: string): Outcome {
    const r = this.r;
    if (uri.startsWith('@')) return namedLocation(r, uri);
    const q = uri.indexOf('?');
    const path = q >= 0 ? uri.slice(0, q) : uri;
    if (r.method !== 'HEAD') r.method = 'GET';
    r.out.headers = [];
    return internalRedirect(r, path, q >= 0 ? uri.slice(q + 1) : '', q >= 0);
  }

  private startBody(from: number): void {
    this.action = 'reading upstream';
    if (this.bodyMode === 'none') {
      this.done();
      return;
    }
    this.arm(this.conf.readTimeout!);
    const rest = this.buf.subarray(from);
    this.buf = EMPTY;
    if (rest.length) this.body(rest, 0);
  }

  private body(d: Buffer, from: number): void {
    let ok = true;
    const write = (chunk: Buffer) => {
      if (chunk.length === 0) return;
      if (this.buffering) {
        this.pending.push(chunk);
        this.pendingLen += chunk.length;
        if (this.pendingLen >= this.conf.busyBuffersSize!) ok = this.flush() && ok;
      } else ok = this.send(chunk) && ok;
    };
    if (this.bodyMode === 'length') {
      const n = Math.min(this.rest, d.length - from);
      this.cur.responseLength += n;
      write(d.subarray(from, from + n));
      this.rest -= n;
      if (from + n < d.length) this.log('warn', 'upstream sent more data than specified in "Content-Length" header');
      if (this.rest === 0) {
        this.keepalive = !this.connectionClose;
        this.done();
        return;
      }
    } else if (this.bodyMode === 'chunked') {
      // what one read brings goes out as one piece, as nginx's buffers do
      const pieces: Buffer[] = [];
      const [rc, end] = this.chunked!.decode(d, from, d.length, (c) => pieces.push(c));
      this.cur.responseLength += rc === 'invalid' ? d.length - from : end - from;
      write(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces));
      if (rc === 'invalid') {
        this.log('error', 'upstream sent invalid chunked response');
        this.finalize(502, 'none');
        return;
      }
      if (rc === 'done') {
        this.keepalive = !this.connectionClose;
        this.done();
        return;
      }
    } else {
      this.cur.responseLength += d.length - from;
      write(d.subarray(from));
    }
    if (!ok && (!this.buffering || this.writable() > 1024 * 1024)) this.backpressure();
  }

  /** Writes held body bytes on. */
  private flush(): boolean {
    if (this.pendingLen === 0) return true;
    const chunk = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingLen);
    this.pending = [];
    this.pendingLen = 0;
    return this.send(chunk);
  }

  private send(chunk: Buffer): boolean {
    const r = this.r;
    const res = r.res;
    // proxy_ignore_client_abort: the upstream is read to its end, what it sends goes nowhere
    if (r.clientGone || res.destroyed) return true;
    if (this.raw) {
      r.bodyBytesSent += chunk.length;
      return r.conn.socket.write(chunk);
    }
    // $body_bytes_sent counts the chunked framing, as nginx counts its own (gzip counts what it writes itself)
    if (r.ctx.gzipRatio === undefined) r.bodyBytesSent += chunk.length + (res.chunkedEncoding ? chunk.length.toString(16).length + 4 : 0);
    return res.write(chunk);
  }

  private writable(): number {
    return this.raw ? this.r.conn.socket.writableLength : this.r.res.writableLength;
  }

  private backpressure(): void {
    const sock = this.conn?.sock;
    if (!sock) return;
    sock.pause();
    (this.raw ? this.r.conn.socket : this.r.res).once('drain', () => {
      if (!this.finished) sock.resume();
    });
  }

  /**
   * ngx_http_upstream_upgrade: the 101 goes out, then the two connections
   * are joined, each side paused while the other cannot take more, under
   * proxy_read_timeout for the upstream's silence; either side closing
   * ends both.
   */
  private upgrade(from: number): void {
    const r = this.r;
    r.keepalive = false;
    sendHeader(r);
    this.headerPassed = true;
    r.res.flushHeaders();
    this.action = 'proxying upgraded connection';
    const client = r.conn.socket;
    // the connection is a tunnel now: the HTTP side stops reading it
    client.removeAllListeners('data');
    client.removeAllListeners('end');
    client.removeAllListeners('timeout');
    client.setTimeout(0);
    this.cleanup();
    const upConn = this.conn!;
    const up = upConn.sock;
    this.detach();
    const rest = this.buf.subarray(from);
    this.buf = EMPTY;
    if (rest.length) client.write(rest);
    const end = (): void => {
      if (this.finished) return;
      this.finished = true;
      this.disarm();
      this.cur.responseTime = Date.now() - this.tryStart;
      if (this.peer) freePeer(this.group, this.peer, this.state, false);
      this.peer = undefined;
      up.destroy();
      client.destroy();
      this.resolve(DONE);
    };
    this.upgradeTimer = setTimeout(() => {
      this.log('error', 'upstream timed out (110: Connection timed out)');
      end();
    }, this.conf.readTimeout!);
    // the upstream's bytes come through its connection (a plain socket has no 'data' events)
    const none = (): void => undefined;
    upConn.owner = {
      onData: (d: Buffer) => {
        this.upgradeTimer?.refresh();
        this.cur.bytesReceived += d.length;
        r.bodyBytesSent += d.length;
        if (!client.write(d)) {
          up.pause();
          client.once('drain', () => up.resume());
        }
      },
      onEnd: none, onError: none, onClose: none, onTimeout: none,
    };
    client.on('data', (d: Buffer) => {
      this.cur.bytesSent += d.length;
      if (!up.write(d)) {
        client.pause();
        up.once('drain', () => client.resume());
      }
    });
    for (const s of [up, client]) {
      s.on('end', end);
      s.on('close', end);
      s.on('error', end);
    }
  }

  /** The response is complete: the connection goes back to the pool or is closed. */
  private done(): void {
    this.release();
    this.finished = true;
    this.cleanup();
    const res = this.r.res;
    if (!this.raw && this.pendingLen > 0 && !res.chunkedEncoding && !this.r.clientGone && this.r.ctx.gzipRatio === undefined) {
      // head, body and end in one write
      const chunk = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingLen);
      this.pending = [];
      this.pendingLen = 0;
      this.r.bodyBytesSent += chunk.length;
      res.end(chunk);
      this.resolve(DONE);
      return;
    }
    this.flush();
    if (this.raw) {
      // no response head: the connection's end is the answer's
      this.r.conn.socket.end();
      this.resolve(DONE);
      return;
    }
    if (res.chunkedEncoding && this.r.ctx.gzipRatio === undefined && !this.r.headerOnly) this.r.bodyBytesSent += 5;
    res.end();
    this.resolve(DONE);
  }

  private release(): void {
    this.disarm();
    const conn = this.detach();
    if (!conn || !this.peer) return;
    this.cur.responseTime = Date.now() - this.tryStart;
    freePeer(this.group, this.peer, this.state, false);
    this.peer = undefined;
    this.conn = undefined;
    if (!(this.keepalive && putKeepalive(this.group, conn))) conn.destroy();
  }

  private cleanup(): void {
    this.disarm();
    if (this.r.res.onClientGone === this.onClientClose) this.r.res.onClientGone = undefined;
  }

  /** ngx_http_upstream_finalize_request */
  private finalize(rc: number, flush: 'all' | 'head' | 'none' = 'head'): void {
    if (this.finished) return;
    if (this.peer) {
      this.cur.responseTime = Date.now() - this.tryStart;
      freePeer(this.group, this.peer, this.state, false);
      this.peer = undefined;
    }
    this.detach()?.destroy();
    this.conn = undefined;
    this.finished = true;
    this.cleanup();
    if (rc === 499) {
      // nothing more goes to a client that is gone: the connection closes and the request is logged
      this.r.res.destroy();
      this.r.conn.socket.destroy();
      this.resolve(DONE);
      return;
    }
    if (this.headerPassed) {
      if (rc === 0) this.r.res.end();
      else this.cut(flush);
      this.resolve(DONE);
      return;
    }
    this.resolve(rc === 0 ? DONE : rc);
  }

  /**
   * The upstream failed after the head was passed (nginx's finalize with
   * NGX_ERROR): what nginx's buffers held goes out — the head, and after a
   * premature close the body so far; after an invalid chunked body nothing
   * (no flush then) — never the end of the body; the connection closes.
   */
  private cut(flush: 'all' | 'head' | 'none'): void {
    const r = this.r;
    r.keepalive = false;
    if (flush === 'all') this.flush();
    this.pending = [];
    this.pendingLen = 0;
    if (flush === 'none' && !this.headOnWire()) {
      r.res.destroy();
      return;
    }
    // writeHead only stored the head: send it now (idempotent once sent)
    if (!this.raw) r.res.flushHeaders();
    r.conn.socket.end();
  }

  private headOnWire(): boolean {
    return this.raw || (this.r.res as unknown as { _headerSent: boolean })._headerSent;
  }

  /** ngx_http_upstream_check_broken_connection: the client went away. */
  private clientClosed(): void {
    if (this.finished) return;
    const r = this.r;
    if (r.res.writableFinished) return;
    if (this.conf.ignoreClientAbort) return;
    r.clientGone = true;
    // nginx's ngx_http_terminate_request: 499 unless something was sent already
    if (!this.headerPassed || !this.headOnWire()) r.status = 499;
    if (this.peer) this.log('info', 'epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too');
    this.finalize(499);
  }
}
