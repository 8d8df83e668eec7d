import type { LogLevel } from '../conf/errors';
import type { ErrorLogSpec } from '../conf/core';
import type { Cycle } from '../conf/load';
import { ErrorLog } from '../process/error-log';
import type { ErrorPageConf, HttpMainConf, LocationConf } from './core-module';
import { LOG, type LogLocConf } from './log-module';
import { findLocation, Found } from './location-tree';
import type { HttpRequest } from './request';
import { AccessLogs } from './access-log';
import { errorPageBody, serverHeader, statusText, wantsPadding, wireStatus } from './error-pages';
import { headerIn, httpDate, httpDateNow } from './core-variables';
import { staticContent } from './static-module';

// The request's way through nginx's phases (ngx_http_core_run_phases):
// find the location, let modules act, produce content, and finalize — with
// special responses, error_page, internal redirects and named locations —
// plus the header filters every response passes (not modified, range,
// ngx_http_header_filter).

/** The handler started (or finished) the response itself. */
export const DONE = 0;

/** What a phase handler returns: undefined to go on, a status, or a redirect. */
export type Outcome = number | Redirect | undefined;

export type Redirect =
  /** internal redirect: the phases again from the server rewrite phase */
  | { kind: 'uri' }
  /** to a named location: from the rewrite phase, in that location */
  | { kind: 'named'; loc: LocationConf }
  /** the URI changed in the rewrite phase: search the location again */
  | { kind: 'find' };

export type PhaseHandler = (r: HttpRequest) => Outcome | Promise<Outcome>;

/** Handlers other modules add, per phase, run in order. */
export const phaseHandlers = {
  serverRewrite: [] as PhaseHandler[],
  rewrite: [] as PhaseHandler[],
  preaccess: [] as PhaseHandler[],
  access: [] as PhaseHandler[],
  precontent: [] as PhaseHandler[],
};

const contentHandlers = new WeakMap<LocationConf, PhaseHandler>();

/** A module that answers a location itself (proxy_pass, return...) sets its handler. */
export function setContentHandler(loc: LocationConf, handler: PhaseHandler): void {
  contentHandlers.set(loc, handler);
}

const MAX_URI_CHANGES = 10;
export const URI_CHANGES = MAX_URI_CHANGES + 1;

/** What requests of one cycle share: its config and its logs. */
export class HttpContext {
  readonly main: HttpMainConf;
  readonly prefix: string;
  readonly accessLogs: AccessLogs;
  private readonly errorLogs = new Map<ErrorLogSpec[], ErrorLog>();

  constructor(readonly cycle: Cycle, readonly errorLog: ErrorLog) {
    this.main = cycle.http!;
    this.prefix = cycle.prefix;
    this.accessLogs = new AccessLogs((message) => this.errorLog.log('alert', message));
  }

  /** The error log of a location (`error_log` inside http), else the main one. */
  errorLogFor(specs: ErrorLogSpec[] | undefined): ErrorLog {
    if (!specs || specs.length === 0) return this.errorLog;
    let log = this.errorLogs.get(specs);
    if (!log) {
      log = new ErrorLog();
      try {
        log.open(specs);
      } catch (e) {
        this.errorLog.log('alert', `could not open error log: ${(e as Error).message}`);
        log = this.errorLog;
      }
      this.errorLogs.set(specs, log);
    }
    return log;
  }

  reopen(): void {
    this.accessLogs.reopen();
    for (const log of this.errorLogs.values()) if (log !== this.errorLog) log.reopen();
  }

  close(): void {
    this.accessLogs.close();
    for (const log of this.errorLogs.values()) if (log !== this.errorLog) log.close();
    this.errorLogs.clear();
  }
}

/** ngx_http_log_error: the message, then client, server, request, host. */
export function logError(r: HttpRequest, level: LogLevel, message: string, action?: string): void {
  const log = r.conn.ctx.errorLogFor(r.loc?.errorLogs);
  let line = `*${r.conn.id} ${message}`;
  if (action) line += ` while ${action}`;
  line += `, client: ${r.conn.remoteAddr}, server: ${r.server?.core.names[0]?.name ?? ''}`;
  if (r.requestLine) line += `, request: "${r.requestLine}"`;
  const host = headerIn(r, 'host');
  if (host !== undefined) line += `, host: "${host}"`;
  const referer = headerIn(r, 'referer');
  if (referer !== undefined) line += `, referrer: "${referer}"`;
  log.log(level, /[\x80-\xff]/.test(line) ? Buffer.from(line, 'latin1').toString('utf8') : line);
}

