import { C, TAKE23, type Cf, type Module } from '../conf/module';
import { compile, type HttpModuleHooks } from './core-module';
import type { HttpRequest, OutHeaders } from './request';
import type { Template } from './variables';

// ngx_http_headers_filter_module's add_header: headers added to answers of
// the statuses a cache may keep (or to every answer with `always`). An
// array directive: a level with none inherits its parent's, a level with
// one or more has only its own.

export const HEADERS = 'http_headers';

/** Which of nginx's handlers a header name gets (ngx_http_set_headers). */
type Handler = 'add' | 'etag' | 'last-modified';

interface HeaderValue {
  name: string;
  /** undefined for "": such a header is not added (and removes ETag, Last-Modified) */
  value?: Template;
  always: boolean;
  handler: Handler;
}

export interface HeadersLocConf {
  headers?: HeaderValue[];
}

/** The statuses add_header applies to without `always`. */
const SAFE = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

function handlerOf(name: string): Handler {
  const l = name.toLowerCase();
  // Cache-Control and Link are lists in nginx, added like any other header
  return l === 'etag' ? 'etag' : l === 'last-modified' ? 'last-modified' : 'add';
}

function addHeader(cf: Cf, conf: HeadersLocConf): string | undefined {
  const [name, value, flag] = cf.args;
  conf.headers ??= [];
  const h: HeaderValue = { name, value: value === '' ? undefined : compile(cf, value), always: false, handler: handlerOf(name) };
  conf.headers.push(h);
  if (flag !== undefined) {
    if (flag !== 'always') throw cf.error(`invalid parameter "${flag}"`);
    h.always = true;
  }
  return undefined;
}

/**
 * ngx_http_set_response_header for a header nodinx keeps in the list: the
 * one add_header set before is replaced in place, "" removes it.
 */
function setListed(out: OutHeaders, name: string, value: string): void {
  const lname = name.toLowerCase();
  const i = out.headers.findIndex(([k]) => k.toLowerCase() === lname);
  if (value === '') {
    if (i >= 0) out.headers.splice(i, 1);
  } else if (i >= 0) out.headers[i] = [name, value];
  else out.headers.push([name, value]);
}

/** ngx_http_headers_filter: runs while the response head is made, with its status. */
function headersFilter(r: HttpRequest): void {
  const loc = r.loc ?? r.server?.core.loc;
  const conf = loc?.confs[HEADERS] as HeadersLocConf | undefined;
  if (!conf?.headers) return;
  const safe = SAFE.has(r.status);
  const out = r.out;
  for (const h of conf.headers) {
    if (!safe && !h.always) continue;
    const value = h.value ? h.value.run(r) : '';
    switch (h.handler) {
      case 'add':
        if (value !== '') out.headers.push([h.name, value]);
        break;
      case 'etag':
        // the static module's ETag is changed where it stands
        if (out.etag !== undefined) out.etag = value === '' ? undefined : value;
        else setListed(out, h.name, value);
        break;
      case 'last-modified':
        // the configured text replaces the date nginx would write
        out.lastModified = -1;
        setListed(out, h.name, value);
        break;
    }
  }
}

export const headersModule: Module & HttpModuleHooks = {
  name: HEADERS,
  provides: ['http_headers'],
  type: 'http',
  createLoc: (): HeadersLocConf => ({}),
  mergeLoc(parent: HeadersLocConf, child: HeadersLocConf) {
    child.headers ??= parent.headers;
  },
  handlers: { headerFilter: headersFilter },
  commands: [{ name: 'add_header', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | C.HTTP_LIF | TAKE23, set: addHeader }],
};
