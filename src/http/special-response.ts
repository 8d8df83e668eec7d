import type { ErrorPageConf } from './core-module';
import { DONE, type HttpRequest, type Outcome } from './request';
import { errorPageBody, wantsPadding, wireStatus } from './error-pages';
import { internalRedirect, namedLocation } from './find-config';
import { sendHeader } from './header-filter';
import { discardRequestBody } from './request-body';
import { staticLocConf } from './core-static-module';

// ngx_http_special_response.c: how an error or redirect status becomes a
// response — the location's error_page (an internal redirect, a named
// location or a redirect to a URL), else nginx's built-in page.

// codes after which nginx will not read another request on the connection
const CLOSE_ON = new Set([400, 413, 414, 497, 495, 496, 500, 501]);

/** ngx_http_special_response_handler: error_page, else the built-in page. */
export function specialResponse(r: HttpRequest, code: number): Outcome {
  r.errStatus = code;
  if (r.keepalive && CLOSE_ON.has(code)) r.keepalive = false;
  const pages = r.loc?.errorPages;
  if (!r.errorPage && pages && r.uriChanges !== 0) {
    // recursive_error_pages lets the page's own errors have pages (uri_changes still bounds it)
    if (!staticLocConf(r.loc).recursiveErrorPages) r.errorPage = true;
    for (const ep of pages) if (ep.codes.includes(code)) return sendErrorPage(r, ep);
  }
  // no "100 Continue" before an error: the body is only dropped
  if (discardRequestBody(r, true) !== undefined) r.keepalive = false;
  return sendSpecial(r, code);
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** ngx_http_send_error_page. */
function sendErrorPage(r: HttpRequest, ep: ErrorPageConf): Outcome {
  const why = `error_page for ${r.errStatus}`;
  const overwrite = ep.overwrite;
  if (overwrite !== undefined) r.errStatus = overwrite;
  const uri = ep.uri.isStatic ? ep.uri.source : ep.uri.run(r);
  if (uri.startsWith('/')) {
    const q = uri.indexOf('?');
    if (r.method !== 'HEAD') r.method = 'GET';
    return q < 0 ? internalRedirect(r, uri, '', false, why) : internalRedirect(r, uri.slice(0, q), uri.slice(q + 1), true, why);
  }
  if (uri.startsWith('@')) return namedLocation(r, uri, why);
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
