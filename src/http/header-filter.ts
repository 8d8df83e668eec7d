import { DONE, type HttpRequest } from './request';
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
  const h: string[] = [];
  if (out.server === undefined) h.push('Server', serverHeader(loc.serverTokens ?? 'on'));
  if (out.date === undefined) h.push('Date', httpDateNow());
  if (out.contentType !== undefined) h.push('Content-Type', out.contentType);
  if (out.contentLength >= 0) h.push('Content-Length', String(out.contentLength));
  if (out.lastModified !== -1 && (status === 200 || status === 206 || status === 304)) {
    h.push('Last-Modified', httpDate(out.lastModified));
  }
  const made = out.location !== undefined && out.location.startsWith('/') && staticLocConf(loc).absoluteRedirect;
  // the absolute form replaces the value, as nginx's header filter does: $sent_http_location logs it
  if (made) h.push('Location', (out.location = absoluteLocation(r, out.location!)));
  if (chunkedFilter(r)) h.push('Transfer-Encoding', 'chunked');
  // a 101 (proxied upgrade) says so, as ngx_http_header_filter does
  h.push('Connection', status === 101 ? 'upgrade' : r.keepalive ? 'keep-alive' : 'close');
  if (r.keepalive && loc.keepaliveHeader) h.push('Keep-Alive', `timeout=${loc.keepaliveHeader}`);
  // gzip_vary: set by the gzip filter and gzip_static when the body depends on Accept-Encoding
  if (r.ctx.gzipVary) h.push('Vary', 'Accept-Encoding');
  // a full URL (or any, with absolute_redirect off) stays where it was added among the other headers
  if (out.location !== undefined && !made) h.push('Location', out.location);
  if (out.etag !== undefined) h.push('ETag', out.etag);
  for (const [k, v] of out.headers) h.push(k, v);
  if (out.acceptRanges) h.push('Accept-Ranges', 'bytes');
  const res = r.res;
  res.sendDate = false;
  // Node puts only 100..999 on a status line; nginx writes "return 0" as "000" (ngx_http_status_line)
  const wire = status < 100 ? 999 : status;
  try {
    res.writeHead(wire, reason(r, status), h);
  } catch (e) {
    // Node refuses a Trailer header on a response it does not chunk; nginx passes what an upstream sent
    const trailers: string[] = [];
    if ((e as { code?: string }).code === 'ERR_HTTP_TRAILER_INVALID') {
      for (let i = h.length - 2; i >= 0; i -= 2) if (h[i].toLowerCase() === 'trailer') trailers.unshift(...h.splice(i, 2));
    } else {
      // a value Node refuses (a control character): drop the offending headers
      for (let i = h.length - 1; i > 0; i -= 2) if (/[^\t\x20-\x7e\x80-\xff]/.test(h[i])) h.splice(i - 1, 2);
    }
    res.writeHead(wire, reason(r, status), h);
    if (trailers.length) {
      const head = res as unknown as { _header: string };
      let extra = '';
      for (let i = 0; i < trailers.length; i += 2) extra += `${trailers[i]}: ${trailers[i + 1]}\r\n`;
      head._header = head._header.slice(0, -2) + extra + '\r\n';
    }
  }
  if (wire !== status) {
    const head = res as unknown as { _header: string };
    head._header = head._header.replace(/^(HTTP\/1\.[01]) 999 /, `$1 ${String(status).padStart(3, '0')} `);
  }
  if (r.out.statusLine !== undefined && r.out.statusLine.length === 3 && reason(r, status) === '') {
    // an upstream's "HTTP/1.1 299" without a reason phrase is passed as such
    const head = res as unknown as { _header: string };
    head._header = head._header.replace(/^(HTTP\/1\.[01] \d{3}) \r\n/, '$1\r\n');
  }
  r.headerSent = true;
  r.headerBytes = Buffer.byteLength((res as unknown as { _header: string })._header ?? '', 'latin1');
  return DONE;
}

/** The reason phrase: an upstream's own (proxied status_line) while the status is still its, else nginx's. */
function reason(r: HttpRequest, status: number): string {
  const line = r.out.statusLine;
  if (line !== undefined && line.startsWith(String(status))) return line.slice(4);
  return statusText(status);
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
