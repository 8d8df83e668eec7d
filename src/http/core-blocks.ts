import { C, type Cf, type Module } from '../conf/module';
import { ConfError } from '../conf/errors';
import { compileRegex, type CompiledRegex } from '../conf/regex';
import { defaultListen } from './listen';
import { buildLocationTree } from './location-tree';
import { httpModules } from './modules';
import { installHandlers } from './phases';
import { addListen, buildAddressMap } from './server-names';
import { Variables } from './variables';
import { CORE, coreLoc, http, type CoreSrvConf, type HttpCtx, type HttpMainConf, type LocationConf } from './core-conf';

// The http, server and location blocks: each gets its modules' confs, its
// children are checked in its context, and when the http block closes the
// levels are merged and the lookup structures built (ngx_http_block).

/**
 * Every field a LocationConf may get, there from the start: V8 keeps an
 * object whose fields are added one by one through computed keys (the
 * setters' slots) in dictionary mode, 1.6 KB each, which made a config of
 * 50,000 locations spend half its load time in the garbage collector.
 */
export function newLocation(name: string, file: string, line: number): LocationConf {
  return {
    name, exact: false, noregex: false, named: false, regex: undefined, regexCaseless: undefined,
    autoRedirect: false, internal: undefined, noname: undefined, confs: {}, parent: undefined, locations: [],
    tree: undefined, file, line, root: undefined, alias: undefined, rootFile: undefined, rootLine: undefined,
    defaultType: undefined, types: undefined, errorPages: undefined, keepaliveTimeout: undefined,
    keepaliveHeader: undefined, keepaliveRequests: undefined, clientMaxBodySize: undefined, sendfile: undefined,
    tcpNopush: undefined, tcpNodelay: undefined, serverTokens: undefined, logNotFound: undefined,
    satisfy: undefined, errorLogs: undefined,
  };
}

export function createCtx(mainFrom?: HttpCtx, srvFrom?: HttpCtx): HttpCtx {
  const ctx: HttpCtx = { main: mainFrom?.main ?? {}, srv: srvFrom?.srv ?? {}, loc: {} };
  for (const m of httpModules()) {
    if (!mainFrom && m.createMain) ctx.main[m.name] = m.createMain();
    if (!srvFrom && m.createSrv) ctx.srv[m.name] = m.createSrv();
    if (m.createLoc) ctx.loc[m.name] = m.createLoc();
  }
  return ctx;
}

/** Named captures become variables; a built-in name is an error there. */
export function defineCaptures(cf: Cf, regex: CompiledRegex): void {
  for (const n of regex.names) {
    try {
      http(cf).variables.defineUser(n);
    } catch (e) {
      if (e instanceof ConfError) throw cf.error(e.reason);
      throw e;
    }
  }
}

export function location(cf: Cf, parent: LocationConf): string | undefined {
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
      loc.regexCaseless = regex.caseless;
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

export function server(cf: Cf): string | undefined {
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
    blockEnd: { file: cf.node.file, line: cf.node.blockEndLine ?? cf.node.endLine },
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
  installHandlers(modules);
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
