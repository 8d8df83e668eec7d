import { A, C, type Cf, type Module } from '../conf/module';
import { compileRegex, type CompiledRegex } from '../conf/regex';
import { parseNumber, parseSize } from '../conf/values';
import { Reason, flagValue, numberValue, sizeValue, slot } from '../conf/slots';
import { typesSlot, type HttpMainConf, type HttpModuleHooks } from './core-conf';
import type { HttpRequest } from './request';
import { PROXIED, gzipOk, type GzipOkConf } from './gzip-ok';
import { compressBody, gzipParams, gzipRatio } from './gzip-body';

// ngx_http_gzip_filter_module: a 200, 403 or 404 of a gzip_types type, long
// enough by Content-Length, for a client gzipOk() accepts, goes out gzipped:
// Content-Encoding: gzip, no Content-Length (chunked, or close for
// HTTP/1.0), no Accept-Ranges (so Range is ignored), a weak ETag.

export const GZIP = 'http_gzip';

export interface GzipLocConf extends GzipOkConf {
  enable?: boolean;
  /** lower-cased MIME types, text/html always among them; '*' any */
  types?: Set<string> | '*';
  minLength?: number;
  level?: number;
  buffers?: [number, number];
}

const flag = (key: 'enable' | 'vary') => slot<GzipLocConf, typeof key>(key, flagValue);

/** ngx_conf_set_num_slot with ngx_conf_check_num_bounds 1..9. */
function setCompLevel(cf: Cf, conf: GzipLocConf): string | undefined {
  if (conf.level !== undefined) return 'is duplicate';
  const n = numberValue(cf);
  if (n instanceof Reason) return n.text;
  if (n < 1 || n > 9) throw cf.error('value must be between 1 and 9');
  conf.level = n;
  return undefined;
}

/** ngx_conf_set_bufs_slot: accepted; Node's zlib stream has its own buffers. */
function setBuffers(cf: Cf, conf: GzipLocConf): string | undefined {
  if (conf.buffers) return 'is duplicate';
  const num = parseNumber(cf.args[0]);
  if (Number.isNaN(num) || num === 0) return 'invalid value';
  const size = parseSize(cf.args[1]);
  if (Number.isNaN(size) || size === 0) return 'invalid value';
  conf.buffers = [num, size];
  return undefined;
}

/** ngx_conf_set_enum_slot for 1.0 | 1.1. */
function setHttpVersion(cf: Cf, conf: GzipLocConf): string | undefined {
  if (conf.httpVersion !== undefined) return 'is duplicate';
  const v = { '1.0': 1000, '1.1': 1001 }[cf.args[0]];
  if (v === undefined) throw cf.error(`invalid value "${cf.args[0]}"`);
  conf.httpVersion = v;
  return undefined;
}

/** ngx_conf_set_bitmask_slot: values are OR-ed in, case-insensitively, repeats warned. */
function setProxied(cf: Cf, conf: GzipLocConf): string | undefined {
  let mask = conf.proxied ?? 1;
  for (const a of cf.args) {
    const bit = PROXIED[a.toLowerCase()];
    if (bit === undefined) throw cf.error(`invalid value "${a}"`);
    if (mask & bit) cf.warn(`duplicate value "${a}"`);
    else mask |= bit;
  }
  conf.proxied = mask;
  return undefined;
}

/** ngx_http_gzip_disable: "msie6", else caseless regexes against User-Agent. */
function setDisable(cf: Cf, conf: GzipLocConf): string | undefined {
  const list: CompiledRegex[] = (conf.disable ??= []);
  for (const a of cf.args) {
    if (a === 'msie6') {
      conf.disableMsie6 = true;
      continue;
    }
    try {
      list.push(compileRegex(a, true));
    } catch (e) {
      throw cf.error((e as Error).message);
    }
  }
  return undefined;
}

const LOC = C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC;

export function gzipConf(r: HttpRequest): GzipLocConf {
  return (r.loc.confs[GZIP] as GzipLocConf | undefined) ?? {};
}