/** ngx_http_internal_redirect: a new URI, the phases again. */
export function internalRedirect(r: HttpRequest, uri: string, args: string, hasArgs: boolean): Outcome {
  if (--r.uriChanges === 0) {
    logError(r, 'error', `rewrite or internal redirection cycle while internally redirecting to "${uri}"`);
    return 500;
  }
  r.uri = uri;
  r.args = args;
  r.hasArgs = hasArgs;
  r.internal = true;
  r.filename = undefined;
  return { kind: 'uri' };
}

/** ngx_http_named_location. */
export function namedLocation(r: HttpRequest, name: string): Outcome {
  const loc = r.server.core.named.get(name);
  if (!loc) {
    logError(r, 'error', `could not find named location "${name}"`);
    return 500;
  }
  if (--r.uriChanges === 0) {
    logError(r, 'error', `rewrite or internal redirection cycle while redirect to named location "${name}"`);
    return 500;
  }
  r.internal = true;
  r.filename = undefined;
  return { kind: 'named', loc };
}

const HEX = '0123456789ABCDEF';

/** ngx_escape_uri(NGX_ESCAPE_URI): space, #, %, ?, controls and non-ASCII. */
export function escapeUri(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x23 || c === 0x25 || c === 0x3f || c >= 0x7f) out += '%' + HEX[c >> 4] + HEX[c & 0xf];
    else out += s[i];
  }
  return out;
}

/** ngx_http_core_find_config_phase. */
function findConfig(r: HttpRequest): Outcome {
  const srvLoc = r.server.core.loc!;
  const found = findLocation(srvLoc, r.uri);
  r.loc = found.loc ?? srvLoc;
  if (found.captures) {
    r.captures = found.captures;
    if (found.groups) setNamedCaptures(r, found.groups);
  }
  const loc = r.loc;
  if (!r.internal && loc.internal) return 404;
  updateLocationConfig(r);
  const max = loc.clientMaxBodySize ?? 1024 * 1024;
  if (r.contentLength > 0 && max > 0 && max < r.contentLength) {
    logError(r, 'error', `client intended to send too large body: ${r.contentLength} bytes`);
    return 413;
  }
  if (found.found === Found.Redirect) {
    r.out.location = escapeUri(loc.name) + (r.args !== '' ? '?' + r.args : '');
    return 301;
  }
  return undefined;
}

export function setNamedCaptures(r: HttpRequest, groups: Record<string, string | undefined>): void {
  const index = r.conn.ctx.main.variables.userIndex;
  for (const [name, value] of Object.entries(groups)) {
    const i = index.get(name);
    if (i !== undefined) r.vars[i] = value ?? '';
  }
}

/** ngx_http_update_location_config: what the location says about keep-alive. */
function updateLocationConfig(r: HttpRequest): void {
  if (!r.keepalive) return;
  const loc = r.loc;
  if (loc.keepaliveTimeout === 0) r.keepalive = false;
  else if (r.conn.requests >= (loc.keepaliveRequests ?? 1000)) r.keepalive = false;
  else if (Date.now() - r.conn.startMs > 3600000) r.keepalive = false;
  else if (r.quirks.msie6 && r.method === 'POST') r.keepalive = false;
  else if (r.quirks.safari) r.keepalive = false;
}

async function runHandlers(list: PhaseHandler[], r: HttpRequest): Promise<Outcome> {
  for (const h of list) {
    const rc = await h(r);
    if (rc !== undefined) return rc;
  }
  return undefined;
}

type Start = 'server-rewrite' | 'find-config' | 'rewrite';

async function phases(r: HttpRequest, start: Start): Promise<Outcome> {
  let rc: Outcome;
  if (start === 'server-rewrite') {
    r.loc = r.server.core.loc!;
    rc = await runHandlers(phaseHandlers.serverRewrite, r);
    if (rc !== undefined) return rc;
  }
  for (;;) {
    if (start !== 'rewrite') {
      rc = findConfig(r);
      if (rc !== undefined) return rc;
    }
    start = 'find-config';
    rc = await runHandlers(phaseHandlers.rewrite, r);
    if (rc === undefined) break;
    if (typeof rc === 'object' && rc.kind === 'find') {
      if (--r.uriChanges === 0) {
        logError(r, 'error', `rewrite or internal redirection cycle while processing "${r.uri}"`);
        return 500;
      }
      continue;
    }
    return rc;
  }
  rc = await runHandlers(phaseHandlers.preaccess, r);
  if (rc !== undefined) return rc;
  rc = await runHandlers(phaseHandlers.access, r);
  if (rc !== undefined) return rc;
  rc = await runHandlers(phaseHandlers.precontent, r);
  if (rc !== undefined) return rc;
  const content = contentHandlers.get(r.loc);
  return content ? content(r) : staticContent(r);
}

