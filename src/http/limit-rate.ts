import type { Socket } from 'node:net';
import { C, A, type Cf, type Module } from '../conf/module';
import { compile, type HttpModuleHooks } from './core-module';
import type { HttpMainConf } from './core-conf';
import type { HttpRequest } from './request';
import type { Template } from './variables';
import { logError } from './http-context';
import { Throttle, type RateState } from './limit-rate-writer';

// limit_rate and limit_rate_after (directives of ngx_http_core_module, used
// by ngx_http_write_filter), the $limit_rate variable, and what an
// upstream's X-Accel-Limit-Rate sets. The rate belongs to the request
// (r->limit_rate): `set $limit_rate` and X-Accel-Limit-Rate fix it, else
// the location's value is taken when the response starts going out.
// A request without a limit costs one lookup in the header filter.

export const LIMIT_RATE = 'http_limit_rate';

/** ngx_http_set_complex_value_size_slot: a size, or a value with variables parsed per request. */
type SizeValue = number | Template;

export interface LimitRateLocConf {
  rate?: SizeValue;
  after?: SizeValue;
}

/** The request's r->limit_rate and friends, in r.ctx (an internal redirect keeps them, as nginx's). */
interface RequestRate extends RateState {
  rateSet: boolean;
  afterSet: boolean;
}

const CTX = 'limitRate';

function requestRate(r: HttpRequest): RequestRate {
  let s = r.ctx[CTX] as RequestRate | undefined;
  if (!s) r.ctx[CTX] = s = { rate: 0, after: 0, startSec: Math.floor(r.startMs / 1000), rateSet: false, afterSet: false };
  return s;
}

const MAX_SIZE = (1n << 63n) - 1n;

/**
 * ngx_parse_size on 64 bits: digits with an optional k or m, up to
 * 2^63 - 1 bytes (values past what a double holds exactly are no limit
 * in practice: they stay large). NaN for what nginx calls invalid.
 */
export function parseSize(s: string): number {
  const m = /^([0-9]+)([kKmM]?)$/.exec(s);
  if (!m) return NaN;
  const scale = m[2] === '' ? 1n : m[2] === 'k' || m[2] === 'K' ? 1024n : 1024n * 1024n;
  const n = BigInt(m[1]);
  return n > MAX_SIZE / scale ? NaN : Number(n * scale);
}

function sizeSlot(key: 'rate' | 'after') {
  return (cf: Cf, conf: LimitRateLocConf): string | undefined => {
    if (conf[key] !== undefined) return 'is duplicate';
    const value = cf.args[0];
    const t = compile(cf, value);
    if (!t.isStatic) {
      conf[key] = t;
      return undefined;
    }
    const n = parseSize(value);
    if (Number.isNaN(n)) return 'invalid value';
    conf[key] = n;
    return undefined;
  };
}

/** ngx_http_complex_value_size with 0 as the default: a bad value is logged and means no limit. */
function complexValueSize(r: HttpRequest, v: SizeValue | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const text = v.run(r);
  const n = parseSize(text);
  if (!Number.isNaN(n)) return n;
  logError(r, 'error', `invalid size "${text}"`, 'sending response to client');
  return 0;
}

/** `set $limit_rate VALUE` (ngx_http_variable_set_limit_rate). */
export function setLimitRateVariable(r: HttpRequest, value: string): void {
  const n = parseSize(value);
  if (Number.isNaN(n)) {
    logError(r, 'error', `invalid $limit_rate "${value}"`);
    return;
  }
  const s = requestRate(r);
  s.rate = n;
  s.rateSet = true;
}

/**
 * ngx_http_upstream_process_limit_rate: a number (ngx_atoi) sets the
 * request's rate; anything else, "off" included, leaves it as it was.
 */
export function upstreamLimitRate(r: HttpRequest, value: string): void {
  if (!/^[0-9]+$/.test(value)) return;
  const n = Number(value);
  if (n > Number.MAX_SAFE_INTEGER) return;
  const s = requestRate(r);
  s.rate = n;
  s.rateSet = true;
}

/** ngx_http_upstream_send_response without buffering: nginx sends what it reads at once, unlimited. */
export function noLimitRate(r: HttpRequest): void {
  const s = requestRate(r);
  s.rate = 0;
  s.rateSet = true;
}

/**
 * The start of ngx_http_write_filter: the rate is fixed once per request;
 * with a rate, the connection's writes go through the throttle until the
 * response is finished.
 */
function limitRateFilter(r: HttpRequest): void {
  const s = r.ctx[CTX] as RequestRate | undefined;
  const lcf = (r.loc ?? r.server.core.loc)?.confs[LIMIT_RATE] as LimitRateLocConf | undefined;
  if (!s && !lcf?.rate) return;
  const state = s ?? requestRate(r);
  if (!state.rateSet) {
    state.rate = complexValueSize(r, lcf?.rate);
    state.rateSet = true;
  }
  if (state.rate === 0) return;
  if (!state.afterSet) {
    state.after = complexValueSize(r, lcf?.after);
    state.afterSet = true;
  }
  // an upgraded connection is joined to its upstream, past the write filter
  if (r.status === 101) return;
  const socket = r.res.socket;
  if (!socket || socket.destroyed || (socket as Socket & { [THROTTLED]?: boolean })[THROTTLED]) return;
  throttle(r, socket, state);
}

const THROTTLED = Symbol('throttled');

function throttle(r: HttpRequest, socket: Socket, state: RequestRate): void {
  const t = new Throttle(socket, state, (unsent, eof) => {
    // the handlers counted what they handed over; the log says what the client got
    r.bodyBytesSent = Math.max(0, r.bodyBytesSent - unsent);
    if (!eof) return;
    logError(r, 'info', 'client prematurely closed connection', 'sending response to client');
    socket.destroy();
  });
  const mark = socket as Socket & { [THROTTLED]?: boolean };
  mark[THROTTLED] = true;
  const release = (): void => {
    if (!mark[THROTTLED]) return;
    mark[THROTTLED] = false;
    t.release();
  };
  // before the connection's own listener: the next request on it must write straight
  r.res.prependOnceListener('finish', release);
  r.res.once('close', release);
}

const LEVELS = C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | C.HTTP_LIF | A.TAKE1;

export const limitRateModule: Module & HttpModuleHooks = {
  name: LIMIT_RATE,
  type: 'http',
  preconfiguration(main: HttpMainConf) {
    // ngx_http_variable_request_get_size: 0 until the rate is fixed
    main.variables.define('limit_rate', (r) => String((r.ctx[CTX] as RequestRate | undefined)?.rate ?? 0), true);
  },
  createLoc: (): LimitRateLocConf => ({}),
  mergeLoc(parent: LimitRateLocConf, child: LimitRateLocConf) {
    child.rate ??= parent.rate;
    child.after ??= parent.after;
  },
  handlers: { headerFilter: limitRateFilter },
  commands: [
    { name: 'limit_rate', type: LEVELS, set: sizeSlot('rate') },
    { name: 'limit_rate_after', type: LEVELS, set: sizeSlot('after') },
  ],
};
