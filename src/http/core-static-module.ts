import { A, C, TAKE12, type Cf, type Command, type Module } from '../conf/module';
import { flagValue, slot } from '../conf/slots';
import { compile, type HttpServerConf, type LocationConf } from './core-conf';

// The directives of ngx_http_core_module that shape what nginx itself says
// about a static answer: whether it gets an ETag, how If-Modified-Since is
// compared, how the Location of a redirect nginx makes is written, whether
// error_page may chain. They live apart from core-module.ts as their own
// conf, read by the static handler and the header filters.

export const CORE_STATIC = 'http_core_static';

export type IfModifiedSince = 'off' | 'exact' | 'before';

export interface StaticLocConf {
  etag?: boolean;
  ifModifiedSince?: IfModifiedSince;
  absoluteRedirect?: boolean;
  portInRedirect?: boolean;
  serverNameInRedirect?: boolean;
  recursiveErrorPages?: boolean;
  /** nodinx follows symlinks as nginx's default does: only "off" is accepted */
  disableSymlinks?: 'off';
}

const DEFAULTS: Required<StaticLocConf> = {
  etag: true,
  ifModifiedSince: 'exact',
  absoluteRedirect: true,
  portInRedirect: true,
  serverNameInRedirect: false,
  recursiveErrorPages: false,
  disableSymlinks: 'off',
};

/**
 * The merged conf of a location; a request refused before a location was
 * found (a bad request line) has nginx's defaults.
 */
export function staticLocConf(loc: LocationConf | undefined): Required<StaticLocConf> {
  return (loc?.confs[CORE_STATIC] as Required<StaticLocConf> | undefined) ?? DEFAULTS;
}

/**
 * cscf->server_name: the first name of the server, a regex with its "~",
 * ".example.com" without its dot; "" for a server without names.
 */
export function primaryServerName(s: HttpServerConf): string {
  const first = s.core.names[0];
  if (!first) return '';
  return !first.regex && first.name.startsWith('.') ? first.name.slice(1) : first.name;
}

/** ngx_conf_set_enum_slot: the names compare caselessly. */
function imsValue(cf: Cf): IfModifiedSince {
  const v = cf.args[0].toLowerCase();
  if (v === 'off' || v === 'exact' || v === 'before') return v;
  throw cf.error(`invalid value "${cf.args[0]}"`);
}

/**
 * ngx_http_disable_symlinks, with nginx's checks and messages; "on" and
 * "if_not_owner" need openat() walks nodinx does not do.
 */
function disableSymlinks(cf: Cf, conf: StaticLocConf & { symlinksSeen?: boolean }): string | undefined {
  if (conf.symlinksSeen) return 'is duplicate';
  conf.symlinksSeen = true;
  let mode: string | undefined;
  let from = false;
  for (const v of cf.args) {
    if (v === 'off' || v === 'on' || v === 'if_not_owner') mode = v;
    else if (v.startsWith('from=')) {
      compile(cf, v.slice(5));
      from = true;
    } else throw cf.error(`invalid parameter "${v}"`);
  }
  if (mode === undefined) throw cf.error(`"${cf.name}" must have "off", "on" or "if_not_owner" parameter`);
  if (cf.args.length === 2) {
    if (!from) throw cf.error(`duplicate parameters "${cf.args[0]} ${cf.args[1]}"`);
    if (mode === 'off') throw cf.error(`"from=" cannot be used with "off" parameter`);
  }
  if (mode !== 'off') throw cf.error(`the "${mode}" parameter of "${cf.name}" is not supported by nodinx`);
  conf.disableSymlinks = 'off';
  return undefined;
}

const ANY_LOC = C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC;

const flagCommand = (name: string, key: keyof StaticLocConf): Command => ({
  name, type: ANY_LOC | A.FLAG, set: slot<StaticLocConf, typeof key>(key, flagValue as (cf: Cf) => never),
});

export const coreStaticModule: Module = {
  name: CORE_STATIC,
  type: 'http',
  createLoc: (): StaticLocConf => ({}),
  mergeLoc(parent: StaticLocConf, child: StaticLocConf) {
    for (const key of Object.keys(DEFAULTS) as Array<keyof StaticLocConf>) {
      if (child[key] === undefined) (child as Record<string, unknown>)[key] = parent[key] ?? DEFAULTS[key];
    }
  },
  commands: [
    flagCommand('etag', 'etag'),
    { name: 'if_modified_since', type: ANY_LOC | A.TAKE1, set: slot<StaticLocConf, 'ifModifiedSince'>('ifModifiedSince', imsValue) },
    flagCommand('absolute_redirect', 'absoluteRedirect'),
    flagCommand('port_in_redirect', 'portInRedirect'),
    flagCommand('server_name_in_redirect', 'serverNameInRedirect'),
    flagCommand('recursive_error_pages', 'recursiveErrorPages'),
    { name: 'disable_symlinks', type: ANY_LOC | TAKE12, set: disableSymlinks },
  ],
};
