import { A, C, type Cf, type Module } from '../conf/module';
import { ConfError } from '../conf/errors';
import { compileRegex, type CompiledRegex } from '../conf/regex';
import type { ConfNode } from '../conf/parser';
import { parseNumber } from '../conf/values';
import { AddRc, HostHash, lowerAscii } from '../core/hash';
import { compile, http, type HttpModuleHooks } from './core-conf';
import { logError } from './http-context';
import type { HttpRequest } from './request';
import { compileTemplate, type Template, type VariableGetter } from './variables';

// ngx_http_map_module: `map $source $variable { key value; ... }`. The value
// is found when the variable is first read in a request and kept for the
// rest of it (internal redirects included), unless the map is `volatile`.
// Keys are compared case-insensitively: exact keys, then (with `hostnames`)
// the longest "*.suffix"/".suffix", the longest "prefix.*", then the
// regexes in order; `default`, else "".

export interface MapMainConf {
  hashMaxSize?: number;
  hashBucketSize?: number;
}

/** A literal value, or one with variables (and captures of the key's regex). */
type Value = string | Template;

interface MapRegex {
  regex: CompiledRegex;
  /** user-variable slots of the named captures, in `regex.names` order */
  slots: number[];
  value: Value;
}

interface MapCtx {
  source: Template;
  hash: HostHash<Value>;
  regexes: MapRegex[];
  defaultValue?: Value;
  hostnames: boolean;
  volatile: boolean;
}

// ngx_http_variable_depth: nginx gives up on a variable made of itself
// after this many nested evaluations, rather than recurse forever.
let depth = 100;

/** Runs a variable's handler under nginx's guard against cycles ($a made of $b made of $a). */
export function nested(r: HttpRequest, name: string, handler: () => string): string | undefined {
  if (depth === 0) {
    // complex values and log formats fetch a variable twice (its length,
    // then its bytes), and each fetch logs
    logError(r, 'error', `cycle while evaluating variable "${name}"`);
    logError(r, 'error', `cycle while evaluating variable "${name}"`);
    return undefined;
  }
  depth--;
  try {
    return handler();
  } finally {
    depth++;
  }
}

/** ngx_http_regex_exec: on a match, named captures set their variables and $1..$9 change. */
export function regexExec(r: HttpRequest, regex: CompiledRegex, slots: number[], subject: string): boolean {
  const m = regex.regex.exec(subject);
  if (!m) return false;
  for (let i = 0; i < slots.length; i++) r.vars[slots[i]] = m.groups?.[regex.names[i]] ?? '';
  if (regex.captures > 0) r.captures = Array.from(m, (x) => x ?? '');
  return true;
}

/**
 * ngx_http_add_variable(NGX_HTTP_VAR_CHANGEABLE) for the `$name` a map,
 * split_clients or geo defines: its slot, where the value is kept per request.
 */
export function addVariable(cf: Cf, arg: string): { name: string; slot: number } {
  if (arg[0] !== '$') throw cf.error(`invalid variable name "${arg}"`);
  const name = arg.slice(1);
  if (name === '') throw cf.error(`invalid variable name "$"`);
  const vars = http(cf).variables;
  if (!vars.isChangeable(name.toLowerCase())) throw cf.error(`the duplicate "${name}" variable`);
  return { name: name.toLowerCase(), slot: vars.defineUser(name) };
}

/** ngx_http_map_find: exact and wildcard keys on the lower-cased value, then the regexes. */
function find(r: HttpRequest, map: MapCtx, s: string): Value | undefined {
  const v = map.hash.find(lowerAscii(s));
  if (v !== undefined || s === '') return v;
  for (const re of map.regexes) if (regexExec(r, re.regex, re.slots, s)) return re.value;
  return undefined;
}

function mapVariable(map: MapCtx, slot: number, where: { file: string; line: number }): VariableGetter {
  return (r, name) => nested(r, name, () => {
    let s = map.source.run(r);
    if (map.hostnames && s.endsWith('.')) s = s.slice(0, -1);
    const v = find(r, map, s) ?? map.defaultValue ?? '';
    const value = typeof v === 'string' ? v : v.run(r);
    if (!map.volatile) r.vars[slot] = value;
    r.trace?.push({ kind: 'set', where, variable: name, value });
    return value;
  });
}

