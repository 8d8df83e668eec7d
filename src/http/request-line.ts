import type { IncomingMessage, ServerResponse } from 'node:http';
import { findServer } from './server-names';
import { type HttpConnection, type HttpRequest, newOutHeaders } from './request';
import { userAgentQuirks } from './error-pages';
import { URI_CHANGES, setNamedCaptures } from './find-config';

// What ngx_http_request.c does between reading a request and running its
// phases, on what Node's parser accepted: the request line's method,
// version and target, the URI decoded and normalised as
// ngx_http_parse_complex_uri does, Host validated, the virtual server found,
// keep-alive decided — and the 400s nginx answers when one of these fails.

const HOST_INVALID = Symbol('invalid host');

/** ngx_http_validate_host: lower-cased, port and trailing dot removed; HOST_INVALID if bad. */
export function validateHost(host: string): string | typeof HOST_INVALID {
  let dotPos = host.length;
  let hostLen = host.length;
  let state = 0; // 0 usual, 1 literal, 2 rest
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    switch (c) {
      case 0x2e: // .
        if (dotPos === i - 1) return HOST_INVALID;
        dotPos = i;
        break;
      case 0x3a: // :
        if (state === 0) {
          hostLen = i;
          state = 2;
        }
        break;
      case 0x5b: // [
        if (i === 0) state = 1;
        break;
      case 0x5d: // ]
        if (state === 1) {
          hostLen = i + 1;
          state = 2;
        }
        break;
      case 0:
        return HOST_INVALID;
      default:
        if (c === 0x2f || c <= 0x20 || c === 0x7f) return HOST_INVALID;
    }
  }
  if (dotPos === hostLen - 1) hostLen--;
  if (hostLen <= 0) return HOST_INVALID;
  return host.slice(0, hostLen).toLowerCase();
}

const hexVal = (c: number): number =>
  c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;

/**
 * ngx_http_parse_complex_uri: percent-decoding, "//" merged, "." and ".."
 * resolved; undefined for what nginx answers 400 (bad escapes, %00, a path
 * above the root).
 */
export function normalizeUri(raw: string): string | undefined {
  let s = raw;
  const hash = s.indexOf('#');
  if (hash >= 0) s = s.slice(0, hash);
  if (s.includes('%')) {
    let out = '';
    let from = 0;
    for (let i = s.indexOf('%'); i >= 0; i = s.indexOf('%', from)) {
      const hi = hexVal(s.charCodeAt(i + 1));
      const lo = hexVal(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return undefined;
      const c = (hi << 4) | lo;
      if (c === 0) return undefined;
      out += s.slice(from, i) + String.fromCharCode(c);
      from = i + 3;
    }
    s = out + s.slice(from);
  }
  if (!s.includes('//') && !s.includes('/.')) return s;
  const parts = s.split('/');
  const stack: string[] = [];
  let trailing = false;
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i];
    const last = i === parts.length - 1;
    if (seg === '' || seg === '.') {
      trailing = last;
      continue;
    }
    if (seg === '..') {
      if (stack.length === 0) return undefined;
      stack.pop();
      trailing = last;
      continue;
    }
    stack.push(seg);
    trailing = false;
  }
  if (stack.length === 0) return '/';
  return '/' + stack.join('/') + (trailing ? '/' : '');
}

const TOKEN_METHOD = /^[A-Z_-]+$/;

export class Request implements HttpRequest {
  server!: HttpRequest['server'];
  loc!: HttpRequest['loc'];
  method: string;
  uri = '';
  args = '';
  hasArgs = false;
  requestUri = '';
  host = '';
  vars: Array<string | undefined> = [];
  captures?: string[] = undefined;
  uriChanges = URI_CHANGES;
  internal = false;
  status = 0;
  startTime = process.hrtime.bigint();
  startMs = Date.now();
  bodyBytesSent = 0;
  errorPage = false;
  trace?: HttpRequest['trace'] = undefined;
  protocol: string;
  requestLine: string;
  errStatus = 0;
  out = newOutHeaders();
  headerSent = false;
  headerBytes = 0;
  keepalive = false;
  headerOnly: boolean;
  clientGone = false;
  done = false;
  contentLength = -1;
  requestLength = 0;
  quirks = userAgentQuirks(undefined);
  requestId?: string = undefined;
  filename?: string = undefined;
  headerLimit = Infinity;
  bare = false;
  closeAfter = false;
  ctx: Record<string, unknown> = {};

  constructor(readonly req: IncomingMessage, readonly res: ServerResponse, public conn: HttpConnection) {
    this.method = req.method ?? '';
    this.protocol = `HTTP/${req.httpVersion}`;
    this.requestLine = `${this.method} ${req.url} ${this.protocol}`;
    this.headerOnly = this.method === 'HEAD';
  }
}

