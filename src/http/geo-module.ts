import { A, C, type Cf, type Module } from '../conf/module';
import { ConfError } from '../conf/errors';
import type { ConfNode } from '../conf/parser';
import { RadixTree } from '../core/radix-tree';
import { forwardedAddr, INADDR_NONE, inetAddr, parseAddr, parseCidr, unmapped, type Addr, type Cidr } from '../core/inet';
import { http, type HttpModuleHooks } from './core-conf';
import { addVariable, nested } from './map-module';
import type { HttpRequest } from './request';
import type { VariableGetter } from './variables';
import { addRange, deleteRange, findRange, type Ranges } from './geo-ranges';

// ngx_http_geo_module: `geo [$address] $variable { … }` — a value by the
// client address (or by an address a variable holds): networks in radix
// trees, longest prefix winning, or with `ranges` address ranges. `proxy`
// networks are trusted to name the client in X-Forwarded-For. nginx 1.22's
// geo has no `volatile`, and binary range bases (FILE.bin) are not read.

interface GeoCtx {
  ranges: boolean;
  tree?: RadixTree<string>;
  tree6?: RadixTree<string>;
  high: Ranges;
  proxies?: Cidr[];
  proxyRecursive: boolean;
}

const NONE_BYTES = Uint8Array.of(255, 255, 255, 255);

/** ngx_http_geo_cidr_value: "255.255.255.255" is taken as itself, not INADDR_NONE. */
function cidrValue(node: ConfNode, net: string, warn: (reason: string) => void): Cidr {
  if (net === '255.255.255.255') return { family: 4, bytes: NONE_BYTES.slice(), prefix: 32 };
  const cidr = parseCidr(net);
  if (!cidr) throw new ConfError(`invalid network "${net}"`, node.file, node.endLine);
  if (cidr.meaningless) warn(`low address bits of ${net} are meaningless`);
  return cidr;
}

/** ngx_http_geo_cidr_add: a network already there takes the new value, with a warning. */
function cidrAdd(ctx: GeoCtx, cidr: Cidr, value: string, net: string, warn: (reason: string) => void): void {
  const tree = cidr.family === 6 ? ctx.tree6! : ctx.tree!;
  if (tree.insert(cidr.bytes, cidr.prefix, value) === 'ok') return;
  const old = tree.find(cidr.bytes);
  warn(`duplicate network "${net}", value: "${value}", old value: "${old}"`);
  tree.delete(cidr.bytes, cidr.prefix);
  tree.insert(cidr.bytes, cidr.prefix, value);
}

function geoCidr(ctx: GeoCtx, node: ConfNode, args: string[], warn: (reason: string) => void): void {
  ctx.tree ??= new RadixTree(32);
  ctx.tree6 ??= new RadixTree(128);
  if (args[0] === 'default') {
    cidrAdd(ctx, { family: 4, bytes: new Uint8Array(4), prefix: 0 }, args[1], 'default', warn);
    cidrAdd(ctx, { family: 6, bytes: new Uint8Array(16), prefix: 0 }, args[1], 'default', warn);
    return;
  }
  const del = args[0] === 'delete';
  const net = del ? args[1] : args[0];
  const cidr = cidrValue(node, net, warn);
  if (!del) return cidrAdd(ctx, cidr, args[1], net, warn);
  const tree = cidr.family === 6 ? ctx.tree6 : ctx.tree;
  if (!tree.delete(cidr.bytes, cidr.prefix)) warn(`no network "${net}" to delete`);
}

/** ngx_http_geo_range: "start-end value", "delete start-end", "default value". */
function geoRange(ctx: GeoCtx, node: ConfNode, args: string[], warn: (reason: string) => void): void {
  const high = ctx.high;
  if (args[0] === 'default') {
    if (high.defaultValue !== undefined) {
      warn(`duplicate default geo range value: "${args[1]}", old value: "${high.defaultValue}"`);
    }
    high.defaultValue = args[1];
    return;
  }
  high.low ??= new Array(0x10000);
  const del = args[0] === 'delete';
  const net = del ? args[1] : args[0];
  const dash = net.indexOf('-');
  const start = dash < 0 ? INADDR_NONE : inetAddr(net.slice(0, dash));
  const end = dash < 0 ? INADDR_NONE : inetAddr(net.slice(dash + 1));
  if (start === INADDR_NONE || end === INADDR_NONE || start > end) {
    throw new ConfError(`invalid range "${net}"`, node.file, node.endLine);
  }
  if (del) {
    if (deleteRange(high, start, end)) warn(`no address range "${net}" to delete`);
    return;
  }
  const overlap = addRange(high, start, end, args[1], (old) => warn(`duplicate range "${net}", value: "${args[1]}", old value: "${old}"`));
  if (overlap) throw new ConfError(`range "${net}" overlaps "${overlap}"`, node.file, node.endLine);
}