/** One `key value;` of the block; `top` is the block's statement it came from (an include). */
function mapParam(cf: Cf, map: MapCtx, node: ConfNode, top: ConfNode): void {
  if (node.block) throw new ConfError(`unexpected "{"`, node.file, node.endLine);
  const here = (reason: string): ConfError => new ConfError(reason, node.file, node.endLine);
  // nginx compiles values and regexes with the cf of the map block itself,
  // so their errors name the block's line (that of an include), not the file read
  const outer = (reason: string): ConfError => new ConfError(reason, top.file, top.endLine);
  const key = node.directive;
  if (node.args.length === 0 && (key === 'hostnames' || key === 'volatile')) {
    if (key === 'hostnames') map.hostnames = true;
    else map.volatile = true;
    return;
  }
  if (node.args.length !== 1) throw here('invalid number of the map parameters');
  const vars = http(cf).variables;
  let value: Value;
  try {
    const t = compileTemplate(node.args[0], vars);
    http(cf).templates.push(t);
    value = t.isStatic ? node.args[0] : t;
  } catch (e) {
    throw e instanceof ConfError ? outer(e.reason) : e;
  }
  if (key === 'default') {
    if (map.defaultValue !== undefined) throw here('duplicate default map parameter');
    map.defaultValue = value;
    return;
  }
  if (key.startsWith('~')) {
    const caseless = key[1] === '*';
    let regex: CompiledRegex;
    try {
      regex = compileRegex(key.slice(caseless ? 2 : 1), caseless);
    } catch (e) {
      throw outer((e as Error).message);
    }
    const slots = regex.names.map((n) => {
      if (!vars.isChangeable(n.toLowerCase())) throw outer(`the duplicate "${n}" variable`);
      return vars.defineUser(n);
    });
    map.regexes.push({ regex, slots, value });
    return;
  }
  const k = key.startsWith('\\') ? key.slice(1) : key;
  const rc = map.hash.add(k, value, map.hostnames);
  if (rc === AddRc.Declined) throw here(`invalid hostname or wildcard "${k}"`);
  if (rc === AddRc.Busy) throw here(`conflicting parameter "${lowerAscii(k)}"`);
}

function mapBlock(cf: Cf, conf: MapMainConf): string | undefined {
  // the first map fixes the sizes: a map_hash_* after it is "duplicate"
  conf.hashMaxSize ??= 2048;
  conf.hashBucketSize = conf.hashBucketSize === undefined ? 64 : Math.ceil(conf.hashBucketSize / 64) * 64;
  const map: MapCtx = {
    source: compile(cf, cf.args[0]),
    hash: new HostHash(),
    regexes: [],
    hostnames: false,
    volatile: false,
  };
  const { name, slot } = addVariable(cf, cf.args[1]);
  for (const top of cf.node.block!) {
    for (const node of cf.statements([top])) mapParam(cf, map, node, top);
  }
  const sizes = { name: 'map', maxSize: conf.hashMaxSize, bucketSize: conf.hashBucketSize };
  map.hash.check(sizes, (reason) => cf.cycle.warnings.push(new ConfError(reason, undefined, undefined, 'warn')));
  http(cf).variables.define(name, mapVariable(map, slot, { file: cf.node.file, line: cf.node.endLine }), true);
  return undefined;
}

/** ngx_conf_set_num_slot */
const num = (key: keyof MapMainConf) => (cf: Cf, conf: MapMainConf): string | undefined => {
  if (conf[key] !== undefined) return 'is duplicate';
  const n = parseNumber(cf.args[0]);
  if (Number.isNaN(n)) return 'invalid number';
  conf[key] = n;
  return undefined;
};

export const MAP = 'http_map';

export const mapModule: Module & HttpModuleHooks = {
  name: MAP,
  provides: ['http_map'],
  type: 'http',
  createMain: (): MapMainConf => ({}),
  commands: [
    { name: 'map', type: C.HTTP_MAIN | A.BLOCK | A.TAKE2, level: 'main', set: mapBlock },
    { name: 'map_hash_max_size', type: C.HTTP_MAIN | A.TAKE1, level: 'main', set: num('hashMaxSize') },
    { name: 'map_hash_bucket_size', type: C.HTTP_MAIN | A.TAKE1, level: 'main', set: num('hashBucketSize') },
  ],
};
