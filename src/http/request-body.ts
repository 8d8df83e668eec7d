import type { Readable } from 'node:stream';
import type { HttpRequest } from './request';

// ngx_http_request_body.c: a request body is read for a handler
// (ngx_http_read_client_request_body; the reading is request-body-reader.ts's)
// or discarded (ngx_http_discard_request_body) — by length or, for chunked
// bodies, through ngx_http_parse_chunked — so that the next request on the
// connection starts where nginx would start it; and "Expect: 100-continue"
// is answered when the body is going to be read or discarded
// (ngx_http_test_expect). The connection (http-connection.ts) feeds the bytes.

const enum C {
  chunkStart, chunkSize, chunkExtension, chunkExtensionAlmostDone, chunkData, afterData, afterDataAlmostDone,
  lastChunkExtension, lastChunkExtensionAlmostDone, trailer, trailerAlmostDone, trailerHeader, trailerHeaderAlmostDone,
}

// NGX_MAX_OFF_T_VALUE / 16: a bigger chunk size would overflow
const MAX_SIZE_16 = 0x7ffffffffffffff;

/** Who takes a chunked body's data (ngx_http_request_body_chunked_filter). */
export interface ChunkSink {
  /** a chunk's size line was read (ngx_http_parse_chunked's NGX_OK): false stops the parse */
  size(n: number): boolean;
  /** decoded bytes b[start, end) */
  data(b: Buffer, start: number, end: number): void;
}

export type ChunkedResult = 'again' | 'done' | 'invalid' | 'stop';

/** ngx_http_chunked_t and ngx_http_parse_chunked. */
export class ChunkedState {
  state = C.chunkStart;
  size = 0;

  /** Skips what b[from, to) holds of the body: [position, 'again' | 'done' | 'invalid']. */
  skip(b: Buffer, from: number, to: number): [number, ChunkedResult] {
    return this.parse(b, from, to);
  }

  /**
   * Parses b[from, to), handing the data to sink: [position reached, result].
   * 'stop': sink.size refused a chunk; position is past its size line.
   */
  parse(b: Buffer, from: number, to: number, sink?: ChunkSink): [number, ChunkedResult] {
    let pos = from;
    while (pos < to) {
      if (this.state === C.chunkData) {
        const n = Math.min(this.size, to - pos);
        sink?.data(b, pos, pos + n);
        pos += n;
        this.size -= n;
        if (this.size > 0) return [pos, 'again'];
        this.state = C.afterData;
        continue;
      }
      const ch = b[pos];
      const lc = ch | 0x20;
      const hex = ch >= 0x30 && ch <= 0x39 ? ch - 0x30 : lc >= 0x61 && lc <= 0x66 ? lc - 0x61 + 10 : -1;
      switch (this.state) {
        case C.chunkStart:
          if (hex < 0) return [pos, 'invalid'];
          this.state = C.chunkSize;
          this.size = hex;
          break;
        case C.chunkSize:
          if (this.size > MAX_SIZE_16) return [pos, 'invalid'];
          if (hex >= 0) {
            this.size = this.size * 16 + hex;
            break;
          }
          if (ch === 13) this.state = this.size === 0 ? C.lastChunkExtensionAlmostDone : C.chunkExtensionAlmostDone;
          else if (ch === 10) this.state = this.size === 0 ? C.trailer : C.chunkData;
          else if (ch === 0x3b || ch === 0x20 || ch === 0x09) this.state = this.size === 0 ? C.lastChunkExtension : C.chunkExtension;
          else return [pos, 'invalid'];
          break;
        case C.chunkExtension:
        case C.lastChunkExtension: {
          const last = this.state === C.lastChunkExtension;
          if (ch === 13) this.state = last ? C.lastChunkExtensionAlmostDone : C.chunkExtensionAlmostDone;
          else if (ch === 10) this.state = last ? C.trailer : C.chunkData;
          break;
        }
        case C.chunkExtensionAlmostDone:
        case C.lastChunkExtensionAlmostDone:
          if (ch !== 10) return [pos, 'invalid'];
          this.state = this.state === C.chunkExtensionAlmostDone ? C.chunkData : C.trailer;
          break;
        case C.afterData:
          if (ch === 13) this.state = C.afterDataAlmostDone;
          else if (ch === 10) this.state = C.chunkStart;
          else return [pos, 'invalid'];
          break;
        case C.afterDataAlmostDone:
          if (ch !== 10) return [pos, 'invalid'];
          this.state = C.chunkStart;
          break;
        case C.trailer:
          if (ch === 13) this.state = C.trailerAlmostDone;
          else if (ch === 10) return [pos + 1, 'done'];
          else this.state = C.trailerHeader;
          break;
        case C.trailerAlmostDone:
          if (ch !== 10) return [pos, 'invalid'];
          return [pos + 1, 'done'];
        case C.trailerHeader:
          if (ch === 13) this.state = C.trailerHeaderAlmostDone;
          else if (ch === 10) this.state = C.trailer;
          break;
        case C.trailerHeaderAlmostDone:
          if (ch !== 10) return [pos, 'invalid'];
          this.state = C.trailer;
          break;
      }
      pos++;
      // the size line is over: nginx checks the size before any data of the chunk
      if (this.state === C.chunkData && sink && !sink.size(this.size)) return [pos, 'stop'];
    }
    return [pos, 'again'];
  }
}

