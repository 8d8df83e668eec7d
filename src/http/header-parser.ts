import { RC } from './request-parser';

// ngx_http_parse_header_line, byte for byte: a header name of letters,
// digits and "-" ("_" only with underscores_in_headers; anything else
// marks the line invalid, to be ignored by ignore_invalid_headers), spaces
// around the value dropped, NUL, a space or control byte in the name, and
// a CR not followed by LF refused. State is kept between calls, as in
// request-parser.ts.

const CR = 13;
const LF = 10;
const SP = 32;

const enum H { start, name, spaceBeforeValue, value, spaceAfterValue, almostDone, headerAlmostDone }

/** One header line as it is being parsed (r->header_name_start...). */
export class HeaderState {
  state = H.start;
  nameStart = -1;
  nameEnd = -1;
  valueStart = -1;
  valueEnd = -1;
  invalid = false;
}

const tokenChar = (ch: number): boolean => (ch >= 0x61 && ch <= 0x7a) || (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x30 && ch <= 0x39) || ch === 0x2d;

/** ngx_http_parse_header_line (client side: no IIS status-line skipping). */
export function parseHeaderLine(st: HeaderState, b: Buffer, from: number, last: number, underscores: boolean): [number, number] {
  let state = st.state;
  let p = from;
  for (; p < last; p++) {
    const ch = b[p];
    switch (state) {
      case H.start:
        st.nameStart = p;
        st.invalid = false;
        if (ch === CR) {
          st.valueEnd = p;
          state = H.headerAlmostDone;
          break;
        }
        if (ch === LF) {
          st.valueEnd = p;
          st.state = H.start;
          return [RC.HEADER_DONE, p + 1];
        }
        state = H.name;
        if (tokenChar(ch)) break;
        if (ch === 0x5f) {
          if (!underscores) st.invalid = true;
          break;
        }
        if (ch <= 0x20 || ch === 0x7f || ch === 0x3a) {
          st.valueEnd = p;
          return [RC.INVALID_HEADER, p];
        }
        st.invalid = true;
        break;
      case H.name:
        if (tokenChar(ch)) break;
        if (ch === 0x5f) {
          if (!underscores) st.invalid = true;
          break;
        }
        if (ch === 0x3a) {
          st.nameEnd = p;
          state = H.spaceBeforeValue;
          break;
        }
        if (ch === CR || ch === LF) {
          st.nameEnd = p;
          st.valueStart = p;
          st.valueEnd = p;
          if (ch === LF) return lineDone(st, p);
          state = H.almostDone;
          break;
        }
        if (ch <= 0x20 || ch === 0x7f) {
          st.valueEnd = p;
          return [RC.INVALID_HEADER, p];
        }
        st.invalid = true;
        break;
      case H.spaceBeforeValue:
        if (ch === SP) break;
        if (ch === CR || ch === LF) {
          st.valueStart = p;
          st.valueEnd = p;
          if (ch === LF) return lineDone(st, p);
          state = H.almostDone;
          break;
        }
        if (ch === 0) {
          st.valueEnd = p;
          return [RC.INVALID_HEADER, p];
        }
        st.valueStart = p;
        state = H.value;
        break;
      case H.value:
        if (ch === SP) {
          st.valueEnd = p;
          state = H.spaceAfterValue;
        } else if (ch === CR) {
          st.valueEnd = p;
          state = H.almostDone;
        } else if (ch === LF) {
          st.valueEnd = p;
          return lineDone(st, p);
        } else if (ch === 0) {
          st.valueEnd = p;
          return [RC.INVALID_HEADER, p];
        }
        break;
      case H.spaceAfterValue:
        if (ch === SP) break;
        if (ch === CR) state = H.almostDone;
        else if (ch === LF) return lineDone(st, p);
        else if (ch === 0) {
          st.valueEnd = p;
          return [RC.INVALID_HEADER, p];
        } else state = H.value;
        break;
      case H.almostDone:
        if (ch === LF) return lineDone(st, p);
        if (ch === CR) break;
        return [RC.INVALID_HEADER, p];
      case H.headerAlmostDone:
        if (ch === LF) {
          st.state = H.start;
          return [RC.HEADER_DONE, p + 1];
        }
        return [RC.INVALID_HEADER, p];
    }
  }
  st.state = state;
  return [RC.AGAIN, p];
}

function lineDone(st: HeaderState, p: number): [number, number] {
  st.state = H.start;
  return [RC.OK, p + 1];
}
