import { A, C, TAKE12, type Cf, type Module } from '../conf/module';
import { parseErrorLog } from '../conf/core';
import { parseNumber, parseOffset, parseSize, parseTime } from '../conf/values';
import { compileRegex, type CompiledRegex } from '../conf/regex';
import { ConfError } from '../conf/errors';
import { staticTemplate } from './variables';
import { parseListen } from './listen';
import { registerCoreVariables } from './core-variables';
import { addListen } from './server-names';
import { defineCaptures, httpBlock, location, newLocation, server } from './core-blocks';
import {
  compile, CORE, flag, http, once, Reason,
  type CoreSrvConf, type HttpMainConf, type HttpModuleHooks, type LocationConf,
} from './core-conf';

export * from './core-conf';
export { httpBlock } from './core-blocks';

// ngx_http_core_module: the directives of the http, server and location
// levels (the blocks themselves are in core-blocks.ts).

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

const INHERITED: Array<keyof LocationConf> = [
  'root', 'alias', 'rootFile', 'rootLine', 'defaultType', 'types', 'errorPages', 'keepaliveTimeout', 'keepaliveHeader',
  'keepaliveRequests', 'clientMaxBodySize', 'sendfile', 'tcpNopush', 'tcpNodelay', 'serverTokens', 'logNotFound', 'errorLogs', 'satisfy',
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
  satisfy: 'all',
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
      name: 'satisfy',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1,
      // ngx_conf_set_enum_slot: the names compare caselessly
      set: once('satisfy', (cf) => {
        const v = cf.args[0].toLowerCase();
        if (v === 'all' || v === 'any') return v;
        throw cf.error(`invalid value "${cf.args[0]}"`);
      }),
    },
    {
      name: 'internal',
      type: C.HTTP_LOC | A.NOARGS,
      set(_cf, conf: LocationConf) {
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
    // nodinx's own: one of the level's error logs, in JSON (see the core module's)
    {
      name: 'error_log_json',
      type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.MORE1,
      set(cf, conf: LocationConf) {
        conf.errorLogs ??= [];
        conf.errorLogs.push({ ...parseErrorLog(cf), json: true });
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
    // open_file_cache and open_file_cache_valid: open-file-cache.ts
    accepted('open_file_cache_min_uses', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, (cf) => (Number.isNaN(parseNumber(cf.args[0])) ? 'invalid number' : undefined)),
    accepted('open_file_cache_errors', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG),
    accepted('open_file_cache_events', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG),
    accepted('output_buffers', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE2, bufsCheck),
    accepted('postpone_output', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, sizeCheck(0)),
    accepted('sendfile_max_chunk', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, sizeCheck(0)),
    accepted('directio_alignment', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, sizeCheck(0)),
    accepted('msie_padding', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG),
    accepted('reset_timedout_connection', C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG),
  ],
};