/** What the connection does for a request's body. */
export interface BodyControl {
  /** ngx_http_discard_request_body; expectTested: no "100 Continue" (special responses) */
  discard(expectTested: boolean): number | undefined;
  /** ngx_http_read_client_request_body */
  read(opts: ReadBodyOptions): Promise<RequestBody | number>;
}

// in r.ctx rather than a WeakMap keyed by the request: per-request
// ephemerons make every young-generation collection costlier
const CONTROL = 'bodyControl';

export function setBodyControl(r: HttpRequest, c: BodyControl): void {
  r.ctx[CONTROL] = c;
}

export function bodyControl(r: HttpRequest): BodyControl | undefined {
  return r.ctx[CONTROL] as BodyControl | undefined;
}

/**
 * ngx_http_discard_request_body: the body will not be read. Returns a
 * status to finalize with (400 for a broken chunked body already seen).
 */
export function discardRequestBody(r: HttpRequest, expectTested = false): number | undefined {
  return (r.ctx[CONTROL] as BodyControl | undefined)?.discard(expectTested);
}

/**
 * A request body being read for a handler (ngx_http_read_client_request_body).
 * Buffered (proxy_request_buffering on, or $request_body): `buffered` holds
 * the whole body when readRequestBody resolves. Unbuffered: `stream` yields
 * the decoded bytes as they arrive (chunked framing removed), with
 * backpressure: the client socket is paused while the consumer is behind.
 * A request without a body (or whose body was already read or discarded)
 * resolves with `buffered: []` in either mode, as nginx turns
 * request_body_no_buffering off then.
 *
 * nginx writes a body bigger than client_body_buffer_size to a temporary
 * file; nodinx keeps every body in memory (client_max_body_size bounds it).
 */
export interface RequestBody {
  /** bytes in all: Content-Length, or the decoded size once a buffered chunked body was read; -1 while unknown */
  length: number;
  buffered?: Buffer[];
  /**
   * Unbuffered mode: handed out once the bytes that came with the head were
   * decoded (a failure in them resolves to a status instead); ends after the
   * last byte; on a failure it is destroyed with a RequestBodyError whose
   * status the handler finalizes with (the error line is already logged;
   * after 408 and 400-for-a-closed-connection the connection is already
   * closed and the request marked clientGone, as nginx terminates it then).
   * A consumer that destroys it stops the reading: the connection closes
   * after the response, as nginx closes one whose body was not read.
   */
  stream?: Readable;
}

/** How a handler wants the body. */
export interface ReadBodyOptions {
  /** read it all before resolving (proxy_request_buffering on) */
  buffered: boolean;
  /**
   * the error log's "while ..." for failures once the stream was handed out:
   * nginx's upstream says "sending request to upstream" for an unbuffered body
   */
  action?: string;
}

/** A body that could not be read: the status nginx finalizes the request with. */
export class RequestBodyError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

let reader: ((r: HttpRequest, opts: ReadBodyOptions) => Promise<RequestBody | number>) | undefined;

/** The connection (http-connection.ts) provides the reader. */
export function setBodyReader(fn: typeof reader): void {
  reader = fn;
}

/**
 * ngx_http_read_client_request_body: resolves to the body, or to a status to
 * finalize with, after nginx's error-log line: 413 (a chunked body past
 * client_max_body_size), 400 (a broken chunked body), 408 (client_body_timeout;
 * no line, as nginx 1.22), 400 (the client closed: "client prematurely closed
 * connection", info). "Expect: 100-continue" is answered first. Once per
 * request: a second call gets the same promise.
 */
export function readRequestBody(r: HttpRequest, opts: ReadBodyOptions): Promise<RequestBody | number> {
  if (!reader) throw new Error('request body reader not installed');
  return reader(r, opts);
}

const BODY = 'request_body';

/** The reader keeps a buffered body for $request_body; undefined: nginx would have it in a file. */
export function keepRequestBody(r: HttpRequest, bufs: Buffer[] | undefined): void {
  r.ctx[BODY] = bufs;
}

/** $request_body: the body read into memory buffers (ngx_http_variable_request_body). */
export function requestBodyVariable(r: HttpRequest): string | undefined {
  const bufs = r.ctx[BODY] as Buffer[] | undefined;
  return bufs ? Buffer.concat(bufs).toString('latin1') : undefined;
}
