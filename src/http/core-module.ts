import { A, C, TAKE12, type Cf, type Module } from '../conf/module';
import { parseErrorLog, type ErrorLogSpec } from '../conf/core';
import { parseFlag, parseNumber, parseOffset, parseSize, parseTime } from '../conf/values';
import { compileRegex, type CompiledRegex } from '../conf/regex';
import { ConfError } from '../conf/errors';
import { compileTemplate, staticTemplate, Template, Variables, type CompileOptions } from './variables';
import { defaultListen, parseListen, type ListenConf } from './listen';
import { buildLocationTree, type LocationTree } from './location-tree';
import { httpModules } from './modules';
import { registerCoreVariables } from './core-variables';
import { addListen, buildAddressMap, type AddressMap } from './server-names';

// ngx_http_core_module: the http, server and location blocks and the
// directives every location has.

/** The conf objects of one block, per module name (nginx's ctx arrays). */
export interface HttpCtx {
  main: Record<string, any>;
  srv: Record<string, any>;
  loc: Record<string, any>;
}

export interface HttpMainConf {
  ctx: HttpCtx;
  servers: HttpServerConf[];
  variables: Variables;
  /** filled after the http block: listen sockets and their servers */
  addresses?: AddressMap;
  /** templates to bind once every variable is known */
  templates: Template[];
}

export interface ServerNameConf {
  name: string;
  regex?: CompiledRegex;
}

export interface HttpServerConf {
  ctx: HttpCtx;
  core: CoreSrvConf;
  file: string;
  line: number;
}

export interface CoreSrvConf {
  listens: ListenConf[];
  names: ServerNameConf[];
  /** the location that stands for the server level */
  loc?: LocationConf;
  named: Map<string, LocationConf>;
}

export interface ErrorPageConf {
  codes: number[];
  /** =code given: the new status; 0 for "=" (status from the target) */
  overwrite?: number;
  uri: Template;
}

export interface LocationConf {
  /** "" for the server level, the URI, the regex source, or "@name" */
  name: string;
  exact: boolean;
  noregex: boolean;
  named: boolean;
  regex?: CompiledRegex;
  /** set by modules whose location wants "uri" → "uri/" redirects (proxy_pass…) */
  autoRedirect: boolean;
  internal?: boolean;
  /** every module's conf at this location */
  confs: Record<string, any>;
  parent?: LocationConf;
  locations: LocationConf[];
  tree?: LocationTree;
  file: string;
  line: number;

  root?: Template;
  /** true when `root` came from `alias` */
  alias?: boolean;
  rootFile?: string;
  rootLine?: number;
  defaultType?: string;
  types?: Map<string, string>;
  errorPages?: ErrorPageConf[];
  keepaliveTimeout?: number;
  keepaliveHeader?: number;
  keepaliveRequests?: number;
  clientMaxBodySize?: number;
  sendfile?: boolean;
  tcpNopush?: boolean;
  tcpNodelay?: boolean;
  serverTokens?: 'on' | 'off' | 'build';
  logNotFound?: boolean;
  errorLogs?: ErrorLogSpec[];
}

export const CORE = 'http_core';

export const coreLoc = (confs: Record<string, any>): LocationConf => confs[CORE];

function newLocation(name: string, file: string, line: number): LocationConf {
  return { name, exact: false, noregex: false, named: false, autoRedirect: false, confs: {}, locations: [], file, line };
}

function createCtx(mainFrom?: HttpCtx, srvFrom?: HttpCtx): HttpCtx {
  const ctx: HttpCtx = { main: mainFrom?.main ?? {}, srv: srvFrom?.srv ?? {}, loc: {} };
  for (const m of httpModules()) {
    if (!mainFrom && m.createMain) ctx.main[m.name] = m.createMain();
    if (!srvFrom && m.createSrv) ctx.srv[m.name] = m.createSrv();
    if (m.createLoc) ctx.loc[m.name] = m.createLoc();
  }
  return ctx;
}

const http = (cf: Cf): HttpMainConf => cf.cycle.confs.http;

/** A setter's short reason ("invalid value"), as opposed to a value. */
class Reason {
  constructor(readonly text: string) {}
}