/** ngx_http_gzip_header_filter. */
function gzipHeaderFilter(r: HttpRequest): void {
  if (!r.loc) return;
  // ngx_http_not_modified_header_filter drops a Content-Encoding gzip_static set
  const encoding = r.ctx.contentEncoding;
  if (r.status === 304 && Array.isArray(encoding)) {
    const i = r.out.headers.indexOf(encoding as [string, string]);
    if (i >= 0) r.out.headers.splice(i, 1);
    r.ctx.contentEncoding = undefined;
    return;
  }
  const conf = gzipConf(r);
  if (!conf.enable) return;
  const out = r.out;
  const status = r.status;
  if (status !== 200 && status !== 403 && status !== 404) return;
  if (r.ctx.contentEncoding) return;
  if (out.contentLength !== -1 && out.contentLength < (conf.minLength ?? 20)) return;
  const types = conf.types ?? DEFAULT_TYPES;
  // the type as nginx tests it: without the charset (the charset filter, which ran first, may have added one)
  const type = out.contentType === undefined ? undefined : typeWithoutCharset(out.contentType).toLowerCase();
  if (types !== '*' && (type === undefined || !types.has(type))) return;
  if (conf.vary) r.ctx.gzipVary = true;
  if (!gzipOk(r, conf)) return;
  const params = gzipParams(conf.level ?? 1, out.contentLength);
  out.headers.push(['Content-Encoding', 'gzip']);
  r.ctx.contentEncoding = true;
  out.contentLength = -1;
  out.allowRanges = false;
  out.acceptRanges = false;
  weakEtag(r);
  if (!r.headerOnly) compressBody(r, params);
}

const DEFAULT_TYPES = new Set(['text/html']);

/** "text/html; charset=koi8-r" → "text/html": nginx keeps the charset apart (headers_out.charset). */
function typeWithoutCharset(type: string): string {
  const i = type.indexOf('; charset=');
  return i < 0 ? type : type.slice(0, i);
}

/** ngx_http_weak_etag: W/ before a strong ETag; one that is not quoted is dropped. */
export function weakEtag(r: HttpRequest): void {
  const etag = r.out.etag;
  if (etag === undefined || (etag.length > 2 && etag.startsWith('W/'))) return;
  r.out.etag = etag.startsWith('"') ? 'W/' + etag : undefined;
}

export const gzipModule: Module & HttpModuleHooks = {
  name: GZIP,
  provides: ['http_gzip'],
  type: 'http',
  preconfiguration(main: HttpMainConf) {
    main.variables.define('gzip_ratio', gzipRatio);
  },
  createLoc: (): GzipLocConf => ({}),
  mergeLoc(parent: GzipLocConf, child: GzipLocConf) {
    child.enable ??= parent.enable;
    child.types ??= parent.types;
    child.minLength ??= parent.minLength;
    child.level ??= parent.level;
    child.buffers ??= parent.buffers;
    child.vary ??= parent.vary;
    child.httpVersion ??= parent.httpVersion;
    child.proxied ??= parent.proxied;
    child.disable ??= parent.disable;
    child.disableMsie6 ??= parent.disableMsie6;
  },
  handlers: { headerFilter: gzipHeaderFilter },
  commands: [
    { name: 'gzip', type: LOC | C.HTTP_LIF | A.FLAG, set: flag('enable') },
    { name: 'gzip_buffers', type: LOC | A.TAKE2, set: setBuffers },
    { name: 'gzip_types', type: LOC | A.MORE1, set: typesSlot },
    { name: 'gzip_comp_level', type: LOC | A.TAKE1, set: setCompLevel },
    { name: 'gzip_min_length', type: LOC | A.TAKE1, set: slot<GzipLocConf, 'minLength'>('minLength', sizeValue) },
    { name: 'gzip_vary', type: LOC | A.FLAG, set: flag('vary') },
    { name: 'gzip_http_version', type: LOC | A.TAKE1, set: setHttpVersion },
    { name: 'gzip_proxied', type: LOC | A.MORE1, set: setProxied },
    { name: 'gzip_disable', type: LOC | A.MORE1, set: setDisable },
  ],
};
