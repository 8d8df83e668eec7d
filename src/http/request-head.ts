import type { Request } from './request-line';
import { headerLineDone, headersDone, info, requestLineDone } from './request-line';
import { CLIENT_ERRORS, LineState, RC, parseRequestLine } from './request-parser';
import { HeaderState, parseHeaderLine } from './header-parser';
import { requestSrvConf } from './core-request-module';

// ngx_http_process_request_line and ngx_http_process_request_headers: the
// head of one request read from what the connection received, in buffers
// as nginx has them — client_header_buffer_size first, then up to
// large_client_header_buffers, a partial line moved to the start of the
// next — so that a line too long for a buffer, or a head needing more
// buffers than there are, is refused (414, 494) where nginx refuses it.

// NGX_MAX_ERROR_STR - 300: how much of a too long header line is logged
const LOGGED_LINE = 1748;

export class HeadReader {
  readonly line = new LineState();
  readonly hdr = new HeaderState();
  /** where parsing goes on in the connection's buffer */
  pos = 0;
  readingLine = true;

  /**
   * nginx's current header buffer: where it ends in the connection's
   * buffer, its size, and how many large buffers are taken.
   */
  constructor(public capEnd: number, public capSize: number, public nbusy: number) {}

  /** The connection dropped n bytes from the front of its buffer. */
  consumed(n: number): void {
    this.capEnd -= n;
    this.pos -= n;
  }

  /** Parses what b holds: 'again' for more bytes, 'done', or a status to answer with. */
  read(b: Buffer, r: Request): number | 'again' | 'done' {
    for (;;) {
      const last = Math.min(b.length, this.capEnd);
      if (this.readingLine) {
        let rc: number = RC.AGAIN;
        if (this.pos < last) [rc, this.pos] = parseRequestLine(this.line, b, this.pos, last);
        if (rc === RC.OK) {
          const status = requestLineDone(r, b, this.line, this.pos, requestSrvConf(r.server).mergeSlashes);
          if (status !== undefined) return (status);
          if (r.httpVersion < 1000) return 'done';
          this.readingLine = false;
          r.action = 'reading client request headers';
          continue;
        }
        if (rc !== RC.AGAIN) {
          r.requestLine = this.partialLine(b, last);
          if (this.line.protocolStart >= 0) r.serverProtocol = '';
          if (rc === RC.INVALID_09_METHOD) r.httpVersion = 9;
          info(r, CLIENT_ERRORS[rc]);
          return (rc === RC.INVALID_VERSION ? 505 : 400);
        }
        if (this.pos < this.capEnd) return 'again';
        if (!this.allocLarge(r, true)) {
          r.requestLine = b.toString('latin1', this.line.requestStart, this.capEnd);
          if (this.line.protocolStart >= 0) r.serverProtocol = '';
          info(r, 'client sent too long URI');
          return (414);
        }
        continue;
      }
      if (this.pos === this.capEnd && !this.allocLarge(r, false)) {
        r.lingeringClose = true;
        const start = this.hdr.nameStart;
        if (start < 0) info(r, 'client sent too large request');
        else {
          const end = Math.min(this.capEnd, start + LOGGED_LINE);
          info(r, `client sent too long header line: "${b.toString('latin1', start, end)}..."`);
        }
        return (494);
      }
      const lastNow = Math.min(b.length, this.capEnd);
      if (this.pos >= lastNow) return 'again';
      const srv = requestSrvConf(r.server);
      const h = this.hdr;
      let rc: number;
      [rc, this.pos] = parseHeaderLine(h, b, this.pos, lastNow, srv.underscoresInHeaders);
      if (rc === RC.AGAIN) continue;
      if (rc === RC.INVALID_HEADER) {
        const ch = b[h.valueEnd] ?? 0;
        info(r, `client sent invalid header line: "${b.toString('latin1', h.nameStart, h.valueEnd)}\\x${ch.toString(16).padStart(2, '0')}..."`);
        return (400);
      }
      r.requestLength += this.pos - h.nameStart;
      if (rc === RC.HEADER_DONE) {
        const status = headersDone(r);
        if (status !== undefined) return (status);
        return 'done';
      }
      if (h.invalid && srv.ignoreInvalidHeaders) {
        info(r, `client sent invalid header line: "${b.toString('latin1', h.nameStart, h.valueEnd)}"`);
        continue;
      }
      if (r.headerCount++ >= srv.maxHeaders) {
        r.lingeringClose = true;
        info(r, 'client sent too many header lines');
        return (494);
      }
      const name = this.text(b, h.nameStart, h.nameEnd, lastNow);
      const status = headerLineDone(r, name, this.text(b, h.valueStart, h.valueEnd, lastNow));
      if (status !== undefined) return (status);
    }
  }

  /**
   * Bytes of the head as a string: the head is turned into one string per
   * read and its names and values are slices of it, which costs less than a
   * Buffer.toString() each.
   */
  private text(b: Buffer, from: number, to: number, last: number): string {
    if (b !== this.textOf || to > this.textEnd) {
      this.textOf = b;
      this.textEnd = last;
      this.textStr = b.toString('latin1', 0, last);
    }
    return this.textStr.slice(from, to);
  }

  private textOf?: Buffer;
  private textEnd = 0;
  private textStr = '';

  /** The request line as far as it was read, for logs ($request, "request:"). */
  partialLine(b: Buffer, last: number): string {
    const start = this.line.requestStart;
    if (start < 0) return '';
    let end = start;
    while (end < last && b[end] !== 13 && b[end] !== 10) end++;
    return b.toString('latin1', start, end);
  }

  /**
   * ngx_http_alloc_large_header_buffer: the line goes on in a large buffer
   * (the partial line moved to its start), or is refused: longer than a
   * large buffer, or all of them are taken.
   */
  private allocLarge(r: Request, requestLine: boolean): boolean {
    const state = requestLine ? this.line.state : this.hdr.state;
    if (requestLine && state === 0) {
      // the buffer was filled with empty lines: start it over
      this.capEnd = this.pos + this.capSize;
      return true;
    }
    const old = requestLine ? this.line.requestStart : this.hdr.nameStart;
    const large = requestSrvConf(r.server).largeClientHeaderBuffers;
    if (state !== 0 && this.pos - old >= large.size) return false;
    if (this.nbusy >= large.num) return false;
    this.nbusy++;
    this.capSize = large.size;
    this.capEnd = (state === 0 ? this.pos : old) + large.size;
    return true;
  }

}