/** A directive that may appear once per level and sets one field. */
function once<K extends keyof LocationConf>(key: K, parse: (cf: Cf) => LocationConf[K] | Reason) {
  return (cf: Cf, conf: LocationConf): string | undefined => {
    if (conf[key] !== undefined) return 'is duplicate';
    const v = parse(cf);
    if (v instanceof Reason) return v.text;
    conf[key] = v;
    return undefined;
  };
}

export function flag(cf: Cf): boolean {
  const v = parseFlag(cf.args[0]);
  if (v === undefined) throw cf.error(`invalid value "${cf.args[0]}" in "${cf.name}" directive, it must be "on" or "off"`);
  return v;
}

/**
 * Directives that have no observable effect in nodinx, accepted as nginx
 * accepts them: the same value checks, and "is duplicate" on one level.
 */
function accepted(name: string, type: number, check?: (cf: Cf) => string | undefined): Module['commands'][number] {
  return {
    name,
    type,
    set(cf, conf: { acceptedSeen?: Set<string> }) {
      conf.acceptedSeen ??= new Set();
      if (conf.acceptedSeen.has(name)) return 'is duplicate';
      conf.acceptedSeen.add(name);
      return check?.(cf);
    },
  };
}

const sizeCheck = (i: number) => (cf: Cf) => (Number.isNaN(parseSize(cf.args[i])) ? 'invalid value' : undefined);

/**
 * ngx_conf_set_path_slot: a path and up to three levels of 1 or 2. nginx
 * creates the directory at start (and -t), so nodinx does too.
 */
const pathCheck = (cf: Cf): string | undefined => {
  for (const level of cf.args.slice(1)) {
    const n = parseNumber(level);
    if (Number.isNaN(n) || n === 0 || n > 2) return 'invalid value';
  }
  (cf.cycle.confs.tempPaths ??= []).push(cf.fullName(cf.args[0]));
  return undefined;
};

/** ngx_conf_set_bufs_slot: "number size", both above zero */
const bufsCheck = (cf: Cf): string | undefined => {
  const num = parseNumber(cf.args[0]);
  const size = parseSize(cf.args[1]);
  return Number.isNaN(num) || num === 0 || Number.isNaN(size) || size === 0 ? 'invalid value' : undefined;
};

/** ngx_http_core_open_file_cache: off | max=N [inactive=time] */
const openFileCacheCheck = (cf: Cf): string | undefined => {
  let max = 0;
  let off = false;
  for (const p of cf.args) {
    if (p.startsWith('max=')) max = parseNumber(p.slice(4));
    else if (p.startsWith('inactive=') && !Number.isNaN(parseTime(p.slice(9), true))) continue;
    else if (p === 'off') off = true;
    else max = NaN;
    if (Number.isNaN(max) || (p.startsWith('max=') && max <= 0)) throw cf.error(`invalid "open_file_cache" parameter "${p}"`);
  }
  if (!off && max === 0) throw cf.error(`"open_file_cache" must have the "max" parameter`);
  return undefined;
};

export function compile(cf: Cf, source: string, opts?: CompileOptions): Template {
  try {
    const t = compileTemplate(source, http(cf).variables, opts);
    http(cf).templates.push(t);
    return t;
  } catch (e) {
    if (e instanceof ConfError) throw cf.error(e.reason);
    throw e;
  }
}

/** Named captures become variables; a built-in name is an error there. */
function defineCaptures(cf: Cf, regex: CompiledRegex): void {
  for (const n of regex.names) {
    try {
      http(cf).variables.defineUser(n);
    } catch (e) {
      if (e instanceof ConfError) throw cf.error(e.reason);
      throw e;
    }
  }
}

