import { C, TAKE12, type Cf, type Module } from '../conf/module';
import { parseTime } from '../conf/values';
import { compile, type HttpModuleHooks } from './core-module';
import { httpDate, httpDateNow } from './core-variables';
import type { HttpRequest } from './request';
import type { Template } from './variables';

// The `expires` directive of ngx_http_headers_filter_module: Expires and
// Cache-Control for the statuses a cache may keep. nginx does it in the
// headers filter before add_header's headers; this filter is registered
// just before that one (see modules.ts) so the order on the wire is nginx's.

export const EXPIRES = 'http_headers_expires';

/** ngx_http_expires_t; "access" is a plain time, counted from now. */
type Kind = 'off' | 'epoch' | 'max' | 'access' | 'modified' | 'daily';

export interface ExpiresLocConf {
  kind?: Kind;
  /** seconds; for daily, the time of day */
  time: number;
  /** a value with variables, parsed per request */
  value?: Template;
}

/** The statuses expires applies to (the same as add_header without `always`). */
const SAFE = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

// in nginx the day's value may equal 24 hours (next midnight), not exceed it
const DAY = 24 * 60 * 60;

/**
 * ngx_http_parse_expires: `kind` is what the directive's arguments said so
 * far ("modified" or a plain time); returns the kind and time, or the reason.
 */
function parseExpires(value: string, kind: Kind): { kind: Kind; time: number } | string {
  if (kind !== 'modified') {
    if (value === 'epoch' || value === 'max' || value === 'off') return { kind: value, time: 0 };
  }
  let minus = false;
  if (value.startsWith('@')) {
    if (kind === 'modified') return 'daily time cannot be used with "modified" parameter';
    kind = 'daily';
    value = value.slice(1);
  } else if (value.startsWith('+')) value = value.slice(1);
  else if (value.startsWith('-')) {
    minus = true;
    value = value.slice(1);
  }
  const time = parseTime(value, true);
  if (Number.isNaN(time)) return 'invalid value';
  if (kind === 'daily' && time > DAY) return 'daily time value must be less than 24 hours';
  return { kind, time: minus ? -time : time };
}

function expiresDirective(cf: Cf, conf: ExpiresLocConf): string | undefined {
  if (conf.kind !== undefined) return 'is duplicate';
  let kind: Kind = 'access';
  let value = cf.args[0];
  if (cf.args.length === 2) {
    if (cf.args[0] !== 'modified') return 'invalid value';
    kind = 'modified';
    value = cf.args[1];
  }
  const t = compile(cf, value);
  conf.kind = kind;
  if (!t.isStatic) {
    conf.value = t;
    return undefined;
  }
  const parsed = parseExpires(value, kind);
  if (typeof parsed === 'string') return parsed;
  conf.kind = parsed.kind;
  conf.time = parsed.time;
  return undefined;
}

/**
 * ngx_next_time: the next moment the local clock shows this time of day,
 * today if it is still ahead, else tomorrow.
 */
function nextTime(when: number, now: number): number {
  const d = new Date(now * 1000);
  const h = Math.floor(when / 3600), m = Math.floor((when % 3600) / 60), s = when % 60;
  const today = new Date(d.getFullYear(), d.getMonth(), d.getDate(), h, m, s).getTime() / 1000;
  if (today - now > 0) return today;
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1, h, m, s).getTime() / 1000;
}

/** ngx_http_set_expires. */
function setExpires(r: HttpRequest, conf: ExpiresLocConf): void {
  let kind = conf.kind!;
  let time = conf.time;
  if (conf.value) {
    // an invalid value at run time adds nothing, silently, as nginx 1.22
    const parsed = parseExpires(conf.value.run(r), kind);
    if (typeof parsed === 'string' || parsed.kind === 'off') return;
    kind = parsed.kind;
    time = parsed.time;
  }
  // nginx replaces an Expires or Cache-Control only when an upstream set
  // one; add_header's come after this filter, so here there is none
  const out = r.out;
  let expires: string;
  let cc: string;
  if (kind === 'epoch') {
    expires = 'Thu, 01 Jan 1970 00:00:01 GMT';
    cc = 'no-cache';
  } else if (kind === 'max') {
    expires = 'Thu, 31 Dec 2037 23:55:55 GMT';
    // ten years
    cc = 'max-age=315360000';
  } else if (time === 0 && kind !== 'daily') {
    // the Date header's own text
    expires = httpDateNow();
    cc = 'max-age=0';
  } else {
    const now = Math.floor(Date.now() / 1000);
    let at: number;
    let maxAge: number;
    if (kind === 'daily') {
      at = nextTime(time, now);
      maxAge = at - now;
    } else if (kind === 'access' || out.lastModified === -1) {
      at = now + time;
      maxAge = time;
    } else {
      at = out.lastModified + time;
      maxAge = at - now;
    }
    expires = httpDate(at);
    // nginx looks at the configured time here, 0 when it came from variables
    cc = conf.time < 0 || maxAge < 0 ? 'no-cache' : `max-age=${maxAge}`;
  }
  out.headers.push(['Expires', expires], ['Cache-Control', cc]);
}

function expiresFilter(r: HttpRequest): void {
  const loc = r.loc ?? r.server?.core.loc;
  const conf = loc?.confs[EXPIRES] as ExpiresLocConf | undefined;
  if (!conf || conf.kind === 'off' || !SAFE.has(r.status)) return;
  setExpires(r, conf);
}

export const expiresModule: Module & HttpModuleHooks = {
  name: EXPIRES,
  type: 'http',
  createLoc: (): ExpiresLocConf => ({ time: 0 }),
  mergeLoc(parent: ExpiresLocConf, child: ExpiresLocConf) {
    if (child.kind !== undefined) return;
    child.kind = parent.kind ?? 'off';
    child.time = parent.time;
    child.value = parent.value;
  },
  handlers: { headerFilter: expiresFilter },
  commands: [{ name: 'expires', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | C.HTTP_LIF | TAKE12, set: expiresDirective }],
};
