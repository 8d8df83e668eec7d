// The upstream side of ngx_http_parse.c: ngx_http_parse_status_line and
// ngx_http_parse_chunked (the decoding half), byte for byte, so that a
// response nginx refuses is refused here with the same log line. Header
// lines use the client-side parser (src/http/header-parser.ts) with
// underscores allowed, as ngx_http_proxy_process_header calls it.

import { ChunkedState, type ChunkSink } from '../http/request-body';

const CR = 13;
const LF = 10;
const SP = 32;

const enum S { start, H, HT, HTT, HTTP, firstMajor, major, firstMinor, minor, status, spaceAfterStatus, statusText, almostDone }

/** ngx_http_status_t plus the parser's state between reads. */
export class StatusLine {
  state = S.start;
  major = 0;
  minor = 0;
  code = 0;
  count = 0;
  /** offsets of "200 OK" in the buffer the line was parsed from */
  start = -1;
  end = -1;
  get httpVersion(): number {
    return this.major * 1000 + this.minor;
  }
}

/** ngx_http_parse_status_line: 'ok' (pos after the line), 'again', or 'error' (not HTTP: nginx then takes the answer for HTTP/0.9). */
export function parseStatusLine(st: StatusLine, b: Buffer, from: number, last: number): ['ok' | 'again' | 'error', number] {
  let state = st.state;
  let p = from;
  for (; p < last; p++) {
    const ch = b[p];
    switch (state) {
      case S.start:
        if (ch !== 0x48) return ['error', p];
        state = S.H;
        break;
      case S.H:
        if (ch !== 0x54) return ['error', p];
        state = S.HT;
        break;
      case S.HT:
        if (ch !== 0x54) return ['error', p];
        state = S.HTT;
        break;
      case S.HTT:
        if (ch !== 0x50) return ['error', p];
        state = S.HTTP;
        break;
      case S.HTTP:
        if (ch !== 0x2f) return ['error', p];
        state = S.firstMajor;
        break;
      case S.firstMajor:
        if (ch < 0x31 || ch > 0x39) return ['error', p];
        st.major = ch - 0x30;
        state = S.major;
        break;
      case S.major:
        if (ch === 0x2e) {
          state = S.firstMinor;
          break;
        }
        if (ch < 0x30 || ch > 0x39 || st.major > 99) return ['error', p];
        st.major = st.major * 10 + ch - 0x30;
        break;
      case S.firstMinor:
        if (ch < 0x30 || ch > 0x39) return ['error', p];
        st.minor = ch - 0x30;
        state = S.minor;
        break;
      case S.minor:
        if (ch === SP) {
          state = S.status;
          break;
        }
        if (ch < 0x30 || ch > 0x39 || st.minor > 99) return ['error', p];
        st.minor = st.minor * 10 + ch - 0x30;
        break;
      case S.status:
        if (ch === SP) break;
        if (ch < 0x30 || ch > 0x39) return ['error', p];
        st.code = st.code * 10 + ch - 0x30;
        if (++st.count === 3) {
          state = S.spaceAfterStatus;
          st.start = p - 2;
        }
        break;
      case S.spaceAfterStatus:
        // "." : IIS sends 403.1
        if (ch === SP || ch === 0x2e) state = S.statusText;
        else if (ch === CR) state = S.almostDone;
        else if (ch === LF) return done(st, p);
        else return ['error', p];
        break;
      case S.statusText:
        if (ch === CR) state = S.almostDone;
        else if (ch === LF) return done(st, p);
        break;
      case S.almostDone:
        st.end = p - 1;
        if (ch !== LF) return ['error', p];
        return done(st, p);
    }
  }
  st.state = state;
  return ['again', p];
}

function done(st: StatusLine, p: number): ['ok', number] {
  if (st.end < 0) st.end = p;
  st.state = S.start;
  return ['ok', p + 1];
}

/**
 * ngx_http_parse_chunked for a body that is passed on: the data of each
 * chunk is handed out. nginx has one parser for client and upstream bodies;
 * so does nodinx (request-body.ts's ChunkedState), seen through this shape.
 */
export class ChunkedDecoder {
  private readonly state = new ChunkedState();
  private out: (chunk: Buffer) => void = () => undefined;
  private readonly sink: ChunkSink = {
    size: () => true,
    data: (b, start, end) => this.out(b.subarray(start, end)),
  };

  /** Feeds b[from, to): data slices go to `data`; 'done' with where the body ended, or 'invalid'. */
  decode(b: Buffer, from: number, to: number, data: (chunk: Buffer) => void): ['again' | 'done' | 'invalid', number] {
    this.out = data;
    const [pos, rc] = this.state.parse(b, from, to, this.sink);
    return [rc === 'stop' ? 'again' : rc, pos];
  }
}
