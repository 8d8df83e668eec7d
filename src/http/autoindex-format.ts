import { escapeJson } from './access-log';
import { httpDate } from './core-variables';

// The pages ngx_http_autoindex_module writes (nginx 1.22): html, json(p)
// and xml, byte for byte. Names are byte strings as readdir gave them; what
// may be cut, escaped or padded is counted the way nginx counts it.

export interface AutoindexEntry {
  /** the file name, bytes */
  name: string;
  dir: boolean;
  file: boolean;
  /** seconds */
  mtime: number;
  size: number;
}

export interface HtmlOptions {
  exactSize: boolean;
  localtime: boolean;
  /** the local time zone's offset in minutes (nginx's tp->gmtoff), used with localtime */
  gmtoff: number;
  /** the response's charset is utf-8: names are measured and cut in characters */
  utf8: boolean;
}

/** NGX_HTTP_AUTOINDEX_NAME_LEN: the width of the name column. */
const NAME_LEN = 50;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const HEX = '0123456789ABCDEF';
const p2 = (n: number): string => (n < 10 ? '0' + n : String(n));
const pad = (s: string, width: number): string => (s.length < width ? ' '.repeat(width - s.length) + s : s);

/** ngx_escape_uri's NGX_ESCAPE_URI_COMPONENT table in 1.22: all but ALPHA, DIGIT, "-", ".", "_", "~". */
const URI_COMPONENT = [0xffffffff, 0xfc009fff, 0x78000001, 0xb8000001, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];

export function escapeUriComponent(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += URI_COMPONENT[c >> 5] & (1 << (c & 0x1f)) ? '%' + HEX[c >> 4] + HEX[c & 0xf] : s[i];
  }
  return out;
}

/** ngx_escape_html: the four characters that matter in text and attributes; "'" stays. */
export function escapeHtml(s: string): string {
  return /[<>&"]/.test(s) ? s.replace(/[<>&"]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : '&quot;')) : s;
}

/**
 * ngx_utf8_decode: the length in bytes of the character at i, or -1 where
 * nginx sees invalid UTF-8 (overlong forms and sequences cut short included;
 * surrogates pass, as they do in nginx).
 */
function utf8CharLen(s: string, i: number): number {
  const u = s.charCodeAt(i);
  let len: number;
  let v: number;
  let valid: number;
  if (u >= 0xf0) [len, v, valid] = [3, u & 0x07, 0xffff];
  else if (u >= 0xe0) [len, v, valid] = [2, u & 0x0f, 0x7ff];
  else if (u >= 0xc2) [len, v, valid] = [1, u & 0x1f, 0x7f];
  else return -1;
  if (s.length - i - 1 < len) return -1;
  for (let k = 1; k <= len; k++) {
    const c = s.charCodeAt(i + k);
    if (c < 0x80) return -1;
    v = (v << 6) | (c & 0x3f);
  }
  return v > valid && v <= 0x10ffff ? len + 1 : -1;
}

/** ngx_utf8_length: characters in s, or its length in bytes if any of it is not UTF-8. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; n++) {
    if (s.charCodeAt(i) < 0x80) {
      i++;
      continue;
    }
    const l = utf8CharLen(s, i);
    if (l < 0) return s.length;
    i += l;
  }
  return n;
}

/** ngx_utf8_cpystrn: the bytes of the first `chars` characters (stops at invalid UTF-8). */
function utf8Prefix(s: string, chars: number): string {
  let i = 0;
  for (; chars > 0 && i < s.length; chars--) {
    const l = s.charCodeAt(i) < 0x80 ? 1 : utf8CharLen(s, i);
    if (l < 0) break;
    i += l;
  }
  return s.slice(0, i);
}

/** ngx_gmtime's fields for a time in seconds. */
function gmtime(sec: number): Date {
  return new Date(sec * 1000);
}

