import type { HttpRequest } from './request';
import { requestLocConf } from './core-request-module';

// ngx_http_chunked_filter_module's header half: a body whose length is not
// known when the head goes out (an autoindex page) is sent chunked to an
// HTTP/1.1 client if chunked_transfer_encoding allows; otherwise the client
// learns where it ends when the connection closes. Node's response does the
// chunk framing once the head names it.

/** Whether the response goes chunked; clears keepalive when it cannot. */
export function chunkedFilter(r: HttpRequest): boolean {
  const status = r.status;
  if (status === 304 || status === 204 || status < 200 || r.method === 'HEAD') return false;
  if (r.out.contentLength >= 0) return false;
  const req = r.req;
  const http11 = req && (req.httpVersionMajor > 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1));
  if (http11 && r.loc && requestLocConf(r.loc).chunkedTransferEncoding) return true;
  r.keepalive = false;
  // else Node would chunk a body of unknown length itself
  if (r.res) r.res.useChunkedEncodingByDefault = false;
  return false;
}
