import type { HttpResponse } from './response';
import { A, C, type Cf, type Module } from '../conf/module';
import { ConfError } from '../conf/errors';
import { flagValue, slot } from '../conf/slots';
import { http, typesSlot, type HttpModuleHooks } from './core-conf';
import type { HttpMainConf } from './core-conf';
import type { HttpRequest } from './request';
import type { Variables } from './variables';
import { logError } from './http-context';
import { readMap, recoder, type Charset, type MapTable, type Recoder } from './charset-map';

// ngx_http_charset_filter_module: names the charset in the Content-Type of
// the types in charset_types and, when the source charset differs and a
// charset_map joins the two, recodes the body on its way out.

export const CHARSET = 'http_charset';

/** nginx's NGX_HTTP_CHARSET_OFF and NGX_HTTP_NO_CHARSET. */
const OFF = -2;
const NO_CHARSET = -3;

/** A charset's index in the main conf, OFF, or a variable that names one. */
type CharsetRef = number | { variable: string; vars: Variables };

export interface CharsetMainConf {
  charsets: Charset[];
  tables: MapTable[];
  /** source → destination pairs the locations ask for, checked at postconfiguration */
  recodes: Array<[number, number]>;
}

export interface CharsetLocConf {
  charset?: CharsetRef;
  source?: CharsetRef;
  override?: boolean;
  /** lower-cased MIME types; '*' for any; undefined: the defaults */
  types?: Set<string> | '*';
  main?: CharsetMainConf;
}

const DEFAULT_TYPES = new Set(['text/html', 'text/xml', 'text/plain', 'text/vnd.wap.wml', 'application/javascript', 'application/rss+xml']);

const mainOf = (cf: Cf): CharsetMainConf => (http(cf) as HttpMainConf).ctx.main[CHARSET];

/** ngx_http_add_charset: names compare caselessly; "utf-8" is the multi-byte one. */
function addCharset(mcf: CharsetMainConf, name: string): number {
  const i = findCharset(mcf, name);
  if (i !== NO_CHARSET) return i;
  mcf.charsets.push({ name, utf8: name.toLowerCase() === 'utf-8' });
  return mcf.charsets.length - 1;
}

function findCharset(mcf: CharsetMainConf, name: string): number {
  const l = name.toLowerCase();
  const i = mcf.charsets.findIndex((c) => c.name.toLowerCase() === l);
  return i < 0 ? NO_CHARSET : i;
}

/** ngx_http_set_charset_slot: `off` only for `charset`; "$name" is read per request. */
function charsetSlot(key: 'charset' | 'source') {
  return (cf: Cf, conf: CharsetLocConf): string | undefined => {
    if (conf[key] !== undefined) return 'is duplicate';
    const v = cf.args[0];
    conf.main = mainOf(cf);
    if (key === 'charset' && v === 'off') conf[key] = OFF;
    else if (v.startsWith('$')) {
      const vars = http(cf).variables;
      vars.markUsed(v.slice(1).toLowerCase());
      conf[key] = { variable: v.slice(1).toLowerCase(), vars };
    } else conf[key] = addCharset(conf.main, v);
    return undefined;
  };
}

function mapBlock(cf: Cf, mcf: CharsetMainConf): string | undefined {
  const [a, b] = cf.args;
  const src = addCharset(mcf, a);
  const dst = addCharset(mcf, b);
  if (src === dst) throw cf.error(`"charset_map" between the same charsets "${a}" and "${b}"`);
  // nginx compares with the first table only (it never advances its pointer)
  const t = mcf.tables[0];
  if (t && ((t.src === src && t.dst === dst) || (t.src === dst && t.dst === src))) {
    throw cf.error(`duplicate "charset_map" between "${a}" and "${b}"`);
  }
  mcf.tables.push(readMap(cf, src, dst, mcf.charsets[dst].utf8));
  return undefined;
}

/**
 * ngx_http_charset_postconfiguration: each recode a location needs has its
 * map; then every map is installed both ways, for the charsets a variable
 * or an upstream's X-Accel-Charset names at run time.
 */
