import type { HttpRequest } from './request';
import type { ProxyLocConf, ProxyPass } from './proxy-module';
import { PROXY } from './proxy-flags';
import type { ProxyVars } from './proxy-url';
import { upstreamInfo } from './upstream-variables';
import { lowerName } from './request-line';

// ngx_http_proxy_create_request: the request line and headers sent to the
// upstream. The URI follows nginx's three cases: proxy_pass with variables
// and a URI sends that URI; no URI part and an untouched request sends the
// request's own bytes ($request_uri); otherwise the URI part replaces the
// matched location prefix of the (normalised, maybe rewritten) URI.

/** The proxy conf that applies: an `if` block without proxy_pass keeps its location's (ngx_http_proxy_merge_loc_conf). */
export function proxyConf(r: HttpRequest): { conf: ProxyLocConf; pass: ProxyPass | undefined } {
  const conf = r.loc.confs[PROXY] as ProxyLocConf;
  let pass = conf.pass;
  if (!pass && r.loc.noname && r.loc.parent) pass = (r.loc.parent.confs[PROXY] as ProxyLocConf).pass;
  return { conf, pass };
}

const HEX = '0123456789ABCDEF';

/** ngx_escape_uri(NGX_ESCAPE_URI) as nginx 1.22 has it: controls, space, '"', '#', '%', '<', '>', '?', and bytes above 0x7e */
function escapeUri(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x22 || c === 0x23 || c === 0x25 || c === 0x3c || c === 0x3e || c === 0x3f || c >= 0x7f) {
      out += '%' + HEX[c >> 4] + HEX[c & 0xf];
    } else out += s[i];
  }
  return out;
}

/** r->valid_unparsed_uri: the URI is still the one the client sent */
function validUnparsedUri(r: HttpRequest): boolean {
  return !r.internal && !r.argsFound && !r.requestUri.includes(' ');
}

/** The URI sent upstream, or undefined: "zero length URI to proxy". */
export function proxyUri(r: HttpRequest, pass: ProxyPass, vars: ProxyVars): string | undefined {
  if (pass.variables && vars.uri) return vars.uri;
  if (!vars.uri && validUnparsedUri(r)) return r.requestUri || undefined;
  const validLocation = !r.ctx.invalidLocation;
  const locLen = validLocation && vars.uri ? pass.location.length : 0;
  let rest = r.uri.slice(locLen);
  const quoted = r.requestUri.includes('%') || r.requestUri.includes(' ');
  if (quoted || r.internal) rest = escapeUri(rest);
  const uri = (validLocation ? vars.uri : '') + rest + (r.args.length > 0 ? '?' + r.args : '');
  return uri === '' ? undefined : uri;
}

/** The headers in nginx's order: the merged proxy_set_header list, then the client's not named there. */
export function proxyHeaders(r: HttpRequest, conf: ProxyLocConf): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const h of conf.headers) {
    if (h.empty) continue;
    const v = h.value.run(r);
    if (v !== '') out.push([h.name, v]);
  }
  if (conf.passRequestHeaders) {
    const raw = r.req.rawHeaders;
    const n = Math.min(raw.length, r.headerLimit);
    const hash = conf.headersHash;
    for (let i = 0; i < n; i += 2) if (!hash.has(lowerName(raw[i]))) out.push([raw[i], raw[i + 1]]);
  }
  return out;
}

/** The method: proxy_method, else the client's. */
export function proxyMethod(r: HttpRequest, conf: ProxyLocConf): string {
  return conf.method ? conf.method.run(r) : r.method;
}

/** The request head as bytes-in-a-string (latin1). */
export function createRequest(r: HttpRequest, conf: ProxyLocConf, method: string, uri: string): string {
  let head = `${method} ${uri} ${conf.httpVersion === 1001 ? 'HTTP/1.1' : 'HTTP/1.0'}\r\n`;
  for (const h of conf.headers) {
    if (h.empty) continue;
    const v = h.value.run(r);
    if (v !== '') head += `${h.name}: ${v}\r\n`;
  }
  if (conf.passRequestHeaders) {
    const raw = r.req.rawHeaders;
    const n = Math.min(raw.length, r.headerLimit);
    const hash = conf.headersHash;
    for (let i = 0; i < n; i += 2) if (!hash.has(lowerName(raw[i]))) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return head + '\r\n';
}

/**
 * For `nodinx explain`: what a request that reached proxy_pass would send,
 * without connecting (the URI and the header list, after proxy_pass's
 * variables are resolved).
 */
export function explainProxy(r: HttpRequest, vars: ProxyVars): { method: string; uri: string | undefined; headers: Array<[string, string]> } | undefined {
  const { conf, pass } = proxyConf(r);
  if (!pass) return undefined;
  const info = (r.ctx.upstream ??= { states: [] }) as NonNullable<ReturnType<typeof upstreamInfo>>;
  info.hostHeader = vars.hostHeader;
  info.port = vars.port;
  info.bodyLength = conf.body ? Buffer.byteLength(conf.body.run(r), 'latin1') : r.contentLength;
  return { method: proxyMethod(r, conf), uri: proxyUri(r, pass, vars), headers: proxyHeaders(r, conf) };
}
