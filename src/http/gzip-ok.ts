import type { HttpRequest } from './request';
import { headerIn } from './core-variables';
import { parseHttpTime } from './not-modified-filter';
import type { CompiledRegex } from '../conf/regex';

// ngx_http_gzip_ok (ngx_http_core_module.c): whether the client may get a
// gzipped body. nginx keeps gzip_vary, gzip_http_version, gzip_proxied and
// gzip_disable in the core module because gzip, gzip_static and gunzip all
// ask this one question; nodinx keeps them in the gzip module's conf and
// lets gzip_static read it from there.

/** gzip_proxied bits, nginx's NGX_HTTP_GZIP_PROXIED_* */
export const PROXIED: Record<string, number> = {
  off: 0x0002, expired: 0x0004, 'no-cache': 0x0008, 'no-store': 0x0010, private: 0x0020,
  no_last_modified: 0x0040, no_etag: 0x0080, auth: 0x0100, any: 0x0200,
};

export interface GzipOkConf {
  vary?: boolean;
  httpVersion?: number;
  proxied?: number;
  disable?: CompiledRegex[];
  disableMsie6?: boolean;
}

/** ngx_http_gzip_quantity: q in hundredths, 0 for a malformed one (nginx adds the digits, "0.5" is 5). */
function quantity(s: string, p: number): number {
  const last = s.length;
  let c = s[p++];
  if (c !== '0' && c !== '1') return 0;
  let q = (c.charCodeAt(0) - 48) * 100;
  if (p === last) return q;
  c = s[p++];
  if (c === ',' || c === ' ') return q;
  if (c !== '.') return 0;
  let n = 0;
  while (p < last) {
    c = s[p++];
    if (c === ',' || c === ' ') break;
    if (c >= '0' && c <= '9') {
      q += c.charCodeAt(0) - 48;
      n++;
      continue;
    }
    return 0;
  }
  return q > 100 || n > 3 ? 0 : q;
}

/** ngx_http_gzip_accept_encoding: a "gzip" token not refused by q=0 (nor by a q nginx cannot read). */
export function acceptsGzip(ae: string): boolean {
  const low = ae.toLowerCase();
  let start = 0;
  let p: number;
  for (;;) {
    p = low.indexOf('gzip', start);
    if (p < 0) return false;
    if (p === start || low[p - 1] === ',' || low[p - 1] === ' ') break;
    start = p + 4;
  }
  p += 4;
  const last = ae.length;
  let state: 'token' | 'quantity' = 'token';
  while (p < last) {
    const c = ae[p++];
    if (state === 'token') {
      if (c === ',') return true;
      if (c === ';') state = 'quantity';
      else if (c !== ' ') return false;
      continue;
    }
    if (c === 'q' || c === 'Q') {
      if (p + 2 > last || ae[p++] !== '=') return false;
      return quantity(ae, p) !== 0;
    }
    if (c !== ' ') return false;
  }
  return true;
}

/** ngx_http_parse_multi_header_lines without a value: the token among comma-separated ones. */
function hasToken(value: string, name: string): boolean {
  const low = value.toLowerCase();
  let start = 0;
  const end = low.length;
  while (start < end) {
    if (low.startsWith(name, start)) {
      let p = start + name.length;
      while (p < end && low[p] === ' ') p++;
      if (p === end || low[p] === ',') return true;
    }
    while (start < end && low[start] !== ',') start++;
    for (start++; start < end && low[start] === ' '; start++);
  }
  return false;
}

function outHeaders(r: HttpRequest, lname: string): string[] {
  return r.out.headers.filter(([k]) => k.toLowerCase() === lname).map(([, v]) => v);
}

/** gzip_proxied for a request that came through a proxy (it has Via). */
function proxiedOk(r: HttpRequest, p: number): boolean {
  if (p & PROXIED.off) return false;
  if (p & PROXIED.any) return true;
  if (headerIn(r, 'authorization') !== undefined && p & PROXIED.auth) return true;
  const expires = outHeaders(r, 'expires')[0];
  if (expires !== undefined) {
    if (!(p & PROXIED.expired)) return false;
    const t = parseHttpTime(expires);
    return t !== -1 && !Number.isNaN(t) && t < Math.floor(Date.now() / 1000);
  }
  const cc = outHeaders(r, 'cache-control');
  if (cc.length > 0) {
    const any = (name: string): boolean => cc.some((v) => hasToken(v, name));
    if (p & PROXIED['no-cache'] && any('no-cache')) return true;
    if (p & PROXIED['no-store'] && any('no-store')) return true;
    if (p & PROXIED.private && any('private')) return true;
    return false;
  }
  // nginx has a Last-Modified header element only when one was set as text (add_header)
  if (p & PROXIED.no_last_modified && outHeaders(r, 'last-modified').length > 0) return false;
  if (p & PROXIED.no_etag && r.out.etag !== undefined) return false;
  return true;
}

function httpVersion(r: HttpRequest): number {
  const req = r.req;
  return req ? req.httpVersionMajor * 1000 + req.httpVersionMinor : 1000;
}

/**
 * ngx_http_gzip_ok, asked once per request: gzip_static asks before the
 * response headers exist and the gzip filter reuses that answer, as nginx's
 * r->gzip_tested does.
 */
export function gzipOk(r: HttpRequest, conf: GzipOkConf): boolean {
  if (r.ctx.gzipTested) return r.ctx.gzipOk === true;
  r.ctx.gzipTested = true;
  const ok = test(r, conf);
  r.ctx.gzipOk = ok;
  return ok;
}

function test(r: HttpRequest, conf: GzipOkConf): boolean {
  const ae = headerIn(r, 'accept-encoding');
  if (ae === undefined || ae.length < 4) return false;
  if (!ae.startsWith('gzip,') && !acceptsGzip(ae)) return false;
  if (r.quirks.msie6 && conf.disableMsie6) return false;
  if (httpVersion(r) < (conf.httpVersion ?? 1001)) return false;
  if (headerIn(r, 'via') !== undefined && !proxiedOk(r, conf.proxied ?? PROXIED.off)) return false;
  const ua = headerIn(r, 'user-agent');
  if (conf.disable && ua !== undefined && conf.disable.some((re) => re.regex.test(ua))) return false;
  return true;
}