function root(cf: Cf, conf: LocationConf): string | undefined {
  const isAlias = cf.name === 'alias';
  if (conf.root !== undefined) {
    if (conf.alias === isAlias) return 'is duplicate';
    throw cf.error(`"${cf.name}" directive is duplicate, "${conf.alias ? 'alias' : 'root'}" directive was specified earlier`);
  }
  if (conf.named && isAlias) throw cf.error(`the "alias" directive cannot be used inside the named location`);
  let value = cf.args[0];
  if (value.includes('$document_root') || value.includes('${document_root}')) {
    throw cf.error(`the $document_root variable cannot be used in the "${cf.name}" directive`);
  }
  if (value.includes('$realpath_root') || value.includes('${realpath_root}')) {
    throw cf.error(`the $realpath_root variable cannot be used in the "${cf.name}" directive`);
  }
  // nginx strips one trailing slash from root (not from alias), keeping "/"
  if (!isAlias && value.length > 1 && value.endsWith('/')) value = value.slice(0, -1);
  const t = compile(cf, value);
  conf.root = t.isStatic ? compile(cf, cf.fullName(value)) : t;
  conf.alias = isAlias;
  conf.rootFile = cf.node.file;
  conf.rootLine = cf.node.endLine;
  return undefined;
}

function location(cf: Cf, parent: LocationConf): string | undefined {
  const ctx = cf.ctx as HttpCtx;
  const args = cf.args;
  const line = cf.node.endLine;
  let name: string;
  const loc = newLocation('', cf.node.file, line);
  let regex: { source: string; caseless: boolean } | undefined;
  if (args.length === 2) {
    const mod = args[0];
    name = args[1];
    if (mod === '=') loc.exact = true;
    else if (mod === '^~') loc.noregex = true;
    else if (mod === '~') regex = { source: name, caseless: false };
    else if (mod === '~*') regex = { source: name, caseless: true };
    else throw cf.error(`invalid location modifier "${mod}"`);
  } else {
    name = args[0];
    if (name.startsWith('=')) {
      name = name.slice(1);
      loc.exact = true;
    } else if (name.startsWith('~')) {
      const caseless = name[1] === '*';
      name = name.slice(caseless ? 2 : 1);
      if (name === '') throw cf.error(`"location" directive requires a modifier and a regex`);
      regex = { source: name, caseless };
    } else if (name.startsWith('@')) {
      loc.named = true;
    }
  }
  loc.name = name;
  if (regex) {
    try {
      loc.regex = compileRegex(regex.source, regex.caseless);
    } catch (e) {
      throw cf.error((e as Error).message);
    }
    defineCaptures(cf, loc.regex);
  }

  if (cf.cmdType === C.HTTP_LOC) {
    if (parent.exact) throw cf.error(`location "${name}" cannot be inside the exact location "${parent.name}"`);
    if (parent.named) throw cf.error(`location "${name}" cannot be inside the named location "${parent.name}"`);
    if (loc.named) throw cf.error(`named location "${name}" can be on the server level only`);
    if (!loc.regex && !name.startsWith(parent.name)) {
      throw cf.error(`location "${name}" is outside location "${parent.name}"`);
    }
  }

  const newCtx: HttpCtx = createCtx(ctx, ctx);
  loc.confs = newCtx.loc;
  newCtx.loc[CORE] = Object.assign(newCtx.loc[CORE], loc);
  const self = coreLoc(newCtx.loc);
  self.parent = parent;
  if (self.named) {
    const srv: CoreSrvConf = ctx.srv[CORE];
    srv.named.set(self.name, self);
  } else {
    parent.locations.push(self);
  }
  cf.block(cf.node.block!, C.HTTP_LOC, 'http', newCtx);
  return undefined;
}

function server(cf: Cf): string | undefined {
  const main = http(cf);
  const ctx = createCtx(main.ctx);
  const loc = coreLoc(ctx.loc);
  loc.confs = ctx.loc;
  const srv: CoreSrvConf = ctx.srv[CORE];
  srv.loc = loc;
  main.servers.push({ ctx, core: srv, file: cf.node.file, line: cf.node.endLine });
  cf.block(cf.node.block!, C.HTTP_SRV, 'http', ctx);
  if (srv.listens.length === 0) {
    const ls = defaultListen({ file: cf.node.file, line: cf.node.endLine });
    srv.listens.push(ls);
    addListen(cf, main, main.servers[main.servers.length - 1], ls);
  }
  if (srv.names.length === 0) srv.names.push({ name: '' });
  return undefined;
}

