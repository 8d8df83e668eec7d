import type { HttpRequest, Outcome } from './request';
import { logError } from './http-context';
import { discardRequestBody, readRequestBody, type RequestBody } from './request-body';
import { createRequest, proxyConf, proxyMethod, proxyUri } from './proxy-request';
import { parseProxyUrl, setVars, type ProxyVars } from './proxy-url';
import type { ProxyLocConf, ProxyPass } from './proxy-module';
import { findUpstream } from './proxy-upstream';
import { ProxyRun } from './proxy-run';
import { explainProxyPass } from './proxy-explain';
import type { UpstreamInfo } from './upstream-variables';
import { implicitGroup, resolveHost } from '../upstream/http-implicit';
import type { UpstreamGroup } from '../upstream/types';

// ngx_http_proxy_handler: where the request goes (ngx_http_proxy_eval for
// proxy_pass with variables), its body read as proxy_request_buffering
// says (ngx_http_read_client_request_body), then the upstream run.

/** Groups made at run time for addresses (proxy_pass with variables), one per address. */
const resolved = new Map<string, UpstreamGroup>();

/** ngx_http_proxy_eval and the part of ngx_http_upstream_init_request that finds the peers. */
function evalPass(r: HttpRequest, pass: ProxyPass): { group: UpstreamGroup; vars: ProxyVars } | number {
  const proxy = pass.template!.run(r);
  let add: number;
  let port: number;
  if (proxy.length > 7 && proxy.slice(0, 7).toLowerCase() === 'http://') (add = 7), (port = 80);
  else if (proxy.length > 8 && proxy.slice(0, 8).toLowerCase() === 'https://') (add = 8), (port = 443);
  else {
    logError(r, 'error', `invalid URL prefix in "${proxy}"`);
    return 500;
  }
  const u = parseProxyUrl(proxy.slice(add), port);
  if (typeof u === 'string') {
    logError(r, 'error', `${u} in upstream "${proxy.slice(add)}"`);
    return 500;
  }
  if (u.uri.startsWith('?')) u.uri = '/' + u.uri;
  const vars = setVars(proxy.slice(0, add), u);
  const explicit = u.unix === undefined ? findUpstream(r, u.host, u.port, u.noPort) : undefined;
  if (explicit) return { group: explicit, vars };
  const key = u.unix !== undefined ? `unix:${u.unix}` : `${u.host}:${u.port}`;
  let group = resolved.get(key);
  if (!group) {
    const addrs = u.unix !== undefined ? [] : resolveHost(u.host);
    if (!addrs || addrs.length === 0 || (u.unix === undefined && addrs[0] !== u.host.replace(/^\[|\]$/g, '') && u.host !== 'localhost')) {
      logError(r, 'error', `no resolver defined to resolve ${u.host}`);
      return 502;
    }
    group = implicitGroup(u.host, addrs.slice(0, 1), u.port, u.unix);
    resolved.set(key, group);
  }
  return { group, vars };
}

export function proxyHandler(r: HttpRequest): Outcome | Promise<Outcome> {
  const { conf, pass } = proxyConf(r);
  if (!pass) return undefined;
  const info = (r.ctx.upstream ??= { states: [] }) as UpstreamInfo;
  if (info.states.length) info.states.push({ sep: true, status: 0, responseTime: -1, connectTime: -1, headerTime: -1, responseLength: 0, bytesReceived: 0, bytesSent: 0 });
  info.logText = undefined;
  let group: UpstreamGroup;
  let vars: ProxyVars;
  if (pass.variables) {
    const e = evalPass(r, pass);
    if (typeof e === 'number') return e;
    ({ group, vars } = e);
  } else {
    group = pass.group!;
    vars = pass.vars!;
  }
  info.hostHeader = vars.hostHeader;
  info.port = vars.port;
  if (r.trace) return explainProxyPass(r, group, vars);
  const chunked = (r as { chunked?: boolean }).chunked === true;
  // as ngx_http_read_client_request_body: even an empty body gets its "100 Continue"
  if (r.contentLength >= 0 || chunked) return withBody(r, conf, pass, group, vars, info, chunked);
  return proxyPass(r, conf, pass, group, vars, info, chunked, undefined);
}

/** The client's body first (buffered, or as a stream with proxy_request_buffering off), then the upstream. */
async function withBody(r: HttpRequest, conf: ProxyLocConf, pass: ProxyPass, group: UpstreamGroup, vars: ProxyVars, info: UpstreamInfo, chunked: boolean): Promise<Outcome> {
  const noBuffering = !conf.requestBuffering && !conf.body && conf.passRequestBody! && (!chunked || conf.httpVersion === 1001);
  let rb: RequestBody | number | undefined;
  try {
    rb = await readRequestBody(r, { buffered: !noBuffering });
  } catch {
    // no body reader in this build: the body is dropped, as with proxy_pass_request_body off
    const rc = discardRequestBody(r);
    if (rc !== undefined) return rc;
  }
  if (typeof rb === 'number') return rb;
  return proxyPass(r, conf, pass, group, vars, info, chunked, rb);
}

function proxyPass(r: HttpRequest, conf: ProxyLocConf, pass: ProxyPass, group: UpstreamGroup, vars: ProxyVars, info: UpstreamInfo, chunked: boolean, body: RequestBody | undefined): Outcome | Promise<Outcome> {
  let bodyText: string | undefined;
  if (conf.body) {
    bodyText = conf.body.run(r);
    info.bodyLength = Buffer.byteLength(bodyText, 'latin1');
    info.chunked = false;
  } else if (body?.stream && body.length < 0) {
    info.bodyLength = -1;
    info.chunked = true;
  } else {
    info.bodyLength = body ? body.length : r.contentLength >= 0 && !chunked ? r.contentLength : -1;
    info.chunked = false;
  }
  const method = proxyMethod(r, conf);
  const uri = proxyUri(r, pass, vars);
  if (uri === undefined) {
    logError(r, 'error', 'zero length URI to proxy');
    return 500;
  }
  const head = createRequest(r, conf, method, uri);
  const run = new ProxyRun(r, conf, group, info, {
    head,
    buffered: bodyText !== undefined ? [Buffer.from(bodyText, 'latin1')] : conf.passRequestBody ? body?.buffered : undefined,
    stream: bodyText === undefined && conf.passRequestBody ? body?.stream : undefined,
    chunked: info.chunked === true,
    schema: vars.schema,
    uri,
  }, method.length === 4 && method.toUpperCase() === 'HEAD');
  return run.run();
}
