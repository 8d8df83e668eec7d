import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { NGINX_COMPAT_VERSION } from '../version';
import type { Variables } from './variables';
import type { HttpRequest } from './request';
import { documentRoot, mapUriToPath } from './static-module';
import { basicUser } from './basic-user';
import { requestBodyVariable } from './request-body';

// The core variables ($uri, $remote_addr, $http_*...), registered when an
// http block starts so that the config can refer to them. A getter returns
// undefined for nginx's "not found" (logged as "-") and "" for an empty value.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const p2 = (n: number): string => (n < 10 ? '0' + n : String(n));

function tzOffset(d: Date, colon: boolean): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return sign + p2(Math.floor(a / 60)) + (colon ? ':' : '') + p2(a % 60);
}

// nginx formats times once per second (ngx_time_update); so do we
let cachedSec = -1;
let cachedLocal = '';
let cachedIso = '';
let cachedHttp = '';

function refresh(ms: number): void {
  const sec = Math.floor(ms / 1000);
  if (sec === cachedSec) return;
  cachedSec = sec;
  const d = new Date(sec * 1000);
  cachedLocal = `${p2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${tzOffset(d, false)}`;
  cachedIso = `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}${tzOffset(d, true)}`;
  cachedHttp = httpDate(sec);
}

/** "25/Nov/2026:08:23:18 +0000" */
export function timeLocal(ms = Date.now()): string {
  refresh(ms);
  return cachedLocal;
}

export function timeIso8601(ms = Date.now()): string {
  refresh(ms);
  return cachedIso;
}

/** An RFC 1123 date as nginx writes Date and Last-Modified. */
export function httpDate(sec: number): string {
  const d = new Date(sec * 1000);
  return `${DAYS[d.getUTCDay()]}, ${p2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} GMT`;
}

/** The Date header for now, formatted once a second. */
export function httpDateNow(ms = Date.now()): string {
  refresh(ms);
  return cachedHttp;
}

/** "%T.%03M": seconds with milliseconds. */
export function msecText(ms: number): string {
  const s = Math.floor(ms / 1000);
  const m = ms - s * 1000;
  return `${s}.${m < 10 ? '00' + m : m < 100 ? '0' + m : m}`;
}

/** The first value of a request header (nginx 1.22 keeps the first of repeats). */
export function headerIn(r: HttpRequest, lname: string): string | undefined {
  const raw = r.req.rawHeaders;
  const n = Math.min(raw.length, r.headerLimit);
  for (let i = 0; i < n; i += 2) {
    if (raw[i].length === lname.length && raw[i].toLowerCase() === lname) return raw[i + 1];
  }
  return undefined;
}

function headerJoined(r: HttpRequest, lname: string, sep: string): string | undefined {
  const raw = r.req.rawHeaders;
  const n = Math.min(raw.length, r.headerLimit);
  let out: string | undefined;
  for (let i = 0; i < n; i += 2) {
    if (raw[i].length === lname.length && raw[i].toLowerCase() === lname) out = out === undefined ? raw[i + 1] : out + sep + raw[i + 1];
  }
  return out;
}

/**
 * ngx_http_variable_unknown_header: $http_x_y is the first "X-Y" header —
 * or "X_Y", which underscores_in_headers lets in: a dash and an underscore
 * in the name compare equal.
 */
function unknownHeader(r: HttpRequest, lname: string): string | undefined {
  const raw = r.req.rawHeaders;
  const n = Math.min(raw.length, r.headerLimit);
  for (let i = 0; i < n; i += 2) {
    if (raw[i].length === lname.length && raw[i].toLowerCase().replace(/_/g, '-') === lname) return raw[i + 1];
  }
  return undefined;
}

const headerNames = new Map<string, string>();

/** "http_user_agent" → "user-agent" (cached: the names come from the config). */
function headerName(name: string, prefixLen: number): string {
  let h = headerNames.get(name);
  if (h === undefined) {
    h = name.slice(prefixLen).toLowerCase().replace(/_/g, '-');
    headerNames.set(name, h);
  }
  return h;
}

