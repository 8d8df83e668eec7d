import { HttpResponse, type ResponseHooks } from './response';
import { findServer } from './server-names';
import { type HttpConnection, type HttpRequest, type RequestIn, newOutHeaders } from './request';
import { userAgentQuirks } from './error-pages';
import { URI_CHANGES, setNamedCaptures } from './find-config';
import { logError } from './http-context';
import { parseComplexUri } from './complex-uri';
import type { LineState } from './request-parser';

// What ngx_http_request.c does with a request as its head is read (the
// bytes are parsed in request-parser.ts, read in http-connection.ts): the
// request line's method, version and target, the URI decoded, each header
// line's handler (Host chooses the server, duplicates of unique headers
// are refused), the checks once the head is complete, and keep-alive.
// Each failure is nginx's status and nginx's info line in the error log.

const HOST_INVALID = Symbol('invalid host');

/** a request without User-Agent: one shared answer, never changed */
const NO_QUIRKS = Object.freeze(userAgentQuirks(undefined));

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

/**
 * Header names as clients spell them, to the lower-case name as a constant
 * string: a name read from the wire is a fresh string, and storing it as a
 * key of req.headers sends V8 to its runtime every time (an inline-cache
 * miss); a constant key does not, and toLowerCase() is saved too.
 */
const LOWER_NAMES = new Map<string, string>();
for (const n of [
  'host', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'accept-charset', 'connection',
  'content-length', 'content-type', 'cookie', 'referer', 'origin', 'authorization', 'cache-control', 'pragma',
  'if-modified-since', 'if-none-match', 'if-match', 'if-unmodified-since', 'if-range', 'range', 'upgrade',
  'expect', 'transfer-encoding', 'te', 'keep-alive', 'via', 'x-forwarded-for', 'x-forwarded-proto',
  'x-forwarded-host', 'x-real-ip', 'x-requested-with', 'dnt', 'sec-fetch-site', 'sec-fetch-mode',
  'sec-fetch-dest', 'sec-fetch-user', 'upgrade-insecure-requests', 'sec-websocket-key',
  'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol', 'priority',
  // and what upstreams answer with
  'date', 'server', 'location', 'set-cookie', 'last-modified', 'etag', 'expires', 'vary', 'content-encoding',
  'accept-ranges', 'x-powered-by', 'content-language', 'content-disposition', 'www-authenticate', 'refresh',
  'x-accel-redirect', 'x-accel-buffering', 'x-accel-limit-rate', 'x-accel-charset', 'x-accel-expires', 'age',
  'content-security-policy', 'strict-transport-security', 'x-frame-options', 'x-content-type-options',
]) {
  LOWER_NAMES.set(n, n);
  LOWER_NAMES.set(n.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase()), n);
}
LOWER_NAMES.set('DNT', 'dnt');
LOWER_NAMES.set('TE', 'te');

export function lowerName(name: string): string {
  return LOWER_NAMES.get(name) ?? name.toLowerCase();
}

/** Headers whose repeat nginx refuses (ngx_http_process_unique_header_line). */
const UNIQUE = new Set([
  'if-modified-since', 'if-unmodified-since', 'if-match', 'if-none-match', 'content-length', 'content-range',
  'if-range', 'transfer-encoding', 'expect', 'authorization',
]);

/** Node's rule for req.headers: these keep the first value, cookies join with "; ", the rest with ", ". */
const SINGLE = new Set(['host', 'user-agent', 'referer', 'content-type', 'content-length', 'authorization', 'if-modified-since', 'if-unmodified-since', 'expect']);

export class Request implements HttpRequest {
  server: HttpRequest['server'];
  loc: HttpRequest['loc'];
  method = '';
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
  startMs = Date.now();
  bodyBytesSent = 0;
  errorPage = false;
  trace?: HttpRequest['trace'] = undefined;
  protocol = '';
  serverProtocol?: string = undefined;
  requestLine = '';
  errStatus = 0;
  out = newOutHeaders();
  headerSent = false;
  headerBytes = 0;
  keepalive = false;
  headerOnly = false;
  clientGone = false;
  done = false;
  contentLength = -1;
  requestLength = 0;
  quirks = NO_QUIRKS;
  requestId?: string = undefined;
  pipeline = false;
  filename?: string = undefined;
  headerLimit = Infinity;
  /** no request line yet: $uri, $request_method... are not found */
  bare = true;
  closeAfter = false;
  ctx: Record<string, unknown> = {};
  readonly req: RequestIn;
  res!: HttpResponse;