/** The name column: cut to 47 (+ "..>") past 50, else padded to 50 (directories get their "/"). */
function nameColumn(e: AutoindexEntry, utf8: boolean): string {
  let len = utf8 ? utf8Length(e.name) : e.name.length;
  let text: string;
  if (e.name.length !== len) {
    text = escapeHtml(utf8Prefix(e.name, len > NAME_LEN ? NAME_LEN - 3 : NAME_LEN));
  } else {
    text = escapeHtml(len > NAME_LEN ? e.name.slice(0, NAME_LEN - 3) : e.name);
  }
  if (len > NAME_LEN) return text + '..&gt;</a>';
  if (e.dir && NAME_LEN - len > 0) {
    text += '/';
    len++;
  }
  return text + '</a>' + ' '.repeat(NAME_LEN - len);
}

/** The size column: exact bytes in 19, or nginx's rounded K/M/G in 7; "-" for directories. */
function sizeColumn(e: AutoindexEntry, exact: boolean): string {
  if (exact) return e.dir ? pad('-', 19) : pad(String(e.size), 19);
  if (e.dir) return pad('-', 7);
  const length = e.size;
  const scaled = (unit: number, c: string): string => {
    // rounds half up: a remainder of at least half a unit counts one more
    let n = Math.floor(length / unit);
    if (length % unit > unit / 2 - 1) n++;
    return pad(String(n), 6) + c;
  };
  if (length > 1024 * 1024 * 1024 - 1) return scaled(1024 * 1024 * 1024, 'G');
  if (length > 1024 * 1024 - 1) return scaled(1024 * 1024, 'M');
  if (length > 9999) return scaled(1024, 'K');
  return ' ' + pad(String(length), 6);
}

/** ngx_http_autoindex_html for `uri` (bytes, as $uri). */
export function autoindexHtml(uri: string, entries: AutoindexEntry[], o: HtmlOptions): string {
  const title = escapeHtml(uri);
  let out = `<html>\r\n<head><title>Index of ${title}</title></head>\r\n<body>\r\n<h1>Index of ${title}</h1>`
    + '<hr><pre><a href="../">../</a>\r\n';
  // nginx shifts by the zone's offset of now, not of the file's time
  const shift = o.localtime ? o.gmtoff * 60 : 0;
  for (const e of entries) {
    out += '<a href="' + escapeUriComponent(e.name) + (e.dir ? '/' : '') + '">' + nameColumn(e, o.utf8) + ' ';
    const t = gmtime(e.mtime + shift);
    out += `${p2(t.getUTCDate())}-${MONTHS[t.getUTCMonth()]}-${t.getUTCFullYear()} ${p2(t.getUTCHours())}:${p2(t.getUTCMinutes())} `;
    out += sizeColumn(e, o.exactSize) + '\r\n';
  }
  return out + '</pre><hr></body>\r\n</html>\r\n';
}

const kind = (e: AutoindexEntry): string => (e.dir ? 'directory' : e.file ? 'file' : 'other');

/** ngx_http_autoindex_json; with a callback, the JSONP form. */
export function autoindexJson(entries: AutoindexEntry[], callback?: string): string {
  let out = callback !== undefined ? `/* callback */\r\n${callback}(` : '';
  out += '[';
  out += entries.map((e) => `\r\n{ "name":"${escapeJson(e.name)}", "type":"${kind(e)}", "mtime":"${httpDate(e.mtime)}`
    + (e.file ? `", "size":${e.size}` : '"') + ' }').join(',');
  out += '\r\n]';
  return callback !== undefined ? out + ');' : out;
}

/** ngx_http_autoindex_xml: times always in UTC. */
export function autoindexXml(entries: AutoindexEntry[]): string {
  let out = '<?xml version="1.0"?>\r\n<list>\r\n';
  for (const e of entries) {
    const t = gmtime(e.mtime);
    const type = kind(e);
    out += `<${type} mtime="${pad(String(t.getUTCFullYear()), 4)}-${p2(t.getUTCMonth() + 1)}-${p2(t.getUTCDate())}`
      + `T${p2(t.getUTCHours())}:${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())}Z"`
      + (e.file ? ` size="${e.size}"` : '') + `>${escapeHtml(e.name)}</${type}>\r\n`;
  }
  return out + '</list>\r\n';
}