/** Runs a request to its end: phases, redirects, special responses. */
export async function runRequest(r: HttpRequest, first?: number): Promise<void> {
  let rc: Outcome;
  try {
    rc = first !== undefined ? first : await phases(r, 'server-rewrite');
    for (let guard = 0; guard < 100; guard++) {
      if (rc === undefined || rc === DONE) break;
      if (typeof rc === 'object') {
        rc = rc.kind === 'named' ? ((r.loc = rc.loc), await phases(r, 'rewrite')) : await phases(r, 'server-rewrite');
        continue;
      }
      rc = finalize(r, rc);
    }
    if (rc === undefined && !r.headerSent) {
      // every handler declined: ngx_http_core_content_phase's last word
      logError(r, 'error', 'no handler found');
      rc = finalize(r, 404);
      if (rc !== DONE && rc !== undefined && typeof rc === 'number') finalize(r, 500);
    }
  } catch (e) {
    logError(r, 'alert', `internal error: ${(e as Error).stack ?? e}`);
    if (!r.headerSent) {
      try {
        sendSpecial(r, 500);
      } catch {
        r.res.destroy();
      }
    } else r.res.destroy();
  }
}

/** ngx_http_finalize_request for a status code. */
export function finalize(r: HttpRequest, rc: number): Outcome {
  if (r.clientGone) {
    r.status ||= 499;
    return DONE;
  }
  if (r.headerSent) {
    if (!r.res.writableEnded) r.res.destroy();
    return DONE;
  }
  if (rc === 444 || rc === 499 || rc === 408) {
    r.status = rc;
    r.keepalive = false;
    r.res.destroy();
    r.conn.socket.destroy();
    return DONE;
  }
  if (rc >= 300 || rc === 201 || rc === 204) return specialResponse(r, rc);
  // a bare 2xx from a handler that sent nothing: a header-only answer
  r.status = rc;
  r.out.contentLength = 0;
  sendHeader(r);
  r.res.end();
  return DONE;
}

const CLOSE_ON = new Set([400, 413, 414, 497, 495, 496, 500, 501]);

