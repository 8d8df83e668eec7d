import { A, C, TAKE1234, type Cf, type Module } from '../conf/module';
import { parseNumber, parseSize, parseTime } from '../conf/values';
import { flagValue as flag } from '../conf/slots';
import { compile, coreLoc, type HttpCtx, type HttpMainConf, type HttpModuleHooks } from './core-module';
import type { Template } from './variables';
import { setContentHandler } from './phases';
import { proxyHandler } from './proxy-handler';
import { parseProxyUrl, setVars, type ProxyVars } from './proxy-url';
import { addUpstream } from './proxy-upstream';
import { registerProxyVariables } from './upstream-variables';
import type { UpstreamGroup } from '../upstream/types';
import { mergeProxy, defaultHeaderTemplates } from './proxy-merge';
import { FT, IGN, PROXY } from './proxy-flags';

export { FT, IGN, PROXY };

// ngx_http_proxy_module's directives and their merge: what proxy_pass
// points at (an upstream group, or a template resolved per request), the
// request nginx builds for the upstream, and the upstream settings
// (timeouts, next upstream, buffering) of ngx_http_upstream_conf_t.

export interface ProxyPass {
  /** the proxy_pass argument as written */
  url: string;
  variables: boolean;
  file: string;
  line: number;
  /** without variables: the group and the parts of the URL (nginx's plcf->vars) */
  group?: UpstreamGroup;
  vars?: ProxyVars;
  /** with variables */
  template?: Template;
  /** the location prefix a URI part replaces ("" in regex, named and `if` locations) */
  location: string;
}

export interface ProxyHeader {
  name: string;
  lname: string;
  value: Template;
  /** "" as written: never sent, but hides the client's header of that name */
  empty: boolean;
}

const NONE: ProxyHeader[] = [];
const NO_NAMES = new Set<string>();

export interface ProxyLocConf {
  pass?: ProxyPass;
  headersSource?: ProxyHeader[];
  /** merged: proxy_set_header's and the defaults, in nginx's order */
  headers: ProxyHeader[];
  /** lower-cased names of `headers`: the client's headers of these names are not passed */
  headersHash: Set<string>;
  passRequestHeaders?: boolean;
  passRequestBody?: boolean;
  body?: Template;
  method?: Template;
  hideHeaders?: string[];
  passHeaders?: string[];
  /** merged: lower-cased names of upstream headers not passed to the client */
  hide: Set<string>;
  ignoreHeaders?: number;
  httpVersion?: 1000 | 1001;
  requestBuffering?: boolean;
  buffering?: boolean;
  bufferSize?: number;
  bufs?: [number, number];
  busyBuffersSize?: number;
  maxTempFileSize?: number;
  tempFileWriteSize?: number;
  interceptErrors?: boolean;
  ignoreClientAbort?: boolean;
  connectTimeout?: number;
  sendTimeout?: number;
  readTimeout?: number;
  nextUpstream?: number;
  nextUpstreamTries?: number;
  nextUpstreamTimeout?: number;
  seen?: Set<string>;
}

const LOCS = C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC;