  // --- nginx's headers_in and request flags, while the head is read ---
  /** major * 1000 + minor, 9 for HTTP/0.9; 1.0 until the request line says */
  httpVersion = 1000;
  /** the server was chosen by a host (request line or Host), not by default */
  serverChosen = false;
  hostHeader?: [string, string] = undefined;
  connectionType: '' | 'close' | 'keep-alive' = '';
  chunked = false;
  /** the body is still to be read or discarded when the connection closes */
  lingeringClose = false;
  expectTested = false;
  /** stub_status counts the request as writing, no more as reading */
  statWriting = false;
  /** stub_status no longer counts it */
  statDone = false;
  /** headers accepted so far (Debian's max_headers) */
  headerCount = 0;
  /** what the connection is doing, for error-log lines ("reading client request line") */
  action = 'reading client request line';

  constructor(public conn: HttpConnection) {
    this.req = {
      method: '', url: '', httpVersion: '1.0', httpVersionMajor: 1, httpVersionMinor: 0,
      headers: Object.create(null) as Record<string, string | undefined>, rawHeaders: [], socket: conn.socket,
    };
    this.server = conn.addr.defaultServer!;
    this.loc = this.server.core.loc!;
  }

  /** The response object, made once the method and version are known. */
  attachResponse(hooks: ResponseHooks): HttpResponse {
    this.res ??= new HttpResponse(this.method === 'HEAD', this.httpVersion < 1000, hooks);
    return this.res;
  }
}

/** ngx_http_set_virtual_server: the server for a host, with its regex captures. */
function setVirtualServer(r: Request, host: string): void {
  const found = findServer(r.conn.addr, host);
  r.server = found.server;
  r.loc = r.server.core.loc!;
  r.serverChosen = true;
  r.captures = undefined;
  if (found.captures) {
    r.captures = Array.from(found.captures, (x) => x ?? '');
    if (found.captures.groups) setNamedCaptures(r, found.captures.groups);
  }
  if (r.trace) {
    const names = found.server.core.names.map((n) => n.name);
    r.trace.push({ kind: 'listen', listen: r.conn.addr.listen.text, servers: r.conn.addr.servers.length });
    r.trace.push({ kind: 'server', where: { file: found.server.file, line: found.server.line }, names, rule: found.rule });
  }
}

/** The common methods as constant strings: compared and used as keys without a second look. */
function methodName(m: string): string {
  switch (m) {
    case 'GET': return 'GET';
    case 'HEAD': return 'HEAD';
    case 'POST': return 'POST';
    default: return m;
  }
}

function protocolName(p: string): string {
  return p === 'HTTP/1.1' ? 'HTTP/1.1' : p === 'HTTP/1.0' ? 'HTTP/1.0' : p;
}

/**
 * The request line was parsed (ngx_http_process_request_line's NGX_OK
 * branch): method, version, target, the host of an absolute target.
 * Returns a status when nginx refuses the request here.
 */
export function requestLineDone(r: Request, b: Buffer, st: LineState, lineEnd: number, mergeSlashes: boolean): number | undefined {
  // one string from the buffer; the parts are slices of it (cheaper than a toString() each)
  const line = b.toString('latin1', st.requestStart, st.requestEnd);
  const at = st.requestStart;
  const text = (from: number, to: number): string => line.slice(from - at, to - at);
  r.requestLine = line;
  r.requestLength = lineEnd - st.requestStart;
  r.bare = false;
  r.method = methodName(text(st.requestStart, st.methodEnd + 1));
  r.headerOnly = r.method === 'HEAD';
  r.httpVersion = st.httpMajor * 1000 + st.httpMinor;
  r.protocol = st.protocolStart >= 0 ? protocolName(text(st.protocolStart, st.requestEnd)) : 'HTTP/0.9';
  r.serverProtocol = st.protocolStart >= 0 ? r.protocol : undefined;
  const req = r.req;
  req.method = r.method;
  req.httpVersionMajor = st.httpMajor;
  req.httpVersionMinor = st.httpMinor;
  req.httpVersion = `${st.httpMajor}.${st.httpMinor}`;
  // ngx_http_process_request_uri
  const uriStart = st.uriStart;
  const uriEnd = st.uriEnd;
  if (st.complexUri || st.quotedUri || st.emptyPathInUri) {
    const parsed = parseComplexUri(b, uriStart, uriEnd, st.emptyPathInUri, mergeSlashes);
    if (!parsed) {
      info(r, 'client sent invalid request');
      return 400;
    }
    r.uri = parsed.uri;
    r.hasArgs = parsed.args !== undefined;
    r.args = parsed.args ?? '';
  } else {
    r.uri = text(uriStart, st.argsStart >= 0 ? st.argsStart - 1 : uriEnd);
    r.hasArgs = st.argsStart >= 0;
    r.args = st.argsStart >= 0 && uriEnd > st.argsStart ? text(st.argsStart, uriEnd) : '';
  }
  r.requestUri = text(uriStart, uriEnd);
  req.url = r.requestUri;
  if (st.hostEnd >= 0) {
    const host = validateHost(text(st.hostStart, st.hostEnd));
    if (host === HOST_INVALID) {
      info(r, 'client sent invalid host in request line');
      return 400;
    }
    r.host = host;
    setVirtualServer(r, host);
  }
  if (r.httpVersion < 1000 && !r.serverChosen) setVirtualServer(r, '');
  return undefined;
}

