import type { MergeCf } from '../conf/module';
import type { HttpMainConf } from './core-module';
import { compileTemplate } from './variables';
import type { ProxyHeader, ProxyLocConf } from './proxy-module';
import { FT } from './proxy-flags';

// ngx_http_proxy_merge_loc_conf: defaults, inheritance, and the headers
// the upstream request carries (ngx_http_proxy_init_headers), worked out
// once per location so that a request only runs templates.

const PAGE = 4096;

const DEFAULT_HEADERS: Array<[string, string]> = [
  ['Host', '$proxy_host'],
  ['Connection', 'close'],
  ['Content-Length', '$proxy_internal_body_length'],
  ['Transfer-Encoding', '$proxy_internal_chunked'],
  ['TE', ''],
  ['Keep-Alive', ''],
  ['Expect', ''],
  ['Upgrade', ''],
];

/** ngx_http_proxy_hide_headers */
const HIDE_HEADERS = ['date', 'server', 'x-pad', 'x-accel-expires', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset'];

let defaults: ProxyHeader[] = [];

/** The default headers' templates, compiled against this cycle's variables. */
export function defaultHeaderTemplates(main: HttpMainConf): void {
  defaults = DEFAULT_HEADERS.map(([name, value]) => {
    const t = compileTemplate(value, main.variables);
    main.templates.push(t);
    return { name, lname: name.toLowerCase(), value: t, empty: value === '' };
  });
}

const set = <T>(v: T | undefined, p: T | undefined, d: T): T => (v !== undefined ? v : p !== undefined ? p : d);

export function mergeProxy(prev: ProxyLocConf, conf: ProxyLocConf, cf: MergeCf): void {
  // an `if` block shares its location's proxy_pass (by reference: proxy_redirect default looks at it);
  // a nested location gets it too but not the content handler, which stays with the location that set it
  conf.pass ??= prev.pass;
  conf.passRequestHeaders = set(conf.passRequestHeaders, prev.passRequestHeaders, true);
  conf.passRequestBody = set(conf.passRequestBody, prev.passRequestBody, true);
  conf.body ??= prev.body;
  conf.method ??= prev.method;
  conf.ignoreHeaders = set(conf.ignoreHeaders, prev.ignoreHeaders, 0);
  conf.httpVersion = set(conf.httpVersion, prev.httpVersion, 1000);
  conf.requestBuffering = set(conf.requestBuffering, prev.requestBuffering, true);
  conf.buffering = set(conf.buffering, prev.buffering, true);
  conf.interceptErrors = set(conf.interceptErrors, prev.interceptErrors, false);
  conf.ignoreClientAbort = set(conf.ignoreClientAbort, prev.ignoreClientAbort, false);
  conf.connectTimeout = set(conf.connectTimeout, prev.connectTimeout, 60000);
  conf.sendTimeout = set(conf.sendTimeout, prev.sendTimeout, 60000);
  conf.readTimeout = set(conf.readTimeout, prev.readTimeout, 60000);
  conf.nextUpstreamTries = set(conf.nextUpstreamTries, prev.nextUpstreamTries, 0);
  conf.nextUpstreamTimeout = set(conf.nextUpstreamTimeout, prev.nextUpstreamTimeout, 0);
  let next = set(conf.nextUpstream, prev.nextUpstream, FT.error | FT.timeout);
  if (next & FT.off) next = FT.off;
  conf.nextUpstream = next;

  conf.bufferSize = set(conf.bufferSize, prev.bufferSize, PAGE);
  conf.bufs = set(conf.bufs, prev.bufs, [8, PAGE]);
  const fail = (reason: string) => cf.error(reason, cf.blockEnd?.file, cf.blockEnd?.line);
  if (conf.bufs[0] < 2) throw fail('there must be at least 2 "proxy_buffers"');
  const size = Math.max(conf.bufferSize, conf.bufs[1]);
  const max = 'the maximum of the value of "proxy_buffer_size" and one of the "proxy_buffers"';
  conf.busyBuffersSize = set(conf.busyBuffersSize, prev.busyBuffersSize, 2 * size);
  if (conf.busyBuffersSize < size) throw fail(`"proxy_busy_buffers_size" must be equal to or greater than ${max}`);
  if (conf.busyBuffersSize > (conf.bufs[0] - 1) * conf.bufs[1]) {
    throw fail('"proxy_busy_buffers_size" must be less than the size of all "proxy_buffers" minus one buffer');
  }
  conf.tempFileWriteSize = set(conf.tempFileWriteSize, prev.tempFileWriteSize, 2 * size);
  if (conf.tempFileWriteSize < size) throw fail(`"proxy_temp_file_write_size" must be equal to or greater than ${max}`);
  conf.maxTempFileSize = set(conf.maxTempFileSize, prev.maxTempFileSize, 1024 * 1024 * 1024);
  if (conf.maxTempFileSize !== 0 && conf.maxTempFileSize < size) {
    throw fail(`"proxy_max_temp_file_size" must be equal to zero to disable temporary files usage or must be equal to or greater than ${max}`);
  }

  // ngx_http_upstream_hide_headers_hash; a level that sets none of these
  // shares its parent's merged sets and lists, as nginx shares the hash
  conf.hideHeaders ??= prev.hideHeaders;
  conf.passHeaders ??= prev.passHeaders;
  conf.headersSource ??= prev.headersSource;
  if (MERGED.has(prev) && conf.hideHeaders === prev.hideHeaders && conf.passHeaders === prev.passHeaders) conf.hide = prev.hide;
  else {
    const hide = new Set(HIDE_HEADERS);
    for (const h of conf.hideHeaders ?? []) hide.add(h.toLowerCase());
    for (const h of conf.passHeaders ?? []) hide.delete(h.toLowerCase());
    conf.hide = hide;
  }

  // ngx_http_proxy_init_headers: the level's own proxy_set_header, or its parent's, then the defaults it did not set
  if (MERGED.has(prev) && conf.headersSource === prev.headersSource) {
    conf.headers = prev.headers;
    conf.headersHash = prev.headersHash;
  } else {
    const merged: ProxyHeader[] = [...(conf.headersSource ?? [])];
    for (const d of defaults) if (!merged.some((h) => h.lname === d.lname)) merged.push(d);
    conf.headers = merged;
    conf.headersHash = new Set(merged.map((h) => h.lname));
  }
  MERGED.add(conf);
}

/** Levels whose hide and headers are worked out (the http level's own conf is merged with nothing). */
const MERGED = new WeakSet<ProxyLocConf>();
