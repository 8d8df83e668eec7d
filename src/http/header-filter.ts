import { DONE, type HttpRequest } from './request';
import { INVALID_NAME, INVALID_VALUE } from './response';
import { serverHeader, statusText } from './error-pages';
import { httpDate, httpDateNow } from './core-variables';
import { notModified } from './not-modified-filter';
import { rangeFilter } from './range-filter';
import { chunkedFilter } from './chunked-filter';
import { primaryServerName, staticLocConf } from './core-static-module';

// ngx_http_header_filter_module: the header filters every response passes,
// then the status line and headers in nginx's order on the wire.

/**
 * Header filters modules add (ngx_http_headers_filter...). nginx chains them
 * between not_modified and range: they see a 304 as such, and a 206 as 200.
 */
export const headerFilters: Array<(r: HttpRequest) => void> = [];

/**
 * ngx_http_send_header: the header filters, then the response head on the
 * wire. Returns DONE, or a status to finalize with instead (412, 416).
 */
export function sendHeader(r: HttpRequest): number {
  if (r.errStatus) r.status = r.errStatus;
  if (r.status === 200) {
    const rc = notModified(r);
    if (rc !== undefined) return rc;
  }
  for (const filter of headerFilters) filter(r);
  if (r.status === 200) {
    const rc = rangeFilter(r);
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
  // the head as ngx_http_header_filter writes it: nginx's own lines need no checks
  const reasonText = reason(r, status);
  let h = `HTTP/1.1 ${status < 100 ? String(status).padStart(3, '0') : status}${reasonText === '' && out.statusLine?.length === 3 ? '' : ' ' + reasonText}\r\n`;
  if (out.server === undefined) h += `Server: ${serverHeader(loc.serverTokens ?? 'on')}\r\n`;
  if (out.date === undefined) h += `Date: ${httpDateNow()}\r\n`;
  if (out.contentType !== undefined) h += headerLine('Content-Type', out.contentType);
  if (out.contentLength >= 0) h += `Content-Length: ${out.contentLength}\r\n`;
  if (out.lastModified !== -1 && (status === 200 || status === 206 || status === 304)) {
    h += `Last-Modified: ${lastModifiedText(out.lastModified)}\r\n`;
  }
  const made = out.location !== undefined && out.location.startsWith('/') && staticLocConf(loc).absoluteRedirect;
  // the absolute form replaces the value, as nginx's header filter does: $sent_http_location logs it
  if (made) h += headerLine('Location', (out.location = absoluteLocation(r, out.location!)));
  const chunked = chunkedFilter(r);
  if (chunked) h += 'Transfer-Encoding: chunked\r\n';
  // a 101 (proxied upgrade) says so, as ngx_http_header_filter does
  h += status === 101 ? 'Connection: upgrade\r\n' : r.keepalive ? 'Connection: keep-alive\r\n' : 'Connection: close\r\n';
  if (r.keepalive && loc.keepaliveHeader) h += `Keep-Alive: timeout=${loc.keepaliveHeader}\r\n`;
  // gzip_vary: set by the gzip filter and gzip_static when the body depends on Accept-Encoding
  if (r.ctx.gzipVary) h += 'Vary: Accept-Encoding\r\n';
  // a full URL (or any, with absolute_redirect off) stays where it was added among the other headers
  if (out.location !== undefined && !made) h += headerLine('Location', out.location);
  // the static module's own, or an upstream's that its parser let through
  if (out.etag !== undefined) h += `ETag: ${out.etag}\r\n`;
  for (const [k, v] of out.headers) h += headerLine(k, v);
  if (out.acceptRanges) h += 'Accept-Ranges: bytes\r\n';
  const res = r.res;
  res.sendDate = false;
  res.statusMessage = reasonText;
  res.setHead(status, h + '\r\n', chunked);
  r.headerSent = true;
  r.headerBytes = res._header?.length ?? 0;
  return DONE;
}

/** A header added by a module or passed from an upstream: dropped when it cannot go on the wire. */
function headerLine(name: string, value: string): string {
  if (name === '' || INVALID_NAME.test(name) || INVALID_VALUE.test(value)) return '';
  return `${name}: ${value}\r\n`;
}

/** The reason phrase: an upstream's own (proxied status_line) while the status is still its, else nginx's. */
function reason(r: HttpRequest, status: number): string {
  const line = r.out.statusLine;
  if (line !== undefined && line.startsWith(String(status))) return line.slice(4);
  return statusText(status);
}

let lastModSec = NaN;
let lastModText = '';

/** Last-Modified text: the same file's time again and again is formatted once. */
function lastModifiedText(sec: number): string {
  if (sec !== lastModSec) {
    lastModText = httpDate(sec);
    lastModSec = sec;
  }
  return lastModText;
}

/**
 * absolute_redirect: "http://host[:port]" before a Location that starts
 * with "/"; the host is the server's primary name, the Host of the request
 * or the address it came to.
 */
function absoluteLocation(r: HttpRequest, location: string): string {
  if (!location.startsWith('/')) return location;
  const conn = r.conn;
  const conf = staticLocConf(r.loc ?? r.server.core.loc);
  const host = conf.serverNameInRedirect ? primaryServerName(r.server) : r.host || conn.localAddr;
  const port = !conf.portInRedirect || conn.localPort === '80' || conn.localPort === '' ? '' : ':' + conn.localPort;
  return `http://${host.includes(':') && !host.startsWith('[') ? '[' + host + ']' : host}${port}${location}`;
}
