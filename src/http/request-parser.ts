// ngx_http_parse_request_line, byte for byte (header lines are
// header-parser.ts): the same states, the same characters accepted, the same places a
// line is refused. They run over the connection's received bytes from a
// position to a limit and keep their state between calls, so a line split
// across reads (or across nginx's header buffers) parses as it would there.
// Positions are indexes into the buffer the caller passes each time.

/** What a parse call ends with (nginx's NGX_OK, NGX_AGAIN, NGX_HTTP_PARSE_*). */
export const RC = {
  OK: 0,
  AGAIN: 1,
  HEADER_DONE: 2,
  INVALID_METHOD: 10,
  INVALID_REQUEST: 11,
  INVALID_VERSION: 12,
  INVALID_09_METHOD: 13,
  INVALID_HEADER: 14,
} as const;

/** ngx_http_client_errors, by RC. */
export const CLIENT_ERRORS: Record<number, string> = {
  [RC.INVALID_METHOD]: 'client sent invalid method',
  [RC.INVALID_REQUEST]: 'client sent invalid request',
  [RC.INVALID_VERSION]: 'client sent invalid version',
  [RC.INVALID_09_METHOD]: 'client sent invalid method in HTTP/0.9 request',
};

// the "usual" URI characters: no further check needed (ngx_http_parse.c)
const USUAL = new Uint32Array([
  0x00000000, 0x7fff37d6, 0xffffffff, 0x7fffffff,
  0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
]);
export const usual = (ch: number): boolean => (USUAL[ch >> 5] & (1 << (ch & 0x1f))) !== 0;

const CR = 13;
const LF = 10;
const SP = 32;

const isAlpha = (ch: number): boolean => {
  const c = ch | 0x20;
  return c >= 0x61 && c <= 0x7a;
};
const isDigit = (ch: number): boolean => ch >= 0x30 && ch <= 0x39;

const enum L {
  start, method, spacesBeforeUri, schema, schemaSlash, schemaSlashSlash, hostStart, host, hostEnd,
  hostIpLiteral, port, afterSlashInUri, checkUri, uri, http09, httpH, httpHT, httpHTT, httpHTTP,
  firstMajorDigit, majorDigit, firstMinorDigit, minorDigit, spacesAfterDigit, almostDone,
}

/** The request line as it is being parsed: nginx's r->*_start/_end pointers, as indexes. */
export class LineState {
  state = L.start;
  requestStart = -1;
  requestEnd = -1;
  methodEnd = -1;
  uriStart = -1;
  uriEnd = -1;
  schemaEnd = -1;
  hostStart = -1;
  hostEnd = -1;
  argsStart = -1;
  protocolStart = -1;
  httpMajor = 0;
  httpMinor = 0;
  complexUri = false;
  quotedUri = false;
  emptyPathInUri = false;
  isGet = false;

}

