import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { atTurnEnd, type TurnEndWriter } from '../core/turn-end';

// The response object handlers write to (r.res). It keeps the part of
// node:http's ServerResponse contract nodinx and its modules use — writeHead
// with nginx's header list, write/end with backpressure, chunk framing once
// the head says "Transfer-Encoding: chunked", no body for HEAD/204/304,
// 'finish' when the last byte went to the kernel, 'close' when the socket
// closed under it, 'drain', pipe()/pipeline() as a destination — without
// ServerResponse's per-request cost (a stream state, header objects,
// validation of headers nginx's header filter already built): measured
// with wrk on a 1 KiB file, ServerResponse alone took a quarter of the
// request's time. The head goes out with the first body bytes in one write,
// as Node's does.

/** Node's rule for header values and names: what may not be on the wire (the header filter uses it too). */
export const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
export const INVALID_NAME = /[^\^_`a-zA-Z\-0-9!#$%&'*+.|~]/;
const CRLF = Buffer.from('\r\n');
/**
 * Head and body go out joined in one buffer while that buffer comes from
 * Node's shared pool (allocUnsafe pools what is under half of poolSize).
 * A larger one would be an ArrayBuffer of its own, whose external memory
 * drives V8 to full collections: for 10 KiB bodies two writes (writev)
 * cost less, 27 -> 21 us for a static file and 62 -> 49 us proxied.
 */
const JOINED_UNDER = Buffer.poolSize >>> 1;

type Callback = (err?: Error | null) => void;
type Chunk = string | Uint8Array;

/**
 * What the connection learns from its response without listening to it
 * (an EventEmitter listener per request costs more than the call).
 */
export interface ResponseHooks {
  /** the last byte went to the kernel, before 'finish' is emitted */
  finished(res: HttpResponse): void;
  /** a write left bytes queued: the kernel's buffer is full (send_timeout starts, as nginx's timer) */
  blocked(res: HttpResponse): void;
}

function invalidChar(what: string, name: string): Error {
  const e = new TypeError(`Invalid character in ${what} content ["${name}"]`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_CHAR';
  return e;
}

export class HttpResponse extends EventEmitter implements TurnEndWriter {
  statusCode = 200;
  statusMessage = '';
  /** accepted for ServerResponse compatibility; nginx's header filter adds Date itself */
  sendDate = false;
  /** a body of unknown length is framed as chunks (chunked-filter.ts decides; the head names it) */
  useChunkedEncodingByDefault = false;
  chunkedEncoding = false;
  /** the response head as it goes on the wire, once writeHead ran */
  _header: string | null = null;
  socket: Socket | null = null;
  destroyed = false;
  finished = false;
  writableEnded = false;
  writableFinished = false;
  private headerSent = false;
  private hasBody: boolean;
  private outHeaders?: Map<string, [string, string | string[]]>;
  private blockedOnce = false;

  /** head: a HEAD request (the head alone); http09: the body alone (ngx_http_header_filter sends nothing) */
  constructor(head: boolean, private readonly http09: boolean, private readonly hooks?: ResponseHooks) {
    super();
    this.hasBody = !head;
  }

  get headersSent(): boolean {
    return this._header !== null;
  }
  /** ServerResponse's name for "the head went to the socket" (headersSent only says it was made) */
  get _headerSent(): boolean {
    return this.headerSent;
  }
  get writable(): boolean {
    return !this.writableEnded && !this.destroyed;
  }
  get connection(): Socket | null {
    return this.socket;
  }
  get writableLength(): number {
    return this.socket?.writableLength ?? 0;
  }
  get writableHighWaterMark(): number {
    return this.socket?.writableHighWaterMark ?? 16384;
  }
  get writableNeedDrain(): boolean {
    return this.socket?.writableNeedDrain ?? false;
  }
  get writableCorked(): number {
    return this.socket?.writableCorked ?? 0;
  }
  get writableObjectMode(): boolean {
    return false;
  }

  /** The connection's socket; its owner calls socketClosed() when it closes while attached. */
  assignSocket(socket: Socket): void {
    (socket as Socket & { _httpMessage?: unknown })._httpMessage = this;
    this.socket = socket;
    this.emit('socket', socket);
  }

  detachSocket(socket: Socket): void {
    (socket as Socket & { _httpMessage?: unknown })._httpMessage = null;
    this.socket = null;
  }

  /**
   * Who hears first that the client went away, closed or half-closed (the
   * proxy, as nginx's EPOLLRDHUP check): one call instead of a listener on
   * the response and one on the socket per request.
   */
  onClientGone?: () => void;

  socketClosed(): void {
    this.destroyed = true;
    this.onClientGone?.();
    this.emit('close');
  }

  /** The client ended its side while this response was being made. */
  clientEnded(): void {
    this.onClientGone?.();
  }

  // --- headers set one by one (ServerResponse's progressive API) ---
  setHeader(name: string, value: string | number | readonly string[]): this {
    if (this._header !== null) throw new Error('Cannot set headers after they are sent to the client');
    this.outHeaders ??= new Map();
    this.outHeaders.set(name.toLowerCase(), [name, Array.isArray(value) ? [...value] : String(value)]);
    return this;
  }
  getHeader(name: string): string | string[] | undefined {
    return this.outHeaders?.get(name.toLowerCase())?.[1];
  }
  hasHeader(name: string): boolean {
    return this.outHeaders?.has(name.toLowerCase()) ?? false;
  }
  removeHeader(name: string): void {
    this.outHeaders?.delete(name.toLowerCase());
  }
  getHeaders(): Record<string, string | string[]> {
    const o: Record<string, string | string[]> = {};
    for (const [k, [, v]] of this.outHeaders ?? []) o[k] = v;
    return o;
  }
  getHeaderNames(): string[] {
    return [...(this.outHeaders?.keys() ?? [])];
  }

  /** The head from a flat [name, value, ...] list (or an object), kept until the first body bytes. */
  writeHead(status: number, reason?: string | readonly string[] | Record<string, string>, headers?: readonly string[] | Record<string, string>): this {
    if (this._header !== null) throw new Error('Cannot write headers after they are sent to the client');
    if (typeof reason !== 'string') {
      headers = reason;
      reason = undefined;
    }
    this.statusCode = status;
    if (reason !== undefined) this.statusMessage = reason;
    else if (this.statusMessage === '') this.statusMessage = STATUS_CODES[status] ?? 'unknown';
    let list: string[] = [];
    if (Array.isArray(headers)) list = headers as string[];
    else if (headers) for (const k of Object.keys(headers)) list.push(k, String((headers as Record<string, string>)[k]));
    if (this.outHeaders) {
      const merged = new Map(this.outHeaders);
      for (let i = 0; i < list.length; i += 2) merged.set(list[i].toLowerCase(), [list[i], list[i + 1]]);
      list = [];
      for (const [name, v] of merged.values()) for (const x of Array.isArray(v) ? v : [v]) list.push(name, x);
    }
    let head = `HTTP/1.1 ${status} ${this.statusMessage}\r\n`;
    let chunked = false;
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i];
      const value = String(list[i + 1]);
      if (INVALID_NAME.test(name) || name === '') throw invalidChar('header', name);
      if (INVALID_VALUE.test(value)) throw invalidChar('header', name);
      if (name.length === 17 && name.toLowerCase() === 'transfer-encoding' && /(?:^|,)\s*chunked\s*$/i.test(value)) chunked = true;
      head += name + ': ' + value + '\r\n';
    }
    this.setHead(status, head + '\r\n', chunked);
    return this;
  }

  /**
   * The head as the header filter made it, on the wire as is: nginx's own
   * header lines need none of writeHead's checks.
   */
  setHead(status: number, head: string, chunked: boolean): void {
    if (this._header !== null) throw new Error('Cannot write headers after they are sent to the client');
    this.statusCode = status;
    if (status === 204 || status === 304 || (status >= 100 && status <= 199)) this.hasBody = false;
    this.chunkedEncoding = chunked && this.hasBody;
    this._header = this.http09 ? '' : head;
  }

  /** ServerResponse writes the head itself when a body comes first. */
  private implicitHeader(): void {
    if (this._header === null) this.writeHead(this.statusCode);
  }

  flushHeaders(): void {
    this.implicitHeader();
    this.send(undefined, undefined);
  }

  /** Bytes to the socket; the connection hears once when the kernel did not take them all. */
  private send(data: Chunk | undefined, encoding: BufferEncoding | undefined, cb?: Callback): boolean {
    const socket = this.socket;
    if (!socket || socket.destroyed) {
      if (cb) process.nextTick(cb, new Error('socket closed'));
      return false;
    }
    const ok = this.sendTo(socket, data, encoding, cb);
    this.checkBlocked(socket);
    return ok;
  }

  /** The head first if still pending, in one write where possible. */
  private sendTo(socket: Socket, data: Chunk | undefined, encoding: BufferEncoding | undefined, cb?: Callback): boolean {
    if (!this.headerSent) {
      this.headerSent = true;
      const head = this._header!;
      if (data === undefined || data.length === 0) return socket.write(head, 'latin1', cb);
      if (typeof data === 'string' && (encoding === 'latin1' || encoding === 'binary')) return socket.write(head + data, 'latin1', cb);
      if (head.length === 0) return socket.write(data, encoding as BufferEncoding, cb);
      if (typeof data !== 'string' && head.length + data.byteLength < JOINED_UNDER) {
        // one buffer: a single write() costs less than cork, two writes and writev
        const buf = Buffer.allocUnsafe(head.length + data.byteLength);
        buf.write(head, 0, 'latin1');
        buf.set(data, head.length);
        return socket.write(buf, cb);
      }
      socket.cork();
      socket.write(head, 'latin1');
      const ok = socket.write(data, encoding as BufferEncoding, cb);
      socket.uncork();
      return ok;
    }
    if (data === undefined || data.length === 0) {
      // nothing to write: the callback still waits for what is queued
      return cb ? socket.write('', 'latin1', cb) : true;
    }
    return socket.write(data, encoding as BufferEncoding, cb);
  }

  private framed(data: Chunk, encoding: BufferEncoding | undefined, cb?: Callback): boolean {
    const len = typeof data === 'string' ? Buffer.byteLength(data, encoding) : data.byteLength;
    const socket = this.socket;
    socket?.cork();
    this.send(len.toString(16) + '\r\n', 'latin1');
    this.send(data, encoding);
    const ok = this.send(CRLF, undefined, cb);
    socket?.uncork();
    this.checkBlocked(socket);
    return ok;
  }

  write(chunk: Chunk, encoding?: BufferEncoding | Callback, cb?: Callback): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (this.writableEnded || this.destroyed) {
      if (cb) process.nextTick(cb, new Error('write after end'));
      return false;
    }
    this.implicitHeader();
    if (!this.hasBody || chunk.length === 0) {
      if (!this.headerSent) this.send(undefined, undefined);
      if (cb) process.nextTick(cb);
      return true;
    }
    return this.chunkedEncoding ? this.framed(chunk, encoding, cb) : this.send(chunk, encoding, cb);
  }

  end(chunk?: Chunk | Callback, encoding?: BufferEncoding | Callback, cb?: Callback): this {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (this.writableEnded) {
      if (cb) process.nextTick(cb);
      return this;
    }
    this.implicitHeader();
    this.writableEnded = true;
    this.finished = true;
    if (cb) this.once('finish', cb);
    const body = this.hasBody && chunk !== undefined && chunk.length > 0 ? chunk : undefined;
    if (this.chunkedEncoding) {
      const socket = this.socket;
      socket?.cork();
      if (body !== undefined) this.framed(body, encoding as BufferEncoding | undefined);
      this.send('0\r\n\r\n', 'latin1', this.onFinish);
      socket?.uncork();
      this.checkBlocked(socket);
    } else {
      this.lastChunk = body;
      this.lastEncoding = encoding as BufferEncoding | undefined;
      // with the other responses of this turn: nothing else is written to the
      // connection meanwhile, it goes on (keep-alive, close) once this write is done
      atTurnEnd(this);
    }
    return this;
  }

  /** end()'s bytes, written with the other responses ended in this turn of the event loop */
  private lastChunk?: Chunk = undefined;
  private lastEncoding?: BufferEncoding = undefined;

  turnEnd(): void {
    const body = this.lastChunk;
    this.lastChunk = undefined;
    this.send(body, this.lastEncoding, this.onFinish);
  }

  private readonly onFinish = (err?: Error | null): void => {
    if (err || this.destroyed) return;
    this.writableFinished = true;
    this.hooks?.finished(this);
    this.emit('finish');
  };

  /** After an uncork: what the corked writes left queued. */
  private checkBlocked(socket: Socket | null): void {
    if (socket && !this.blockedOnce && socket.writableLength > 0 && socket.writableCorked === 0 && this.hooks) {
      this.blockedOnce = true;
      this.hooks.blocked(this);
    }
  }

  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    if (this.socket) this.socket.destroy(err);
    else this.once('socket', (s: Socket) => s.destroy(err));
    return this;
  }

  cork(): void {
    this.socket?.cork();
  }
  uncork(): void {
    this.socket?.uncork();
    this.checkBlocked(this.socket);
  }
  setTimeout(ms: number, cb?: () => void): this {
    this.socket?.setTimeout(ms, cb);
    return this;
  }
  addTrailers(): void {
    // nginx sends no trailers in chunked responses it makes itself
  }
}
