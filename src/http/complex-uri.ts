import { usual } from './request-parser';

// ngx_http_parse_complex_uri: a request target with "%", "//", "/." or "#"
// decoded and normalised. Decoded bytes are processed as if sent ("%2F"
// is a slash, "%2e%2e" climbs), except "%", "#" and "?" which stay
// literal; "%00", a bad escape or a path above the root make the request
// invalid (undefined). Strings are byte strings (latin1).

const enum S { usual, slash, dot, dotDot, quoted, quotedSecond }

export interface ParsedUri {
  uri: string;
  /** the query after "?" when one was found (before a "#") */
  args?: string;
}

/** Parses the target bytes b[start, end); emptyPath: the target began with "?" (absolute form). */
export function parseComplexUri(b: Buffer, start: number, end: number, emptyPath: boolean, mergeSlashes: boolean): ParsedUri | undefined {
  const u: number[] = [];
  if (emptyPath) u.push(0x2f);
  let state = S.usual;
  let quotedState = S.usual;
  let decoded = 0;
  let p = start;
  let ch = b[p++];
  let argsStart = -1;
  // the loop may look one past `end`: nginx relies on the CR or LF there
  const at = (i: number): number => (i < end ? b[i] : 0x0a);
  const climb = (): boolean => {
    // u ends with "/..": drop it and the segment before
    let i = u.length - 4;
    for (;;) {
      if (i < 0) return false;
      if (u[i] === 0x2f) break;
      i--;
    }
    u.length = i + 1;
    return true;
  };
  loop: while (p <= end) {
    switch (state) {
      case S.usual:
        if (usual(ch)) {
          u.push(ch);
          ch = at(p++);
          break;
        }
        if (ch === 0x2f) state = S.slash, u.push(ch);
        else if (ch === 0x25) {
          quotedState = state;
          state = S.quoted;
        } else if (ch === 0x3f) {
          argsStart = p;
          break loop;
        } else if (ch === 0x23) return { uri: bytes(u) };
        else u.push(ch);
        ch = at(p++);
        break;
      case S.slash:
        if (usual(ch)) {
          state = S.usual;
          u.push(ch);
          ch = at(p++);
          break;
        }
        if (ch === 0x2f) {
          if (!mergeSlashes) u.push(ch);
        } else if (ch === 0x2e) state = S.dot, u.push(ch);
        else if (ch === 0x25) {
          quotedState = state;
          state = S.quoted;
        } else if (ch === 0x3f) {
          argsStart = p;
          break loop;
        } else if (ch === 0x23) return { uri: bytes(u) };
        else state = S.usual, u.push(ch);
        ch = at(p++);
        break;
      case S.dot:
        if (usual(ch)) {
          state = S.usual;
          u.push(ch);
          ch = at(p++);
          break;
        }
        if (ch === 0x2f) state = S.slash, u.pop();
        else if (ch === 0x2e) state = S.dotDot, u.push(ch);
        else if (ch === 0x25) {
          quotedState = state;
          state = S.quoted;
        } else if (ch === 0x3f) {
          u.pop();
          argsStart = p;
          break loop;
        } else if (ch === 0x23) {
          u.pop();
          return { uri: bytes(u) };
        } else state = S.usual, u.push(ch);
        ch = at(p++);
        break;
      case S.dotDot:
        if (usual(ch)) {
          state = S.usual;
          u.push(ch);
          ch = at(p++);
          break;
        }
        if (ch === 0x2f || ch === 0x3f || ch === 0x23) {
          if (!climb()) return undefined;
          if (ch === 0x3f) {
            argsStart = p;
            break loop;
          }
          if (ch === 0x23) return { uri: bytes(u) };
          state = S.slash;
        } else if (ch === 0x25) {
          quotedState = state;
          state = S.quoted;
        } else state = S.usual, u.push(ch);
        ch = at(p++);
        break;
      case S.quoted: {
        const c = ch | 0x20;
        if (ch >= 0x30 && ch <= 0x39) decoded = ch - 0x30;
        else if (c >= 0x61 && c <= 0x66) decoded = c - 0x61 + 10;
        else return undefined;
        state = S.quotedSecond;
        ch = at(p++);
        break;
      }
      case S.quotedSecond: {
        const c = ch | 0x20;
        if (ch >= 0x30 && ch <= 0x39) {
          ch = (decoded << 4) + ch - 0x30;
          if (ch === 0x25 || ch === 0x23) {
            state = S.usual;
            u.push(ch);
            ch = at(p++);
            break;
          }
          if (ch === 0) return undefined;
          state = quotedState;
          break;
        }
        if (c >= 0x61 && c <= 0x66) {
          ch = (decoded << 4) + c - 0x61 + 10;
          if (ch === 0x3f) {
            state = S.usual;
            u.push(ch);
            ch = at(p++);
            break;
          }
          state = quotedState;
          break;
        }
        return undefined;
      }
    }
  }
  if (argsStart >= 0) {
    let e = argsStart;
    while (e < end && b[e] !== 0x23) e++;
    return { uri: bytes(u), args: b.toString('latin1', argsStart, e) };
  }
  if (state === S.quoted || state === S.quotedSecond) return undefined;
  if (state === S.dot) u.pop();
  else if (state === S.dotDot && !climb()) return undefined;
  return { uri: bytes(u) };
}

function bytes(u: number[]): string {
  let s = '';
  for (let i = 0; i < u.length; i += 4096) s += String.fromCharCode(...u.slice(i, i + 4096));
  return s;
}