/** ngx_http_geo: one statement of the block. */
function geoParam(cf: Cf, ctx: GeoCtx, node: ConfNode): void {
  if (node.block) throw new ConfError(`unexpected "{"`, node.file, node.endLine);
  const warn = (reason: string): void => {
    cf.cycle.warnings.push(new ConfError(reason, node.file, node.endLine, 'warn'));
  };
  const args = [node.directive, ...node.args];
  if (args.length === 1 && args[0] === 'ranges') {
    if (ctx.tree || ctx.tree6) {
      throw new ConfError(`the "ranges" directive must be the first directive inside "geo" block`, node.file, node.endLine);
    }
    ctx.ranges = true;
    return;
  }
  if (args.length === 1 && args[0] === 'proxy_recursive') {
    ctx.proxyRecursive = true;
    return;
  }
  if (args.length !== 2) throw new ConfError('invalid number of the geo parameters', node.file, node.endLine);
  if (args[0] === 'proxy') {
    (ctx.proxies ??= []).push(cidrValue(node, args[1], warn));
    return;
  }
  if (ctx.ranges) geoRange(ctx, node, args, warn);
  else geoCidr(ctx, node, args, warn);
}

/** The X-Forwarded-For lines nginx read (it keeps them all, in order). */
function forwardedFor(r: HttpRequest): string[] {
  const raw = r.req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < Math.min(raw.length, r.headerLimit); i += 2) {
    if (raw[i].length === 15 && raw[i].toLowerCase() === 'x-forwarded-for') out.push(raw[i + 1]);
  }
  return out;
}

/** ngx_http_geo_addr: the address looked up; undefined where nginx looks up INADDR_NONE. */
function geoAddr(r: HttpRequest, ctx: GeoCtx, source: (() => string | undefined) | undefined): Addr | undefined {
  let addr: Addr | undefined;
  if (source) {
    const v = source();
    addr = v === undefined ? undefined : parseAddr(v);
  } else {
    // a unix-socket client has no address to look up
    addr = r.conn.remoteAddr.startsWith('unix:') ? undefined : parseAddr(r.conn.remoteAddr);
  }
  if (!addr) return undefined;
  if (ctx.proxies) {
    const xff = forwardedFor(r);
    if (xff.length > 0) addr = forwardedAddr(addr, xff, ctx.proxies, ctx.proxyRecursive);
  }
  return unmapped(addr);
}

function lookup(ctx: GeoCtx, addr: Addr | undefined): string {
  if (ctx.ranges) {
    const b = addr?.family === 4 ? addr.bytes : NONE_BYTES;
    return findRange(ctx.high, ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0);
  }
  if (addr?.family === 6) return ctx.tree6!.find(addr.bytes) ?? '';
  return ctx.tree!.find(addr ? addr.bytes : NONE_BYTES) ?? '';
}

function geoBlock(cf: Cf): string | undefined {
  const vars = http(cf).variables;
  const args = cf.args;
  let sourceName: string | undefined;
  if (args.length === 2) {
    if (args[0][0] !== '$') throw cf.error(`invalid variable name "${args[0]}"`);
    sourceName = args[0].slice(1).toLowerCase();
    if (sourceName === '') throw cf.error(`invalid variable name "$"`);
    vars.markUsed(sourceName);
  }
  const { name, slot } = addVariable(cf, args[args.length - 1]);
  const ctx: GeoCtx = { ranges: false, high: {}, proxyRecursive: false };
  for (const node of cf.statements(cf.node.block!)) geoParam(cf, ctx, node);
  if (ctx.ranges) {
    ctx.high.low = ctx.high.low?.map((a) => (a && a.length ? a : undefined));
  } else {
    ctx.tree ??= new RadixTree(32);
    ctx.tree6 ??= new RadixTree(128);
    // an explicit default is kept ("busy"), else the value is ""
    ctx.tree.insert(new Uint8Array(4), 0, '');
    ctx.tree6.insert(new Uint8Array(16), 0, '');
  }
  let get: VariableGetter | undefined;
  const source = sourceName === undefined ? undefined : (r: HttpRequest) => (get ??= vars.resolve(sourceName!))?.(r, sourceName!);
  const where = { file: cf.node.file, line: cf.node.endLine };
  vars.define(name, (r, n) => nested(r, n, () => {
    const value = lookup(ctx, geoAddr(r, ctx, source && (() => source(r))));
    r.vars[slot] = value;
    r.trace?.push({ kind: 'set', where, variable: n, value });
    return value;
  }), true);
  return undefined;
}

export const geoModule: Module & HttpModuleHooks = {
  name: 'http_geo',
  provides: ['http_geo'],
  type: 'http',
  commands: [{ name: 'geo', type: C.HTTP_MAIN | A.BLOCK | A.TAKE1 | A.TAKE2, level: 'main', set: geoBlock }],
};
