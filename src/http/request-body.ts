import type { HttpRequest } from './request';

// ngx_http_request_body.c, as much as nodinx needs: a request body is
// discarded (ngx_http_discard_request_body) — by length or, for chunked
// bodies, through ngx_http_parse_chunked — so that the next request on
// the connection starts where nginx would start it; and "Expect:
// 100-continue" is answered when the body is going to be read or discarded
// (ngx_http_test_expect). The connection (http-connection.ts) feeds the
// bytes; a handler only says when the body is to be discarded.

const enum C {
  chunkStart, chunkSize, chunkExtension, chunkExtensionAlmostDone, chunkData, afterData, afterDataAlmostDone,
  lastChunkExtension, lastChunkExtensionAlmostDone, trailer, trailerAlmostDone, trailerHeader, trailerHeaderAlmostDone,
}

// NGX_MAX_OFF_T_VALUE / 16: a bigger chunk size would overflow
const MAX_SIZE_16 = 0x7ffffffffffffff;

/** ngx_http_chunked_t and ngx_http_parse_chunked, for a body nobody reads. */
export class ChunkedState {
  state = C.chunkStart;
  size = 0;

  /** Skips what b[from, to) holds of the body: [position, 'again' | 'done' | 'invalid']. */
  skip(b: Buffer, from: number, to: number): [number, 'again' | 'done' | 'invalid'] {
    let pos = from;
    while (pos < to) {
      if (this.state === C.chunkData) {
        const n = Math.min(this.size, to - pos);
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
      if (this.state === C.chunkData && this.size === 0) this.state = C.afterData;
    }
    return [pos, 'again'];
  }
}

/** What the connection does for a request's body. */
export interface BodyControl {
  /** ngx_http_discard_request_body; expectTested: no "100 Continue" (special responses) */
  discard(expectTested: boolean): number | undefined;
}

// in r.ctx rather than a WeakMap keyed by the request: per-request
// ephemerons make every young-generation collection costlier
const CONTROL = 'bodyControl';

export function setBodyControl(r: HttpRequest, c: BodyControl): void {
  r.ctx[CONTROL] = c;
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
 */
export interface RequestBody {
  /** bytes in all: Content-Length, or the decoded size once a buffered chunked body was read; -1 while unknown */
  length: number;
  buffered?: Buffer[];
  stream?: import('node:stream').Readable;
}

/** How a handler wants the body. */
export interface ReadBodyOptions {
  /** read it all before resolving (proxy_request_buffering on) */
  buffered: boolean;
}

let reader: ((r: HttpRequest, opts: ReadBodyOptions) => Promise<RequestBody | number>) | undefined;

/** The connection (http-connection.ts) provides the reader. */
export function setBodyReader(fn: typeof reader): void {
  reader = fn;
}

/**
 * ngx_http_read_client_request_body: resolves to the body, or to a status to
 * finalize with (413 too large, 400 broken chunked body, 408 client_body_timeout,
 * 499 client gone) after logging nginx's error line.
 */
export function readRequestBody(r: HttpRequest, opts: ReadBodyOptions): Promise<RequestBody | number> {
  if (!reader) throw new Error('request body reader not installed');
  return reader(r, opts);
}