/** Request line, headers and the blank line, as counted by $request_length. */
function headLength(r: Request): number {
  let n = r.requestLine.length + 2 + 2;
  const raw = r.req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) n += raw[i].length + raw[i + 1].length + 4;
  return n;
}

/**
 * The checks of ngx_http_process_request_line/headers: the target, Host,
 * the server, keep-alive. Returns a status to answer with at once.
 */
export function processRequestHeaders(r: Request, closing: boolean): number | undefined {
  const req = r.req;
  const conn = r.conn;
  const entry = conn.addr;
  r.server = entry.defaultServer!;
  r.loc = r.server.core.loc!;
  r.requestLength = headLength(r);
  const cl = req.headers['content-length'];
  if (cl !== undefined) r.contentLength = Number(cl);
  if (r.protocol !== 'HTTP/1.0' && r.protocol !== 'HTTP/1.1') {
    return lineError(r, r.protocol >= 'HTTP/2' ? 505 : 400);
  }
  if (!TOKEN_METHOD.test(r.method)) return lineError(r, 400);
  // the request target: origin form, or absolute form whose host wins over Host
  let target = req.url ?? '';
  let lineHost: string | undefined;
  if (!target.startsWith('/')) {
    const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(target);
    if (!m) return lineError(r, 400);
    lineHost = m[1];
    target = target.slice(m[0].length) || '/';
    if (!target.startsWith('/')) target = '/' + target;
  }
  r.requestUri = target;
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  if (q >= 0) {
    r.args = target.slice(q + 1);
    r.hasArgs = true;
  }
  const uri = normalizeUri(rawPath);
  if (uri === undefined) {
    r.requestUri = '';
    r.args = '';
    r.hasArgs = false;
    return lineError(r, 400);
  }
  r.uri = uri;
  // headers
  let hostHeader: string | undefined;
  let connection: string | undefined;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'host') {
      if (hostHeader !== undefined) {
        info(r, 'client sent duplicate host header: "Host: ' + raw[i + 1] + '", previous value: "Host: ' + hostHeader + '"');
        return headerError(r, i, 400);
      }
      hostHeader = raw[i + 1];
      if (lineHost === undefined && validateHost(hostHeader) === HOST_INVALID) {
        info(r, 'client sent invalid host header');
        return headerError(r, i, 400);
      }
    } else if (name === 'connection') connection = raw[i + 1].toLowerCase();
    else if (name === 'user-agent' && r.quirks.msie === false) r.quirks = userAgentQuirks(raw[i + 1]);
  }
  const hostText = lineHost ?? hostHeader;
  if (hostText !== undefined) {
    const host = validateHost(hostText);
    if (host === HOST_INVALID) {
      info(r, 'client sent invalid host header');
      return 400;
    }
    r.host = host;
  } else if (r.protocol === 'HTTP/1.1') {
    info(r, 'client sent HTTP/1.1 request without "Host" header');
    return 400;
  }
  if (cl !== undefined && !/^[0-9]+$/.test(cl)) return 400;
  const found = findServer(entry, r.host);
  r.server = found.server;
  if (r.trace) {
    const names = found.server.core.names.map((n) => n.name);
    r.trace.push({ kind: 'listen', listen: entry.listen.text, servers: entry.servers.length });
    r.trace.push({ kind: 'server', where: { file: found.server.file, line: found.server.line }, names, rule: found.rule });
  }
  r.loc = r.server.core.loc!;
  if (found.captures) {
    r.captures = Array.from(found.captures, (x) => x ?? '');
    if (found.captures.groups) setNamedCaptures(r, found.captures.groups);
  }
  if (connection !== undefined && connection.includes('close')) r.keepalive = false;
  else if (connection !== undefined && connection.includes('keep-alive')) r.keepalive = true;
  else r.keepalive = r.protocol === 'HTTP/1.1';
  if (closing) r.keepalive = false;
  return undefined;
}

/** Refused at the request line: the headers were never read. */
function lineError(r: Request, status: number): number {
  r.headerLimit = 0;
  r.requestLength = r.requestLine.length + 2;
  return status;
}

/** Refused at the header at rawHeaders[i]: those after it were never read. */
function headerError(r: Request, i: number, status: number): number {
  r.headerLimit = i + 2;
  let n = r.requestLine.length + 2;
  const raw = r.req.rawHeaders;
  for (let j = 0; j <= i; j += 2) n += raw[j].length + raw[j + 1].length + 4;
  r.requestLength = n;
  return status;
}

function info(r: Request, message: string): void {
  const log = r.conn.ctx.errorLog;
  log.log('info', `*${r.conn.id} ${message} while reading client request headers, client: ${r.conn.remoteAddr}, server: ${r.server?.core.names[0]?.name ?? ''}, request: "${r.requestLine}"`);
}