export function httpBlock(cf: Cf): string | undefined {
  if (cf.cycle.confs.http) return 'is duplicate';
  cf.cycle.confs.core.modulesUsed = true;
  const ctx = createCtx();
  const main: HttpMainConf = { ctx, servers: [], variables: new Variables(), templates: [] };
  cf.cycle.confs.http = main;
  const top = coreLoc(ctx.loc);
  top.confs = ctx.loc;
  for (const m of httpModules()) m.preconfiguration?.(main);
  cf.block(cf.node.block!, C.HTTP_MAIN, 'http', ctx);
  postConfiguration(cf, main);
  return undefined;
}

/** After the http block: merge levels, build location trees and the address map. */
function postConfiguration(cf: Cf, main: HttpMainConf): void {
  const mergeCf = {
    error: (reason: string, file?: string, line?: number) => new ConfError(reason, file, line),
    fullName: (name: string, confPrefix?: boolean) => cf.fullName(name, confPrefix),
  };
  const modules = httpModules();
  for (const s of main.servers) {
    for (const m of modules) {
      if (m.mergeSrv) m.mergeSrv(main.ctx.srv[m.name], s.ctx.srv[m.name], mergeCf);
    }
    mergeLocations(main.ctx.loc, s.ctx.loc, modules, mergeCf);
    for (const named of s.core.named.values()) mergeLocations(s.ctx.loc, named.confs, modules, mergeCf);
  }
  for (const s of main.servers) {
    const loc = s.core.loc!;
    loc.tree = buildLocationTree(loc.locations);
  }
  main.addresses = buildAddressMap(main, (reason, file, line) => {
    cf.cycle.warnings.push(new ConfError(reason, file, line, 'warn'));
  });
  for (const m of modules) m.postconfiguration?.(main, mergeCf);
  main.variables.checkUsed();
  for (const t of main.templates) t.bind();
}

function mergeLocations(
  parent: Record<string, any>,
  child: Record<string, any>,
  modules: ReturnType<typeof httpModules>,
  mergeCf: Parameters<NonNullable<Module['mergeLoc']>>[2],
): void {
  for (const m of modules) if (m.mergeLoc) m.mergeLoc(parent[m.name], child[m.name], mergeCf);
  for (const nested of coreLoc(child).locations) mergeLocations(child, nested.confs, modules, mergeCf);
}

const INHERITED: Array<keyof LocationConf> = [
  'root', 'alias', 'rootFile', 'rootLine', 'defaultType', 'types', 'errorPages', 'keepaliveTimeout', 'keepaliveHeader',
  'keepaliveRequests', 'clientMaxBodySize', 'sendfile', 'tcpNopush', 'tcpNodelay', 'serverTokens', 'logNotFound', 'errorLogs',
];

const DEFAULTS: Partial<LocationConf> = {
  defaultType: 'text/plain',
  keepaliveTimeout: 75000,
  keepaliveHeader: 0,
  keepaliveRequests: 1000,
  clientMaxBodySize: 1024 * 1024,
  sendfile: false,
  tcpNopush: false,
  tcpNodelay: true,
  serverTokens: 'on',
  logNotFound: true,
};

/** ngx_http_module: the `http` block itself is a main-level directive. */
export const httpBlockModule: Module = {
  name: 'http',
  type: 'core',
  commands: [{ name: 'http', type: C.MAIN | A.BLOCK | A.NOARGS, set: httpBlock }],
};