/** ngx_http_proxy_pass */
function proxyPass(cf: Cf, conf: ProxyLocConf): string | undefined {
  if (conf.pass) return 'is duplicate';
  const clcf = coreLoc((cf.ctx as HttpCtx).loc);
  setContentHandler(clcf, proxyHandler);
  if (clcf.name.endsWith('/')) clcf.autoRedirect = true;
  const url = cf.args[0];
  const pass: ProxyPass = { url, variables: false, file: cf.node.file, line: cf.node.line, location: clcf.name };
  if (/\$([A-Za-z0-9_{]|$)/.test(url) && hasVariables(url)) {
    pass.variables = true;
    pass.template = compile(cf, url);
    conf.pass = pass;
    return undefined;
  }
  let add: number;
  let port: number;
  if (url.slice(0, 7).toLowerCase() === 'http://') (add = 7), (port = 80);
  else if (url.slice(0, 8).toLowerCase() === 'https://') (add = 8), (port = 443);
  else throw cf.error('invalid URL prefix');
  const u = parseProxyUrl(url.slice(add), port);
  if (typeof u === 'string') throw cf.error(`${u} in upstream "${url.slice(add)}"`);
  pass.group = addUpstream(cf, u);
  pass.vars = setVars(url.slice(0, add), u);
  if (clcf.named || clcf.regex || clcf.noname) {
    if (pass.vars.uri) {
      throw cf.error('"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block');
    }
    pass.location = '';
  }
  conf.pass = pass;
  return undefined;
}

/** ngx_http_script_variables_count: "$" followed by a name or "{" counts. */
function hasVariables(s: string): boolean {
  for (let i = 0; i < s.length - 1; i++) if (s[i] === '$' && /[A-Za-z0-9_{]/.test(s[i + 1])) return true;
  return false;
}

/** An ngx_conf_set_*_slot for one field, "is duplicate" the second time. */
function one<K extends keyof ProxyLocConf>(key: K, parse: (cf: Cf) => ProxyLocConf[K] | string) {
  return (cf: Cf, conf: ProxyLocConf): string | undefined => {
    if (conf[key] !== undefined) return 'is duplicate';
    const v = parse(cf);
    if (typeof v === 'string') return v;
    conf[key] = v;
    return undefined;
  };
}

const msec = (cf: Cf): number | string => {
  const n = parseTime(cf.args[0]);
  return Number.isNaN(n) ? 'invalid value' : n;
};
const size = (cf: Cf): number | string => {
  const n = parseSize(cf.args[0]);
  return Number.isNaN(n) ? 'invalid value' : n;
};
const num = (cf: Cf): number | string => {
  const n = parseNumber(cf.args[0]);
  return Number.isNaN(n) ? 'invalid number' : n;
};

/** ngx_conf_set_bitmask_slot */
function bitmask(key: 'nextUpstream' | 'ignoreHeaders', values: Record<string, number>) {
  return (cf: Cf, conf: ProxyLocConf): string | undefined => {
    if (conf[key] !== undefined) return 'is duplicate';
    let mask = 0;
    for (const a of cf.args) {
      const bit = values[a.toLowerCase()];
      if (bit === undefined) throw cf.error(`invalid value "${a}"`);
      if (mask & bit) cf.warn(`duplicate value "${a}"`);
      else mask |= bit;
    }
    conf[key] = mask;
    return undefined;
  };
}

/** Accepted as nginx accepts them; nodinx keeps responses in memory. */
function accepted(name: string, type: number, check: (cf: Cf) => string | undefined) {
  return {
    name, type,
    set(cf: Cf, conf: ProxyLocConf) {
      conf.seen ??= new Set();
      if (conf.seen.has(name)) return 'is duplicate';
      conf.seen.add(name);
      return check(cf);
    },
  };
}

const NEXT: Record<string, number> = { ...FT };
delete NEXT.busy_lock;
delete NEXT.max_waiting;
delete NEXT.nolive;

export const proxyModule: Module & HttpModuleHooks = {
  name: PROXY,
  provides: ['http_proxy'],
  type: 'http',
  // the merge sets these three, sharing the parent's where it can
  createLoc: (): ProxyLocConf => ({ headers: NONE, headersHash: NO_NAMES, hide: NO_NAMES }),
  preconfiguration(main: HttpMainConf) {
    registerProxyVariables(main.variables);
    defaultHeaderTemplates(main);
  },
  mergeLoc: mergeProxy,
  commands: [
    { name: 'proxy_pass', type: C.HTTP_LOC | C.HTTP_LIF | C.HTTP_LMT | A.TAKE1, set: proxyPass },
    {
      name: 'proxy_set_header', type: LOCS | A.TAKE2,
      set(cf, conf: ProxyLocConf) {
        (conf.headersSource ??= []).push({ name: cf.args[0], lname: cf.args[0].toLowerCase(), value: compile(cf, cf.args[1]), empty: cf.args[1] === '' });
        return undefined;
      },
    },
    { name: 'proxy_pass_request_headers', type: LOCS | A.FLAG, set: one('passRequestHeaders', flag) },
    { name: 'proxy_pass_request_body', type: LOCS | A.FLAG, set: one('passRequestBody', flag) },
    { name: 'proxy_set_body', type: LOCS | A.TAKE1, set: one('body', (cf) => compile(cf, cf.args[0])) },
    { name: 'proxy_method', type: LOCS | A.TAKE1, set: one('method', (cf) => compile(cf, cf.args[0])) },
    { name: 'proxy_hide_header', type: LOCS | A.TAKE1, set: (cf, conf: ProxyLocConf) => void (conf.hideHeaders ??= []).push(cf.args[0]) },
    { name: 'proxy_pass_header', type: LOCS | A.TAKE1, set: (cf, conf: ProxyLocConf) => void (conf.passHeaders ??= []).push(cf.args[0]) },
    { name: 'proxy_ignore_headers', type: LOCS | A.MORE1, set: bitmask('ignoreHeaders', IGN) },
    {
      name: 'proxy_http_version', type: LOCS | A.TAKE1,
      set: one('httpVersion', (cf) => {
        const v = ({ '1.0': 1000, '1.1': 1001 } as const)[cf.args[0] as '1.0'];
        if (v === undefined) throw cf.error(`invalid value "${cf.args[0]}"`);
        return v;
      }),
    },
    { name: 'proxy_request_buffering', type: LOCS | A.FLAG, set: one('requestBuffering', flag) },
    { name: 'proxy_buffering', type: LOCS | A.FLAG, set: one('buffering', flag) },
    { name: 'proxy_buffer_size', type: LOCS | A.TAKE1, set: one('bufferSize', size) },
    {
      name: 'proxy_buffers', type: LOCS | A.TAKE2,
      set: one('bufs', (cf) => {
        const n = parseNumber(cf.args[0]);
        const s = parseSize(cf.args[1]);
        return Number.isNaN(n) || n === 0 || Number.isNaN(s) || s === 0 ? 'invalid value' : [n, s];
      }),
    },
    { name: 'proxy_busy_buffers_size', type: LOCS | A.TAKE1, set: one('busyBuffersSize', size) },
    { name: 'proxy_max_temp_file_size', type: LOCS | A.TAKE1, set: one('maxTempFileSize', size) },
    { name: 'proxy_temp_file_write_size', type: LOCS | A.TAKE1, set: one('tempFileWriteSize', size) },
    accepted('proxy_temp_path', LOCS | TAKE1234, (cf) => {
      for (const level of cf.args.slice(1)) {
        const n = parseNumber(level);
        if (Number.isNaN(n) || n === 0 || n > 2) return 'invalid value';
      }
      return undefined;
    }),
    { name: 'proxy_intercept_errors', type: LOCS | A.FLAG, set: one('interceptErrors', flag) },
    { name: 'proxy_ignore_client_abort', type: LOCS | A.FLAG, set: one('ignoreClientAbort', flag) },
    { name: 'proxy_connect_timeout', type: LOCS | A.TAKE1, set: one('connectTimeout', msec) },
    { name: 'proxy_send_timeout', type: LOCS | A.TAKE1, set: one('sendTimeout', msec) },
    { name: 'proxy_read_timeout', type: LOCS | A.TAKE1, set: one('readTimeout', msec) },
    { name: 'proxy_next_upstream', type: LOCS | A.MORE1, set: bitmask('nextUpstream', NEXT) },
    { name: 'proxy_next_upstream_tries', type: LOCS | A.TAKE1, set: one('nextUpstreamTries', num) },
    { name: 'proxy_next_upstream_timeout', type: LOCS | A.TAKE1, set: one('nextUpstreamTimeout', msec) },
    accepted('proxy_headers_hash_max_size', LOCS | A.TAKE1, (cf) => (Number.isNaN(parseNumber(cf.args[0])) ? 'invalid number' : undefined)),
    accepted('proxy_headers_hash_bucket_size', LOCS | A.TAKE1, (cf) => (Number.isNaN(parseNumber(cf.args[0])) ? 'invalid number' : undefined)),
  ],
};