/** ngx_http_arg: "name=value" in the query, the name case-insensitive. */
export function argValue(args: string, name: string): string | undefined {
  if (args === '' || name === '') return undefined;
  const lower = args.toLowerCase();
  const lname = name.toLowerCase();
  let from = 0;
  for (;;) {
    const i = lower.indexOf(lname, from);
    if (i < 0) return undefined;
    from = i + 1;
    if ((i === 0 || args[i - 1] === '&') && args[i + lname.length] === '=') {
      const start = i + lname.length + 1;
      const end = args.indexOf('&', start);
      return end < 0 ? args.slice(start) : args.slice(start, end);
    }
  }
}

/** A cookie by name, as ngx_http_parse_multi_header_lines finds it. */
export function cookieValue(r: HttpRequest, name: string): string | undefined {
  const raw = r.req.rawHeaders;
  const lname = name.toLowerCase();
  const n = Math.min(raw.length, r.headerLimit);
  for (let i = 0; i < n; i += 2) {
    if (raw[i].toLowerCase() !== 'cookie') continue;
    const v = raw[i + 1];
    const lv = v.toLowerCase();
    let from = 0;
    for (;;) {
      const at = lv.indexOf(lname, from);
      if (at < 0) break;
      from = at + 1;
      if (at > 0 && v[at - 1] !== ';' && v[at - 1] !== ' ' && v[at - 1] !== ',') continue;
      let j = at + lname.length;
      if (v[j] !== '=') continue;
      j++;
      let end = j;
      while (end < v.length && v[end] !== ';' && v[end] !== ',') end++;
      return v.slice(j, end);
    }
  }
  return undefined;
}

/** The value a response header has (or will have) on the wire. */
export function sentHeader(r: HttpRequest, lname: string): string | undefined {
  const out = r.out;
  switch (lname) {
    case 'content-type':
      return out.contentType;
    case 'content-length':
      return out.contentLength >= 0 ? String(out.contentLength) : undefined;
    case 'last-modified':
      return out.lastModified >= 0 ? httpDate(out.lastModified) : undefined;
    case 'location':
      return out.location;
    case 'connection':
      return r.headerSent ? (r.keepalive ? 'keep-alive' : 'close') : '';
    case 'keep-alive':
      return undefined;
    case 'transfer-encoding':
      return r.headerSent && r.res.chunkedEncoding ? 'chunked' : undefined;
    case 'etag':
      if (out.etag !== undefined) return out.etag;
      break;
    default:
      break;
  }
  for (const [k, v] of out.headers) if (k.toLowerCase() === lname) return v;
  return undefined;
}

/** ngx_http_variable_remote_user: nginx's own reading of Basic credentials. */
function remoteUser(r: HttpRequest): string | undefined {
  return basicUser(r)?.user;
}

function status(r: HttpRequest): string {
  const s = r.errStatus || r.status;
  return s < 10 ? '00' + s : s < 100 ? '0' + s : String(s);
}

const hostname = os.hostname();
const pid = String(process.pid);

function serverName(r: HttpRequest): string {
  return r.server?.core.names[0]?.name ?? '';
}

