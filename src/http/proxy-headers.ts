import type { HttpRequest } from './request';
import type { ProxyLocConf } from './proxy-module';
import { rewriteUpstreamHeaderRc } from './proxy-redirect';

// ngx_http_upstream_process_headers with the copy handlers of
// ngx_http_upstream_headers_in: which upstream headers reach the client
// and where they land in r->headers_out. Hidden ones (Date, Server, X-Pad,
// X-Accel-* and proxy_hide_header's) are dropped; Connection, Keep-Alive
// and Transfer-Encoding belong to the hop; Location, Refresh and
// Set-Cookie pass through proxy_redirect/proxy_cookie_* when configured.

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding']);

export function processHeaders(
  r: HttpRequest, conf: ProxyLocConf, headers: Array<[string, string, string?]>, hs: { contentLength: number }, statusText: string,
): void {
  const out = r.out;
  out.headers = [];
  out.contentType = undefined;
  out.location = undefined;
  out.etag = undefined;
  out.lastModified = -1;
  out.contentLength = hs.contentLength;
  out.statusLine = statusText;
  const hide = conf.hide;
  for (const [name, value0, lower] of headers) {
    const l = lower ?? name.toLowerCase();
    if (hide.has(l) || HOP.has(l)) continue;
    let value = value0;
    switch (l) {
      case 'content-length':
        continue;
      case 'content-type':
        out.contentType = value;
        continue;
      case 'location':
      case 'refresh':
      case 'set-cookie': {
        const rc = rewriteUpstreamHeaderRc(r, l, value);
        value = rc.value;
        // only a Location proxy_redirect rewrote becomes nginx's headers_out.location; a relative one is then made absolute
        if (l === 'location' && rc.rewritten && value.startsWith('/') && out.location === undefined) {
          out.location = value;
          continue;
        }
        break;
      }
      case 'server':
        out.server = value;
        break;
      case 'date':
        out.date = value;
        break;
      case 'content-encoding':
        r.ctx.contentEncoding = true;
        break;
    }
    out.headers.push([name, value]);
  }
}