export const httpCoreModule: Module & HttpModuleHooks = {
  name: CORE,
  provides: ['http_core'],
  type: 'http',
  createMain: () => ({}),
  preconfiguration(main: HttpMainConf) {
    registerCoreVariables(main.variables);
  },
  createSrv: (): CoreSrvConf => ({ listens: [], names: [], named: new Map() }),
  createLoc: () => newLocation('', '', 0),
  mergeLoc(parent: LocationConf, child: LocationConf, cf) {
    for (const key of INHERITED) {
      if (child[key] === undefined) (child as any)[key] = parent[key] ?? (DEFAULTS as any)[key];
    }
    // nginx's compiled-in default root is "html" under the prefix
    child.root ??= staticTemplate(cf.fullName('html'));
    child.alias ??= false;
  },
  commands: [
    { name: 'server', type: C.HTTP_MAIN | A.BLOCK | A.NOARGS, level: 'main', set: server },
    { name: 'location', type: C.HTTP_SRV | C.HTTP_LOC | A.BLOCK | TAKE12, set: location },
    {
      name: 'listen',
      type: C.HTTP_SRV | A.MORE1,
      level: 'srv',
      set(cf, srv: CoreSrvConf) {
        const ls = parseListen(cf);
        srv.listens.push(ls);
        const main = http(cf);
        addListen(cf, main, main.servers[main.servers.length - 1], ls);
        return undefined;
      },
    },
    {
      name: 'server_name',
      type: C.HTTP_SRV | A.MORE1,
      level: 'srv',
      set(cf, srv: CoreSrvConf) {
        for (const value of cf.args) {
          if (value.startsWith('~')) {
            if (value.length === 1) throw cf.error(`empty regex in server name "${value}"`);
            let regex: CompiledRegex;
            try {
              regex = compileRegex(value.slice(1), true);
            } catch (e) {
              throw cf.error((e as Error).message);
            }
            defineCaptures(cf, regex);
            srv.names.push({ name: value, regex });
            continue;
          }
          if (value.startsWith('$')) {
            throw cf.error(`server name "${value}" has suspicious symbols`);
          }
          if (/[/\x00-\x1f]/.test(value)) cf.warn(`server name "${value}" has suspicious symbols`);
          srv.names.push({ name: value.toLowerCase() });
        }
        return undefined;
      },
    },
    { name: 'root', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | C.HTTP_LIF | A.TAKE1, set: root },
    { name: 'alias', type: C.HTTP_LOC | A.TAKE1, set: root },
    { name: 'default_type', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, set: once('defaultType', (cf) => cf.args[0]) },
    {
      name: 'types',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.BLOCK | A.NOARGS,
      set(cf, conf: LocationConf) {
        // types is not "duplicate": a second block adds to the first (ngx_http_core_type)
        conf.types ??= new Map();
        for (const node of cf.statements(cf.node.block!)) {
          if (node.block) throw new ConfError(`unexpected "{"`, node.file, node.endLine);
          const type = node.directive;
          for (const ext of node.args) {
            const key = ext.toLowerCase();
            const old = conf.types.get(key);
            if (old !== undefined && old !== type) {
              cf.cycle.warnings.push(new ConfError(
                `duplicate extension "${ext}", content type: "${type}", previous content type: "${old}"`,
                node.file, node.endLine, 'warn'));
            }
            conf.types.set(key, type);
          }
        }
        return undefined;
      },
    },
    {
      name: 'error_page',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | C.HTTP_LIF | A.MORE2,
      set(cf, conf: LocationConf) {
        const args = [...cf.args];
        const uri = args.pop()!;
        let overwrite: number | undefined;
        const last = args[args.length - 1];
        if (last.startsWith('=')) {
          args.pop();
          if (last === '=') overwrite = 0;
          else {
            overwrite = parseNumber(last.slice(1));
            if (Number.isNaN(overwrite) || overwrite === 0) throw cf.error(`invalid value "${last}"`);
          }
          if (args.length === 0) throw cf.error(`invalid number of arguments in "error_page" directive`);
        }
        const codes: number[] = [];
        for (const a of args) {
          const code = parseNumber(a);
          if (Number.isNaN(code)) throw cf.error(`invalid value "${a}"`);
          if (code === 499 || code < 300 || code > 599) throw cf.error(`value "${a}" must be between 300 and 599`);
          codes.push(code);
        }
        conf.errorPages ??= [];
        conf.errorPages.push({ codes, overwrite, uri: compile(cf, uri) });
        return undefined;
      },
    },
    {
      name: 'keepalive_timeout',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | TAKE12,
      set(cf, conf: LocationConf) {
        if (conf.keepaliveTimeout !== undefined) return 'is duplicate';
        const t = parseTime(cf.args[0]);
        if (Number.isNaN(t)) return 'invalid value';
        conf.keepaliveTimeout = t;
        if (cf.args[1] !== undefined) {
          const h = parseTime(cf.args[1], true);
          if (Number.isNaN(h)) return 'invalid value';
          conf.keepaliveHeader = h;
        }
        return undefined;
      },
    },
    {
      name: 'keepalive_requests',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1,
      set: once('keepaliveRequests', (cf) => {
        const n = parseNumber(cf.args[0]);
        return Number.isNaN(n) ? new Reason('invalid number') : n;
      }),
    },
    {
      name: 'client_max_body_size',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1,
      set: once('clientMaxBodySize', (cf) => {
        const n = parseOffset(cf.args[0]);
        return Number.isNaN(n) ? new Reason('invalid value') : n;
      }),
    },
    { name: 'sendfile', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | C.HTTP_LIF | A.FLAG, set: once('sendfile', flag) },
    { name: 'tcp_nopush', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG, set: once('tcpNopush', flag) },
    { name: 'tcp_nodelay', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG, set: once('tcpNodelay', flag) },
    { name: 'log_not_found', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG, set: once('logNotFound', flag) },
    {
      name: 'server_tokens',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1,
      set: once('serverTokens', (cf) => {
        const v = cf.args[0];
        if (v === 'on' || v === 'off' || v === 'build') return v;
        throw cf.error(`invalid value "${v}"`);
      }),
    },
    {
      name: 'internal',
      type: C.HTTP_LOC | A.NOARGS,
      set(cf, conf: LocationConf) {
        if (conf.internal !== undefined) return 'is duplicate';
        conf.internal = true;
        return undefined;
      },
    },
    {
      name: 'error_log',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.MORE1,
      set(cf, conf: LocationConf) {
        conf.errorLogs ??= [];
        conf.errorLogs.push(parseErrorLog(cf));
        return undefined;
      },
    },
    // Buffers, hashes and temp paths tune nginx's memory and disk use; Node
    // manages its own, so these have no observable effect and are accepted.
    accepted('client_body_temp_path', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1 | A.TAKE2 | A.TAKE3 | A.TAKE4, pathCheck),
    accepted('proxy_temp_path', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1 | A.TAKE2 | A.TAKE3 | A.TAKE4, pathCheck),
    accepted('fastcgi_temp_path', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1 | A.TAKE2 | A.TAKE3 | A.TAKE4, pathCheck),
    accepted('uwsgi_temp_path', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1 | A.TAKE2 | A.TAKE3 | A.TAKE4, pathCheck),
    accepted('scgi_temp_path', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1 | A.TAKE2 | A.TAKE3 | A.TAKE4, pathCheck),
    accepted('server_names_hash_max_size', C.HTTP_MAIN | A.TAKE1, sizeCheck(0)),
    accepted('server_names_hash_bucket_size', C.HTTP_MAIN | A.TAKE1, sizeCheck(0)),
    accepted('variables_hash_max_size', C.HTTP_MAIN | A.TAKE1, sizeCheck(0)),
    accepted('variables_hash_bucket_size', C.HTTP_MAIN | A.TAKE1, sizeCheck(0)),
    accepted('types_hash_max_size', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, sizeCheck(0)),
    accepted('types_hash_bucket_size', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, sizeCheck(0)),
    accepted('open_file_cache', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | TAKE12, openFileCacheCheck),
    accepted('open_file_cache_valid', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, (cf) => (Number.isNaN(parseTime(cf.args[0], true)) ? 'invalid value' : undefined)),
    accepted('open_file_cache_min_uses', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, (cf) => (Number.isNaN(parseNumber(cf.args[0])) ? 'invalid number' : undefined)),
    accepted('open_file_cache_errors', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG),
    accepted('open_file_cache_events', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG),
    accepted('client_body_buffer_size', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, sizeCheck(0)),
    accepted('output_buffers', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE2, bufsCheck),
    accepted('postpone_output', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, sizeCheck(0)),
    accepted('sendfile_max_chunk', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, sizeCheck(0)),
    accepted('directio_alignment', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, sizeCheck(0)),
    accepted('msie_padding', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG),
    accepted('reset_timedout_connection', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG),
  ],
};

/** Hooks an http module may have beyond nginx's create/merge. */
export interface HttpModuleHooks {
  preconfiguration?(main: HttpMainConf): void;
  postconfiguration?(main: HttpMainConf, cf: { error(reason: string, file?: string, line?: number): ConfError }): void;
}