/** ngx_http_special_response_handler: error_page, else the built-in page. */
export function specialResponse(r: HttpRequest, code: number): Outcome {
  r.errStatus = code;
  if (r.keepalive && CLOSE_ON.has(code)) r.keepalive = false;
  const pages = r.loc?.errorPages;
  if (!r.errorPage && pages && r.uriChanges !== 0) {
    r.errorPage = true;
    for (const ep of pages) if (ep.codes.includes(code)) return sendErrorPage(r, ep);
  }
  return sendSpecial(r, code);
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const toBytes = (s: string): string => (/[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s);

/** ngx_http_send_error_page. */
function sendErrorPage(r: HttpRequest, ep: ErrorPageConf): Outcome {
  const overwrite = ep.overwrite;
  if (overwrite !== undefined) r.errStatus = overwrite;
  const uri = toBytes(ep.uri.isStatic ? ep.uri.source : ep.uri.run(r));
  if (uri.startsWith('/')) {
    const q = uri.indexOf('?');
    if (r.method !== 'HEAD') r.method = 'GET';
    return q < 0 ? internalRedirect(r, uri, '', false) : internalRedirect(r, uri.slice(0, q), uri.slice(q + 1), true);
  }
  if (uri.startsWith('@')) return namedLocation(r, uri);
  if (overwrite === undefined || !REDIRECTS.has(overwrite)) r.errStatus = 302;
  r.out.location = uri;
  return sendSpecial(r, r.errStatus);
}

/** ngx_http_send_special_response: nginx's page for the code, or no body. */
export function sendSpecial(r: HttpRequest, code: number): Outcome {
  const loc = r.loc ?? r.server?.core.loc;
  const tokens = loc?.serverTokens ?? 'on';
  const body = errorPageBody(code, tokens, wantsPadding(code, r.quirks) && r.protocol !== 'HTTP/0.9');
  r.errStatus = wireStatus(code);
  r.out.contentType = body ? 'text/html' : undefined;
  r.out.contentLength = body ? body.length : 0;
  r.out.acceptRanges = false;
  r.out.lastModified = -1;
  r.out.etag = undefined;
  r.ctx.ranges = undefined;
  sendHeader(r);
  if (body && !r.headerOnly) {
    r.bodyBytesSent += body.length;
    r.res.end(body);
  } else r.res.end();
  return DONE;
}

/** Parses an HTTP date as ngx_parse_http_time (RFC 1123, 850 and asctime); NaN if invalid. */
export function parseHttpTime(s: string): number {
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? NaN : Math.floor(ms / 1000);
}

function matchEtag(r: HttpRequest, header: string, weak: boolean): boolean {
  let etag = r.out.etag;
  if (etag === undefined) return false;
  if (header.trim() === '*') return true;
  if (weak && etag.startsWith('W/')) etag = etag.slice(2);
  for (let item of header.split(',')) {
    item = item.trim();
    if (weak && item.startsWith('W/')) item = item.slice(2);
    if (item === etag) return true;
  }
  return false;
}

/** ngx_http_not_modified_filter: 304 and 412 for conditional requests. */
function notModified(r: HttpRequest): number | undefined {
  // nginx closes the connection after these 412s, though the answer says keep-alive
  const ius = headerIn(r, 'if-unmodified-since');
  if (ius !== undefined) {
    const t = parseHttpTime(ius);
    if (r.out.lastModified === -1 || !(t >= r.out.lastModified)) return (r.closeAfter = true), 412;
  }
  const im = headerIn(r, 'if-match');
  if (im !== undefined && !matchEtag(r, im, false)) return (r.closeAfter = true), 412;
  const ims = headerIn(r, 'if-modified-since');
  const inm = headerIn(r, 'if-none-match');
  if (ims === undefined && inm === undefined) return undefined;
  if (ims !== undefined) {
    // if_modified_since exact (the default)
    if (r.out.lastModified === -1 || parseHttpTime(ims) !== r.out.lastModified) return undefined;
  }
  if (inm !== undefined && !matchEtag(r, inm, true)) return undefined;
  r.status = 304;
  r.out.contentType = undefined;
  r.out.contentLength = -1;
  r.out.acceptRanges = false;
  return undefined;
}

let boundarySeq = 0;

/** ngx_http_range_header_filter: 206 single or multipart, 416, else Accept-Ranges. */
function rangeFilter(r: HttpRequest): number | undefined {
  const out = r.out;
  if (r.status !== 200 || out.contentLength < 0 || !out.allowRanges) return undefined;
  const range = headerIn(r, 'range');
  out.acceptRanges = true;
  if (range === undefined || range.length < 7 || range.slice(0, 6).toLowerCase() !== 'bytes=') return undefined;
  const ifRange = headerIn(r, 'if-range');
  if (ifRange !== undefined) {
    if (ifRange.length >= 2 && ifRange.endsWith('"')) {
      if (out.etag === undefined || ifRange !== out.etag) return undefined;
    } else if (out.lastModified === -1 || parseHttpTime(ifRange) !== out.lastModified) return undefined;
  }
  const size = out.contentLength;
  const parsed = parseRanges(range.slice(6), size);
  if (parsed === 'declined') return undefined;
  if (parsed === 'unsatisfiable') {
    out.acceptRanges = false;
    out.headers.push(['Content-Range', `bytes */${size}`]);
    return 416;
  }
  out.acceptRanges = false;
  r.status = 206;
  r.ctx.ranges = parsed;
  if (parsed.length === 1) {
    const [s, e] = parsed[0];
    out.headers.push(['Content-Range', `bytes ${s}-${e - 1}/${size}`]);
    out.contentLength = e - s;
    return undefined;
  }
  const boundary = String(++boundarySeq).padStart(20, '0');
  const type = out.contentType ?? '';
  const heads = parsed.map(([s, e]) => `\r\n--${boundary}\r\n${type ? `Content-Type: ${type}\r\n` : ''}Content-Range: bytes ${s}-${e - 1}/${size}\r\n\r\n`);
  const tail = `\r\n--${boundary}--\r\n`;
  r.ctx.multipart = { heads, tail };
  out.contentType = `multipart/byteranges; boundary=${boundary}`;
  out.contentLength = heads.reduce((n, h, i) => n + h.length + parsed[i][1] - parsed[i][0], tail.length);
  return undefined;
}

/** ngx_http_range_parse: [start, end) pairs. */
export function parseRanges(spec: string, size: number): Array<[number, number]> | 'declined' | 'unsatisfiable' {
  const out: Array<[number, number]> = [];
  let p = 0;
  let total = 0;
  const digit = (): boolean => spec[p] >= '0' && spec[p] <= '9';
  const skip = (): void => {
    while (spec[p] === ' ') p++;
  };
  for (;;) {
    let start = 0;
    let end = 0;
    let suffix = false;
    let found = false;
    skip();
    if (spec[p] !== '-') {
      if (!digit()) return 'unsatisfiable';
      while (digit()) start = start * 10 + (spec.charCodeAt(p++) - 48);
      if (start > Number.MAX_SAFE_INTEGER) return 'unsatisfiable';
      skip();
      if (spec[p++] !== '-') return 'unsatisfiable';
      skip();
      if (spec[p] === ',' || p >= spec.length) {
        end = size;
        found = true;
      }
    } else {
      suffix = true;
      p++;
    }
    if (!found) {
      if (!digit()) return 'unsatisfiable';
      while (digit()) end = end * 10 + (spec.charCodeAt(p++) - 48);
      if (end > Number.MAX_SAFE_INTEGER) return 'unsatisfiable';
      skip();
      if (spec[p] !== ',' && p < spec.length) return 'unsatisfiable';
      if (suffix) {
        start = end < size ? size - end : 0;
        end = size - 1;
      }
      end = end >= size ? size : end + 1;
    }
    if (start < end) {
      out.push([start, end]);
      total += end - start;
    } else if (start === 0) {
      return 'declined';
    }
    if (spec[p++] !== ',') break;
  }
  if (out.length === 0) return 'unsatisfiable';
  if (total > size) return 'declined';
  return out;
}

/**
 * ngx_http_send_header: the header filters, then the response head on the
 * wire. Returns DONE, or a status to finalize with instead (412, 416).
 */
export function sendHeader(r: HttpRequest): number {
  if (r.errStatus) r.status = r.errStatus;
  if (r.status === 200) {
    const rc = notModified(r) ?? rangeFilter(r);
    if (rc !== undefined) return rc;
  }
  const out = r.out;
  const status = r.status;
  if (status === 304 || status === 204) r.headerOnly = true;
  if (status === 204) {
    out.contentType = undefined;
    out.lastModified = -1;
    out.contentLength = -1;
  }
  const loc = r.loc ?? r.server.core.loc!;
  const h: string[] = ['Server', serverHeader(loc.serverTokens ?? 'on'), 'Date', httpDateNow()];
  if (out.contentType !== undefined) h.push('Content-Type', out.contentType);
  if (out.contentLength >= 0) h.push('Content-Length', String(out.contentLength));
  if (out.lastModified !== -1 && (status === 200 || status === 206 || status === 304)) {
    h.push('Last-Modified', httpDate(out.lastModified));
  }
  const relative = out.location !== undefined && out.location.startsWith('/');
  if (relative) h.push('Location', absoluteLocation(r, out.location!));
  h.push('Connection', r.keepalive ? 'keep-alive' : 'close');
  if (r.keepalive && loc.keepaliveHeader) h.push('Keep-Alive', `timeout=${loc.keepaliveHeader}`);
  // a full URL stays where it was added among the other headers
  if (out.location !== undefined && !relative) h.push('Location', out.location);
  if (out.etag !== undefined) h.push('ETag', out.etag);
  for (const [k, v] of out.headers) h.push(k, v);
  if (out.acceptRanges) h.push('Accept-Ranges', 'bytes');
  const res = r.res;
  res.sendDate = false;
  try {
    res.writeHead(status, statusText(status), h);
  } catch {
    // a value Node refuses (a control character): drop the offending headers
    for (let i = h.length - 1; i > 0; i -= 2) if (/[^\t\x20-\x7e\x80-\xff]/.test(h[i])) h.splice(i - 1, 2);
    res.writeHead(status, statusText(status), h);
  }
  r.headerSent = true;
  r.headerBytes = Buffer.byteLength((res as unknown as { _header: string })._header ?? '', 'latin1');
  return DONE;
}

/** absolute_redirect: "http://host[:port]" before a Location that starts with "/". */
function absoluteLocation(r: HttpRequest, location: string): string {
  if (!location.startsWith('/')) return location;
  const conn = r.conn;
  const host = r.host || conn.localAddr;
  const port = conn.localPort === '80' || conn.localPort === '' ? '' : ':' + conn.localPort;
  return `http://${host.includes(':') && !host.startsWith('[') ? '[' + host + ']' : host}${port}${location}`;
}

/** ngx_http_log_request: the access logs of the final location. */
export function logRequest(r: HttpRequest): void {
  const loc = r.loc ?? r.server?.core.loc;
  if (!loc) return;
  const conf = loc.confs[LOG] as LogLocConf | undefined;
  if (!conf?.logs || conf.off) return;
  r.conn.ctx.accessLogs.log(r, conf.logs);
}