function resolveRecodes(mcf: CharsetMainConf): void {
  for (const [src, dst] of mcf.recodes) {
    const t = mcf.tables.find((x) => (x.src === src && x.dst === dst) || (x.src === dst && x.dst === src));
    if (!t) {
      throw new ConfError(`no "charset_map" between the charsets "${mcf.charsets[src].name}" and "${mcf.charsets[dst].name}"`);
    }
  }
  for (const t of mcf.tables) {
    (mcf.charsets[t.src].tables ??= [])[t.dst] = t.src2dst;
    (mcf.charsets[t.dst].tables ??= [])[t.src] = t.dst2src;
  }
}

/** The charset a ref names in this request: an index, NO_CHARSET, or undefined for a variable not found. */
function refCharset(r: HttpRequest, mcf: CharsetMainConf, ref: CharsetRef): [number, string] | undefined {
  if (typeof ref === 'number') return [ref, mcf.charsets[ref].name];
  const name = ref.vars.resolve(ref.variable)?.(r, ref.variable);
  if (name === undefined) return undefined;
  return [findCharset(mcf, name), name];
}

/**
 * A Content-Type that already names its charset (autoindex's xml): nginx
 * keeps that apart (headers_out.charset), nodinx reads it back from the text.
 */
const TYPED = /^([^;]*); charset=(.*)$/;

/** Where X-Accel-Charset leaves its value (nginx's r->headers_out.override_charset). */
const OVERRIDE = 'overrideCharset';

/** ngx_http_upstream_process_charset: the last X-Accel-Charset line wins, an empty one too. */
export function setOverrideCharset(r: HttpRequest, value: string): void {
  r.ctx[OVERRIDE] = value;
}

/** ngx_http_destination_charset: the charset to send, or undefined to leave the response alone. */
function destinationCharset(r: HttpRequest, lcf: CharsetLocConf, mcf: CharsetMainConf, type: string, own: RegExpExecArray | null): [number, string] | undefined {
  const override = r.ctx[OVERRIDE] as string | undefined;
  if (override) {
    // an upstream's choice: neither `charset off` nor charset_types stand in its way
    const i = findCharset(mcf, override);
    if (i !== NO_CHARSET) return [i, override];
    logError(r, 'error', `unknown charset "${override}" to override`, filterAction(r));
    return undefined;
  }
  if (lcf.charset === undefined || lcf.charset === OFF) return undefined;
  if (own ? !lcf.override : !(lcf.types === '*' || (lcf.types ?? DEFAULT_TYPES).has(type.toLowerCase()))) return undefined;
  return refCharset(r, mcf, lcf.charset);
}

/** ngx_http_charset_header_filter */
function charsetFilter(r: HttpRequest): void {
  const out = r.out;
  const type = out.contentType;
  if (type === undefined || type === '') return;
  const lcf = (r.loc ?? r.server?.core.loc)?.confs[CHARSET] as CharsetLocConf | undefined;
  // the charsets are http-wide: a location without charset directives still knows charset_map's
  const mcf = lcf?.main ?? (r.conn.ctx.main.ctx.main[CHARSET] as CharsetMainConf | undefined);
  if (!lcf || !mcf) return;
  // a handler or upstream that named the charset itself has it after the type
  const own = TYPED.exec(type);
  const d = destinationCharset(r, lcf, mcf, type, own);
  if (!d) return;
  const [charset, dst] = d;
  let s: [number, string] | undefined;
  if (own) s = [findCharset(mcf, own[2]), own[2]];
  else if (lcf.source === undefined) s = [OFF, ''];
  else s = refCharset(r, mcf, lcf.source);
  if (!s) return;
  const [source, src] = s;
  const base = own ? own[1] : type;
  const set = (): void => {
    // no charset on a redirect: old browsers kept it for the next page
    out.contentType = r.status === 301 || r.status === 302 ? base : `${base}; charset=${dst}`;
  };
  if (source === OFF) return set();
  if (charset === NO_CHARSET || source === NO_CHARSET) {
    if (source !== charset || src.slice(0, dst.length).toLowerCase() !== dst.toLowerCase()) return noMap(r, src, dst);
    return set();
  }
  if (source === charset) return set();
  const recode = mcf.charsets[source].tables?.[charset];
  if (!recode) return noMap(r, src, dst);
  set();
  // the length changes when UTF-8 is on either side
  if (mcf.charsets[source].utf8 || mcf.charsets[charset].utf8) out.contentLength = -1;
  recodeBody(r, recoder(recode));
}

