import type { HttpRequest } from './request';
import { headerIn } from './core-variables';
import { staticLocConf } from './core-static-module';

// ngx_http_not_modified_filter_module: a 200 answer to a conditional request
// (If-Modified-Since, If-None-Match, If-Unmodified-Since, If-Match) turns
// into a 304 or a 412 before its head is written.

/** Parses an HTTP date as ngx_parse_http_time (RFC 1123, 850 and asctime); NaN if invalid. */
export function parseHttpTime(s: string): number {
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? NaN : Math.floor(ms / 1000);
}

function matchEtag(r: HttpRequest, header: string, weak: boolean): boolean {
  // "*" matches any answer, one without an ETag (etag off) too
  if (header === '*') return true;
  let etag = r.out.etag;
  if (etag === undefined) return false;
  if (weak && etag.startsWith('W/')) etag = etag.slice(2);
  for (let item of header.split(',')) {
    item = item.trim();
    if (weak && item.startsWith('W/')) item = item.slice(2);
    if (item === etag) return true;
  }
  return false;
}

/** ngx_http_test_if_modified: whether the answer counts as modified since the date. */
function modifiedSince(r: HttpRequest, ims: string): boolean {
  const mode = staticLocConf(r.loc ?? r.server?.core.loc).ifModifiedSince;
  if (r.out.lastModified === -1 || mode === 'off') return true;
  // an invalid date is nginx's -1: before any file's time
  const t = parseHttpTime(ims);
  if (t === r.out.lastModified) return false;
  return mode === 'exact' || Number.isNaN(t) || t < r.out.lastModified;
}

/** ngx_http_not_modified_filter: 304 and 412 for conditional requests. */
export function notModified(r: HttpRequest): number | undefined {
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
  if (ims !== undefined && modifiedSince(r, ims)) return undefined;
  if (inm !== undefined && !matchEtag(r, inm, true)) return undefined;
  r.status = 304;
  r.out.contentType = undefined;
  r.out.contentLength = -1;
  r.out.acceptRanges = false;
  return undefined;
}