/** One header line (ngx_http_process_request_headers and the ngx_http_headers_in handlers). */
export function headerLineDone(r: Request, name: string, value: string): number | undefined {
  const req = r.req;
  const lname = lowerName(name);
  const raw = req.rawHeaders;
  if (UNIQUE.has(lname)) {
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i].toLowerCase() === lname) {
        raw.push(name, value);
        info(r, `client sent duplicate header line: "${name}: ${value}", previous value: "${raw[i]}: ${raw[i + 1]}"`);
        return 400;
      }
    }
  }
  raw.push(name, value);
  const prev = req.headers[lname];
  if (prev === undefined) req.headers[lname] = value;
  else if (!SINGLE.has(lname)) req.headers[lname] = `${prev}${lname === 'cookie' ? '; ' : ', '}${value}`;
  switch (lname) {
    case 'host': {
      if (r.hostHeader !== undefined) {
        info(r, `client sent duplicate host header: "${name}: ${value}", previous value: "${r.hostHeader[0]}: ${r.hostHeader[1]}"`);
        return 400;
      }
      r.hostHeader = [name, value];
      const host = validateHost(value);
      if (host === HOST_INVALID) {
        info(r, 'client sent invalid host header');
        return 400;
      }
      if (!r.serverChosen) {
        r.host = host;
        setVirtualServer(r, host);
      }
      break;
    }
    case 'connection': {
      const v = value.toLowerCase();
      if (v.includes('close')) r.connectionType = 'close';
      else if (v.includes('keep-alive')) r.connectionType = 'keep-alive';
      break;
    }
    case 'user-agent':
      if (prev === undefined) r.quirks = userAgentQuirks(value);
      break;
  }
  return undefined;
}

/** ngx_http_process_request_header: what the complete head must satisfy. */
export function headersDone(r: Request): number | undefined {
  if (!r.serverChosen) setVirtualServer(r, '');
  if (r.hostHeader === undefined && r.httpVersion > 1000) {
    info(r, 'client sent HTTP/1.1 request without "Host" header');
    return 400;
  }
  const cl = r.req.headers['content-length'] as string | undefined;
  if (cl !== undefined) {
    // ngx_atoof: digits only, no sign, no overflow
    if (!/^[0-9]{1,18}$/.test(cl)) {
      info(r, 'client sent invalid "Content-Length" header');
      return 400;
    }
    r.contentLength = Number(cl);
  }
  const te = r.req.headers['transfer-encoding'] as string | undefined;
  if (te !== undefined) {
    if (r.httpVersion < 1001) {
      info(r, 'client sent HTTP/1.0 request with "Transfer-Encoding" header');
      return 400;
    }
    if (te.toLowerCase() !== 'chunked') {
      info(r, `client sent unknown "Transfer-Encoding": "${te}"`);
      return 501;
    }
    if (r.req.headers['content-length'] !== undefined) {
      info(r, 'client sent "Content-Length" and "Transfer-Encoding" headers at the same time');
      return 400;
    }
    r.chunked = true;
  }
  if (r.method === 'TRACE') {
    info(r, 'client sent TRACE method');
    return 405;
  }
  return undefined;
}

/** ngx_http_handler's start: keep-alive as the client asked, and whether a body is coming. */
export function processRequest(r: Request, closing: boolean): void {
  if (r.connectionType === 'close') r.keepalive = false;
  else if (r.connectionType === 'keep-alive') r.keepalive = true;
  else r.keepalive = r.httpVersion > 1000;
  if (closing) r.keepalive = false;
  r.lingeringClose = r.contentLength > 0 || r.chunked;
}

/** An info line about the request being read, with nginx's context. */
export function info(r: HttpRequest, message: string): void {
  logError(r, 'info', message, (r as Request).action);
}