/**
 * What nginx says it was doing when a header filter logs: the static
 * handler names its action once the file is open (only files allow
 * ranges); a proxied head is still being read from the upstream.
 */
function filterAction(r: HttpRequest): string | undefined {
  if (r.out.allowRanges) return 'sending response to client';
  if ((r.ctx.upstream as { logText?: string } | undefined)?.logText !== undefined) return 'reading response header from upstream';
  return undefined;
}

function noMap(r: HttpRequest, src: string, dst: string): void {
  logError(r, 'error', `no "charset_map" between the charsets "${src}" and "${dst}"`, filterAction(r));
}

type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
type End = (chunk?: unknown, encoding?: unknown, cb?: unknown) => HttpResponse;

const asBuffer = (chunk: unknown, encoding: unknown): Buffer =>
  Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');

/** What is beneath the charset body filter: gzip, which nginx runs after charset, compresses there. */
export interface BodyBelowCharset {
  write: Write;
  end: End;
}

/**
 * The body filter: the response's write and end go through the recoder.
 * nginx's chain runs charset before gzip, both for the head (gzip_min_length
 * sees the length charset left) and the body (gzip deflates recoded bytes).
 * The charset header filter runs first and wraps the response first; gzip
 * then wraps what this wrapper writes to (r.ctx.bodyBelowCharset), so the
 * handler's bytes still meet the recoder first.
 */
function recodeBody(r: HttpRequest, rc: Recoder): void {
  const res = r.res;
  const below: BodyBelowCharset = { write: res.write.bind(res) as Write, end: res.end.bind(res) as End };
  r.ctx.bodyBelowCharset = below;
  const recode = (chunk: unknown, encoding: unknown): Buffer => {
    const b = asBuffer(chunk, typeof encoding === 'function' ? undefined : encoding);
    const out = rc.push(b);
    // handlers count what they hand over; $body_bytes_sent is what went out
    r.bodyBytesSent += out.length - b.length;
    return out;
  };
  (res as unknown as { write: Write }).write = (chunk, encoding, cb) =>
    below.write(recode(chunk, encoding), typeof encoding === 'function' ? encoding : cb);
  (res as unknown as { end: End }).end = (chunk, encoding, cb) => {
    if (typeof chunk === 'function' || chunk === undefined || chunk === null) return below.end(chunk);
    return below.end(recode(chunk, encoding), typeof encoding === 'function' ? encoding : cb);
  };
}

const LEVELS = C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC;

export const charsetModule: Module & HttpModuleHooks = {
  name: CHARSET,
  provides: ['http_charset'],
  type: 'http',
  createMain: (): CharsetMainConf => ({ charsets: [], tables: [], recodes: [] }),
  createLoc: (): CharsetLocConf => ({}),
  mergeLoc(parent: CharsetLocConf, child: CharsetLocConf) {
    child.types ??= parent.types;
    child.override ??= parent.override ?? false;
    child.charset ??= parent.charset ?? OFF;
    child.source ??= parent.source;
    child.main ??= parent.main;
    const { charset, source, main } = child;
    if (typeof charset !== 'number' || typeof source !== 'number' || charset === OFF || charset === source || !main) return;
    if (!main.recodes.some(([s, d]) => s === source && d === charset)) main.recodes.push([source, charset]);
  },
  handlers: { headerFilter: charsetFilter },
  postconfiguration(main: HttpMainConf) {
    resolveRecodes(main.ctx.main[CHARSET] as CharsetMainConf);
  },
  commands: [
    { name: 'charset', type: LEVELS | C.HTTP_LIF | A.TAKE1, set: charsetSlot('charset') },
    { name: 'source_charset', type: LEVELS | C.HTTP_LIF | A.TAKE1, set: charsetSlot('source') },
    { name: 'override_charset', type: LEVELS | C.HTTP_LIF | A.FLAG, set: slot<CharsetLocConf, 'override'>('override', flagValue) },
    { name: 'charset_types', type: LEVELS | A.MORE1, set: typesSlot },
    { name: 'charset_map', type: C.HTTP_MAIN | A.BLOCK | A.TAKE2, level: 'main', set: mapBlock },
  ],
};