export function registerCoreVariables(vars: Variables): void {
  const d = (name: string, get: (r: HttpRequest) => string | undefined, changeable = false): void =>
    vars.define(name, (r) => get(r), changeable);

  d('uri', (r) => (r.bare ? undefined : r.uri));
  d('document_uri', (r) => (r.bare ? undefined : r.uri));
  d('request_uri', (r) => (r.bare || r.requestUri === '' ? undefined : r.requestUri));
  d('args', (r) => (r.args !== '' || r.argsFound ? r.args : undefined), true);
  d('query_string', (r) => (r.args !== '' || r.argsFound ? r.args : undefined));
  d('is_args', (r) => (r.args !== '' ? '?' : ''));
  d('request', (r) => r.requestLine);
  d('request_method', (r) => (r.bare ? undefined : r.method));
  d('server_protocol', (r) => r.serverProtocol);
  d('scheme', () => 'http');
  d('https', () => '');
  d('host', (r) => r.host || serverName(r));
  d('hostname', () => hostname);
  d('server_name', (r) => serverName(r));
  d('server_addr', (r) => r.conn.localAddr);
  d('server_port', (r) => r.conn.localPort);
  d('remote_addr', (r) => r.conn.remoteAddr);
  d('binary_remote_addr', (r) => {
    const a = r.conn.remoteAddr;
    if (a.includes('.') && !a.includes(':')) return String.fromCharCode(...a.split('.').map(Number));
    return a;
  });
  d('remote_port', (r) => r.conn.remotePort);
  d('remote_user', remoteUser);
  d('proxy_protocol_addr', () => '');
  d('proxy_protocol_port', () => '');
  d('content_type', (r) => headerIn(r, 'content-type'));
  d('content_length', (r) => headerIn(r, 'content-length'));
  d('request_length', (r) => String(r.requestLength));
  d('request_time', (r) => msecText(Math.max(0, Date.now() - r.startMs)));
  d('request_completion', (r) => (r.done && !r.clientGone ? 'OK' : ''));
  d('request_body', requestBodyVariable);
  d('request_body_file', () => undefined);
  d('request_id', (r) => (r.requestId ??= crypto.randomBytes(16).toString('hex')));
  d('pipe', (r) => (r.pipeline ? 'p' : '.'));
  d('status', status);
  d('body_bytes_sent', (r) => String(r.bodyBytesSent));
  d('bytes_sent', (r) => String(r.headerBytes + r.bodyBytesSent));
  d('msec', () => msecText(Date.now()));
  d('time_local', () => timeLocal());
  d('time_iso8601', () => timeIso8601());
  d('document_root', (r) => documentRoot(r));
  d('realpath_root', (r) => {
    const root = documentRoot(r);
    if (root === undefined) return undefined;
    try {
      // nginx calls realpath() here too: a variable only logs and maps use
      return fs.realpathSync(Buffer.from(root, 'latin1'), { encoding: 'buffer' }).toString('latin1');
    } catch {
      return undefined;
    }
  });
  d('request_filename', (r) => r.filename ?? mapUriToPath(r)?.path);
  d('connection', (r) => String(r.conn.id));
  d('connection_requests', (r) => String(r.conn.requests));
  d('connection_time', (r) => msecText(Date.now() - r.conn.startMs));
  d('pid', () => pid);
  d('nginx_version', () => NGINX_COMPAT_VERSION);
  d('http_host', (r) => headerIn(r, 'host'));
  d('http_user_agent', (r) => headerIn(r, 'user-agent'));
  d('http_referer', (r) => headerIn(r, 'referer'));
  d('http_via', (r) => headerIn(r, 'via'));
  d('http_x_forwarded_for', (r) => headerJoined(r, 'x-forwarded-for', ', '));
  d('http_cookie', (r) => headerJoined(r, 'cookie', '; '));
  d('sent_http_content_type', (r) => r.out.contentType);
  d('sent_http_content_length', (r) => sentHeader(r, 'content-length'));
  d('sent_http_location', (r) => r.out.location);
  d('sent_http_last_modified', (r) => sentHeader(r, 'last-modified'));
  d('sent_http_connection', (r) => sentHeader(r, 'connection'));
  d('sent_http_keep_alive', () => undefined);
  d('sent_http_transfer_encoding', (r) => sentHeader(r, 'transfer-encoding'));

  vars.definePrefix('http_', (r, name) => unknownHeader(r, headerName(name, 5)));
  vars.definePrefix('sent_http_', (r, name) => sentHeader(r, headerName(name, 10)));
  // nodinx sends no trailers (add_trailer is not supported): nginx's value without them
  vars.definePrefix('sent_trailer_', () => undefined);
  vars.definePrefix('cookie_', (r, name) => cookieValue(r, name.slice(7)));
  vars.definePrefix('arg_', (r, name) => argValue(r.args, name.slice(4)));
}
