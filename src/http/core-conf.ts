import type { Cf } from '../conf/module';
import type { ErrorLogSpec } from '../conf/core';
import type { CompiledRegex } from '../conf/regex';
import { ConfError } from '../conf/errors';
import { Reason, slot } from '../conf/slots';
import { compileTemplate, Template, Variables, type CompileOptions } from './variables';
import type { ListenConf } from './listen';
import type { LocationTree } from './location-tree';
import type { AddressMap } from './server-names';
import type { HttpRequest, PhaseHandler } from './request';

// The typed model of the http block (ngx_http_core_module's confs) and the
// helpers every http module's setters use.

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
  /** `~*` rather than `~` */
  regexCaseless?: boolean;
  /** set by modules whose location wants "uri" → "uri/" redirects (proxy_pass…) */
  autoRedirect: boolean;
  internal?: boolean;
  /** an `if` block's conf (nginx's noname location): merged, never searched */
  noname?: boolean;
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
  /** how access modules combine (ngx_http_core_module's satisfy) */
  satisfy?: 'all' | 'any';
  errorLogs?: ErrorLogSpec[];
}

export const CORE = 'http_core';

export const coreLoc = (confs: Record<string, any>): LocationConf => confs[CORE];


export const http = (cf: Cf): HttpMainConf => cf.cycle.confs.http;

export { Reason, flagValue as flag } from '../conf/slots';

/**
 * ngx_http_types_slot, as gzip_types and charset_types use it: text/html is
 * always in; each directive adds its MIME types (warning on a repeat); "*"
 * means any type.
 */
export function typesSlot(cf: Cf, conf: { types?: Set<string> | '*' }): string | undefined {
  if (conf.types === '*') return undefined;
  const types = conf.types ?? new Set(['text/html']);
  conf.types = types;
  for (const arg of cf.args) {
    if (arg === '*') {
      conf.types = '*';
      return undefined;
    }
    const t = arg.toLowerCase();
    if (types.has(t)) cf.warn(`duplicate MIME type "${t}"`);
    types.add(t);
  }
  return undefined;
}

/** A directive that may appear once per level and sets one LocationConf field. */
export function once<K extends keyof LocationConf>(key: K, parse: (cf: Cf) => LocationConf[K] | Reason) {
  return slot<LocationConf, K>(key, parse);
}

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

/** Hooks an http module may have beyond nginx's create/merge. */
export interface HttpModuleHooks {
  preconfiguration?(main: HttpMainConf): void;
  postconfiguration?(main: HttpMainConf, cf: { error(reason: string, file?: string, line?: number): ConfError }): void;
  /**
   * What the module adds to request processing, installed once in module
   * order (ngx_http_init_phase_handlers): phase handlers, the directory and
   * file content handlers before static, and a header filter.
   */
  handlers?: {
    serverRewrite?: PhaseHandler;
    rewrite?: PhaseHandler;
    access?: PhaseHandler;
    precontent?: PhaseHandler;
    directory?: PhaseHandler;
    file?: PhaseHandler;
    headerFilter?: (r: HttpRequest) => void;
  };
}