/** ngx_http_parse_request_line: returns [rc, position after what was parsed]. */
export function parseRequestLine(st: LineState, b: Buffer, from: number, last: number): [number, number] {
  let state = st.state;
  let p = from;
  for (; p < last; p++) {
    const ch = b[p];
    switch (state) {
      case L.start:
        st.requestStart = p;
        if (ch === CR || ch === LF) break;
        if ((ch < 0x41 || ch > 0x5a) && ch !== 0x5f && ch !== 0x2d) return [RC.INVALID_METHOD, p];
        state = L.method;
        break;
      case L.method:
        if (ch === SP) {
          st.methodEnd = p - 1;
          st.isGet = p - st.requestStart === 3 && b[p - 3] === 0x47 && b[p - 2] === 0x45 && b[p - 1] === 0x54;
          state = L.spacesBeforeUri;
          break;
        }
        if ((ch < 0x41 || ch > 0x5a) && ch !== 0x5f && ch !== 0x2d) return [RC.INVALID_METHOD, p];
        break;
      case L.spacesBeforeUri:
        if (ch === 0x2f) {
          st.uriStart = p;
          state = L.afterSlashInUri;
          break;
        }
        if (isAlpha(ch)) {
          state = L.schema;
          break;
        }
        if (ch !== SP) return [RC.INVALID_REQUEST, p];
        break;
      case L.schema:
        if (isAlpha(ch) || isDigit(ch) || ch === 0x2b || ch === 0x2d || ch === 0x2e) break;
        if (ch !== 0x3a) return [RC.INVALID_REQUEST, p];
        st.schemaEnd = p;
        state = L.schemaSlash;
        break;
      case L.schemaSlash:
        if (ch !== 0x2f) return [RC.INVALID_REQUEST, p];
        state = L.schemaSlashSlash;
        break;
      case L.schemaSlashSlash:
        if (ch !== 0x2f) return [RC.INVALID_REQUEST, p];
        state = L.hostStart;
        break;
      case L.hostStart:
      case L.host:
      case L.hostEnd:
        if (state === L.hostStart) {
          st.hostStart = p;
          if (ch === 0x5b) {
            state = L.hostIpLiteral;
            break;
          }
          state = L.host;
        }
        if (state === L.host && (isAlpha(ch) || isDigit(ch) || ch === 0x2e || ch === 0x2d)) break;
        st.hostEnd = p;
        switch (ch) {
          case 0x3a:
            state = L.port;
            break;
          case 0x2f:
            st.uriStart = p;
            state = L.afterSlashInUri;
            break;
          case 0x3f:
            st.uriStart = p;
            st.argsStart = p + 1;
            st.emptyPathInUri = true;
            state = L.uri;
            break;
          case SP:
            // the single "/" after the schema stands for the URI
            st.uriStart = st.schemaEnd + 1;
            st.uriEnd = st.schemaEnd + 2;
            state = L.http09;
            break;
          default:
            return [RC.INVALID_REQUEST, p];
        }
        break;
      case L.hostIpLiteral:
        if (isDigit(ch) || isAlpha(ch)) break;
        if (ch === 0x5d) {
          state = L.hostEnd;
          break;
        }
        // ':', unreserved and sub-delims
        if (!':-._~!$&\'()*+,;='.includes(String.fromCharCode(ch))) return [RC.INVALID_REQUEST, p];
        break;
      case L.port:
        if (isDigit(ch)) break;
        switch (ch) {
          case 0x2f:
            st.uriStart = p;
            state = L.afterSlashInUri;
            break;
          case 0x3f:
            st.uriStart = p;
            st.argsStart = p + 1;
            st.emptyPathInUri = true;
            state = L.uri;
            break;
          case SP:
            st.uriStart = st.schemaEnd + 1;
            st.uriEnd = st.schemaEnd + 2;
            state = L.http09;
            break;
          default:
            return [RC.INVALID_REQUEST, p];
        }
        break;
      case L.afterSlashInUri:
        if (usual(ch)) {
          state = L.checkUri;
          break;
        }
        switch (ch) {
          case SP:
            st.uriEnd = p;
            state = L.http09;
            break;
          case CR:
            st.uriEnd = p;
            st.httpMinor = 9;
            state = L.almostDone;
            break;
          case LF:
            st.uriEnd = p;
            st.httpMinor = 9;
            return done(st, p);
          case 0x2e: // .
          case 0x2f: // /
          case 0x23: // #
            st.complexUri = true;
            state = L.uri;
            break;
          case 0x25: // %
            st.quotedUri = true;
            state = L.uri;
            break;
          case 0x3f: // ?
            st.argsStart = p + 1;
            state = L.uri;
            break;
          case 0x2b: // +
            break;
          default:
            if (ch < 0x20 || ch === 0x7f) return [RC.INVALID_REQUEST, p];
            state = L.checkUri;
        }
        break;
      case L.checkUri:
        if (usual(ch)) break;
        switch (ch) {
          case 0x2f:
            state = L.afterSlashInUri;
            break;
          case 0x2e:
          case 0x2b:
            break;
          case SP:
            st.uriEnd = p;
            state = L.http09;
            break;
          case CR:
            st.uriEnd = p;
            st.httpMinor = 9;
            state = L.almostDone;
            break;
          case LF:
            st.uriEnd = p;
            st.httpMinor = 9;
            return done(st, p);
          case 0x25:
            st.quotedUri = true;
            state = L.uri;
            break;
          case 0x3f:
            st.argsStart = p + 1;
            state = L.uri;
            break;
          case 0x23:
            st.complexUri = true;
            state = L.uri;
            break;
          default:
            if (ch < 0x20 || ch === 0x7f) return [RC.INVALID_REQUEST, p];
        }
        break;
      case L.uri:
        if (usual(ch)) break;
        switch (ch) {
          case SP:
            st.uriEnd = p;
            state = L.http09;
            break;
          case CR:
            st.uriEnd = p;
            st.httpMinor = 9;
            state = L.almostDone;
            break;
          case LF:
            st.uriEnd = p;
            st.httpMinor = 9;
            return done(st, p);
          case 0x23:
            st.complexUri = true;
            break;
          default:
            if (ch < 0x20 || ch === 0x7f) return [RC.INVALID_REQUEST, p];
        }
        break;
      case L.http09:
        switch (ch) {
          case SP:
            break;
          case CR:
            st.httpMinor = 9;
            state = L.almostDone;
            break;
          case LF:
            st.httpMinor = 9;
            return done(st, p);
          case 0x48: // H
            st.protocolStart = p;
            state = L.httpH;
            break;
          default:
            return [RC.INVALID_REQUEST, p];
        }
        break;
      case L.httpH:
      case L.httpHT:
      case L.httpHTT:
      case L.httpHTTP:
        if (ch !== 'TTP/'.charCodeAt(state - L.httpH)) return [RC.INVALID_REQUEST, p];
        state = state === L.httpHTTP ? L.firstMajorDigit : state + 1;
        break;
      case L.firstMajorDigit:
        if (ch < 0x31 || ch > 0x39) return [RC.INVALID_REQUEST, p];
        st.httpMajor = ch - 0x30;
        if (st.httpMajor > 1) return [RC.INVALID_VERSION, p];
        state = L.majorDigit;
        break;
      case L.majorDigit:
        if (ch === 0x2e) {
          state = L.firstMinorDigit;
          break;
        }
        if (!isDigit(ch)) return [RC.INVALID_REQUEST, p];
        st.httpMajor = st.httpMajor * 10 + ch - 0x30;
        if (st.httpMajor > 1) return [RC.INVALID_VERSION, p];
        break;
      case L.firstMinorDigit:
        if (!isDigit(ch)) return [RC.INVALID_REQUEST, p];
        st.httpMinor = ch - 0x30;
        state = L.minorDigit;
        break;
      case L.minorDigit:
        if (ch === CR) {
          state = L.almostDone;
          break;
        }
        if (ch === LF) return done(st, p);
        if (ch === SP) {
          state = L.spacesAfterDigit;
          break;
        }
        if (!isDigit(ch) || st.httpMinor > 99) return [RC.INVALID_REQUEST, p];
        st.httpMinor = st.httpMinor * 10 + ch - 0x30;
        break;
      case L.spacesAfterDigit:
        if (ch === SP) break;
        if (ch === CR) {
          state = L.almostDone;
          break;
        }
        if (ch === LF) return done(st, p);
        return [RC.INVALID_REQUEST, p];
      case L.almostDone:
        st.requestEnd = p - 1;
        if (ch === LF) return done(st, p);
        return [RC.INVALID_REQUEST, p];
    }
  }
  st.state = state;
  return [RC.AGAIN, p];
}

function done(st: LineState, p: number): [number, number] {
  if (st.requestEnd < 0) st.requestEnd = p;
  st.state = L.start;
  if (st.httpMajor * 1000 + st.httpMinor === 9 && !st.isGet) return [RC.INVALID_09_METHOD, p + 1];
  return [RC.OK, p + 1];
}
