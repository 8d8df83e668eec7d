import type { Variables } from './variables';
import type { HttpRequest } from './request';
import { msecText } from './core-variables';

// ngx_http_upstream.c's variables: one entry per try in r->upstream_states,
// ", " between tries of one upstream, " : " where the request went on to
// another upstream (an X-Accel-Redirect or error_page to another proxied
// location); the proxy module's own $proxy_* variables.

/** ngx_http_upstream_state_t: what one try did; `sep` marks a new upstream. */
export interface UpstreamState {
  sep?: boolean;
  peer?: string;
  status: number;
  /** ms, -1 while unknown */
  responseTime: number;
  connectTime: number;
  headerTime: number;
  responseLength: number;
  bytesReceived: number;
  bytesSent: number;
}

/** What the proxy keeps per request for variables and log lines. */
export interface UpstreamInfo {
  states: UpstreamState[];
  /** the last upstream's response headers, as received */
  headersIn?: Array<[string, string, string?]>;
  /** $proxy_host, $proxy_port */
  hostHeader?: string;
  port?: string;
  /** internal body length (-1: none) and chunked, for the default headers */
  bodyLength?: number;
  chunked?: boolean;
  /** `upstream: "..."` in error-log lines: schema + peer + uri */
  logText?: string;
}

export const upstreamInfo = (r: HttpRequest): UpstreamInfo | undefined => r.ctx.upstream as UpstreamInfo | undefined;

export function newState(info: UpstreamInfo): UpstreamState {
  const s: UpstreamState = { status: 0, responseTime: -1, connectTime: -1, headerTime: -1, responseLength: 0, bytesReceived: 0, bytesSent: 0 };
  info.states.push(s);
  return s;
}

function list(r: HttpRequest, field: (s: UpstreamState) => string): string | undefined {
  const states = upstreamInfo(r)?.states;
  if (!states || states.length === 0) return undefined;
  let out = '';
  for (let i = 0; i < states.length; i++) {
    const s = states[i];
    if (s.sep) {
      out += ' : ';
      continue;
    }
    if (i > 0 && !states[i - 1].sep) out += ', ';
    out += field(s);
  }
  return out;
}

const time = (ms: number): string => (ms < 0 ? '-' : msecText(ms));

/** ngx_http_variable_unknown_header over the upstream's headers: the first of that name */
function upstreamHeader(r: HttpRequest, name: string): string | undefined {
  const h = upstreamInfo(r)?.headersIn;
  if (!h) return undefined;
  const lname = name.slice('upstream_http_'.length).replace(/_/g, '-');
  for (const [k, v] of h) if (k.length === lname.length && k.toLowerCase() === lname) return v;
  return undefined;
}

/** ngx_http_parse_set_cookie_lines: the value of cookie NAME in the upstream's Set-Cookie lines */
function upstreamCookie(r: HttpRequest, name: string): string | undefined {
  const h = upstreamInfo(r)?.headersIn;
  if (!h) return undefined;
  const cookie = name.slice('upstream_cookie_'.length);
  for (const [k, v] of h) {
    if (k.toLowerCase() !== 'set-cookie') continue;
    const eq = v.indexOf('=');
    if (eq < 0) continue;
    if (v.slice(0, eq).trim().toLowerCase() !== cookie) continue;
    const end = v.indexOf(';', eq);
    return v.slice(eq + 1, end < 0 ? v.length : end);
  }
  return undefined;
}

/** ngx_http_proxy_add_x_forwarded_for_variable */
function addXForwardedFor(r: HttpRequest): string {
  const raw = r.req.rawHeaders;
  const n = Math.min(raw.length, r.headerLimit);
  let xff: string | undefined;
  for (let i = 0; i < n; i += 2) {
    if (raw[i].length === 15 && raw[i].toLowerCase() === 'x-forwarded-for') xff = xff === undefined ? raw[i + 1] : `${xff}, ${raw[i + 1]}`;
  }
  return xff === undefined ? r.conn.remoteAddr : `${xff}, ${r.conn.remoteAddr}`;
}

export function registerProxyVariables(vars: Variables): void {
  vars.define('upstream_addr', (r) => list(r, (s) => s.peer ?? '-'));
  vars.define('upstream_status', (r) => list(r, (s) => (s.status ? String(s.status) : '-')));
  vars.define('upstream_response_time', (r) => list(r, (s) => time(s.responseTime)));
  vars.define('upstream_connect_time', (r) => list(r, (s) => time(s.connectTime)));
  vars.define('upstream_header_time', (r) => list(r, (s) => time(s.headerTime)));
  vars.define('upstream_response_length', (r) => list(r, (s) => String(s.responseLength)));
  vars.define('upstream_bytes_received', (r) => list(r, (s) => String(s.bytesReceived)));
  vars.define('upstream_bytes_sent', (r) => list(r, (s) => String(s.bytesSent)));
  vars.definePrefix('upstream_http_', upstreamHeader);
  vars.definePrefix('upstream_cookie_', upstreamCookie);
  vars.define('proxy_host', (r) => upstreamInfo(r)?.hostHeader, true);
  vars.define('proxy_port', (r) => upstreamInfo(r)?.port, true);
  vars.define('proxy_add_x_forwarded_for', addXForwardedFor);
  vars.define('proxy_internal_body_length', (r) => {
    const n = upstreamInfo(r)?.bodyLength;
    return n === undefined || n < 0 ? undefined : String(n);
  });
  vars.define('proxy_internal_chunked', (r) => (upstreamInfo(r)?.chunked ? 'chunked' : undefined));
}
