import { ConfError } from '../conf/errors';
import type { LocationConf } from './core-module';

// Location lookup with the outcome of ngx_http_core_find_location(): "="
// first, then the longest prefix (descending into its nested locations),
// then, unless that prefix is "^~", regexes in config order. nginx walks a
// binary tree of names; a map per prefix length gives the same answers with
// a handful of lookups per request and is built in linear time.

export interface LocationTree {
  exact: Map<string, LocationConf>;
  /** prefix length → name → location, lengths longest first */
  prefixes: Array<[number, Map<string, LocationConf>]>;
  /** "uri/" → location, for the automatic redirect of "uri" */
  redirects: Map<string, LocationConf>;
  regexes: LocationConf[];
}

export const enum Found {
  /** nothing matched at this level */
  Declined,
  /** a prefix matched */
  Prefix,
  /** an exact or regex location: the search is over */
  Final,
  /** "uri" should be redirected to "uri/" (nginx's NGX_DONE) */
  Redirect,
}

export interface FindResult {
  found: Found;
  loc?: LocationConf;
  /** which precedence rule decided, for `nodinx explain` */
  rule?: string;
  /** the regex location's captures */
  captures?: string[];
  groups?: Record<string, string>;
}

export function buildLocationTree(locations: LocationConf[]): LocationTree {
  const tree: LocationTree = { exact: new Map(), prefixes: [], redirects: new Map(), regexes: [] };
  const byLength = new Map<number, Map<string, LocationConf>>();
  for (const loc of locations) {
    // an `if` block's conf hangs here to be merged; requests reach it through the rewrite script
    if (loc.noname) continue;
    loc.tree = buildLocationTree(loc.locations);
    if (loc.regex) {
      tree.regexes.push(loc);
      continue;
    }
    if (loc.named) continue;
    if (loc.exact) {
      if (tree.exact.has(loc.name)) throw new ConfError(`duplicate location "${loc.name}"`, loc.file, loc.line);
      tree.exact.set(loc.name, loc);
    } else {
      let m = byLength.get(loc.name.length);
      if (!m) byLength.set(loc.name.length, (m = new Map()));
      if (m.has(loc.name)) throw new ConfError(`duplicate location "${loc.name}"`, loc.file, loc.line);
      m.set(loc.name, loc);
    }
  }
  tree.prefixes = [...byLength.entries()].sort((a, b) => b[0] - a[0]);
  // nginx prefers the exact location of a name for the redirect
  for (const loc of locations) {
    if (!loc.autoRedirect || loc.regex || loc.named || !loc.name.endsWith('/')) continue;
    const existing = tree.redirects.get(loc.name);
    if (!existing || loc.exact) tree.redirects.set(loc.name, loc);
  }
  return tree;
}

function longestPrefix(tree: LocationTree, uri: string): LocationConf | undefined {
  for (const [len, names] of tree.prefixes) {
    if (len > uri.length) continue;
    const loc = names.get(len === uri.length ? uri : uri.slice(0, len));
    if (loc) return loc;
  }
  return undefined;
}

/**
 * Finds the location for `uri` below `level` (a server or a location).
 * `tried`, when given, collects every location whose name was compared
 * and matched or was tested as a regex (for `nodinx explain`).
 */
export function findLocation(level: LocationConf, uri: string, tried?: LocationConf[]): FindResult {
  const tree = level.tree;
  if (!tree) return { found: Found.Declined, rule: 'no locations at this level' };
  const exact = tree.exact.get(uri);
  if (exact) {
    tried?.push(exact);
    return { found: Found.Final, loc: exact, rule: 'exact match (=): the search stops' };
  }

  let result: FindResult = { found: Found.Declined };
  let noregex = false;
  const prefix = longestPrefix(tree, uri);
  if (prefix && prefix.name.length === uri.length) {
    result = { found: Found.Prefix, loc: prefix, rule: PREFIX_RULE };
  } else {
    const redirect = uri.length > 0 ? tree.redirects.get(uri + '/') : undefined;
    if (redirect) {
      tried?.push(redirect);
      return { found: Found.Redirect, loc: redirect, rule: 'the URI lacks the trailing slash of a proxied location: 301 to add it' };
    }
    if (prefix) result = { found: Found.Prefix, loc: prefix, rule: PREFIX_RULE };
  }
  if (result.loc) {
    tried?.push(result.loc);
    noregex = result.loc.noregex;
    if (noregex) result.rule = 'longest prefix, marked ^~: regexes are not checked';
    const nested = findLocation(result.loc, uri, tried);
    if (nested.found === Found.Final || nested.found === Found.Redirect) return nested;
    if (nested.loc) result = nested;
  }
  if (!noregex) {
    for (const loc of tree.regexes) {
      tried?.push(loc);
      const m = loc.regex!.regex.exec(uri);
      if (!m) continue;
      const found: FindResult = {
        found: Found.Final, loc, captures: Array.from(m, (x) => x ?? ''), groups: m.groups,
        rule: 'first matching regex in config order: it wins over prefixes',
      };
      const nested = findLocation(loc, uri, tried);
      if (nested.loc) return { ...nested, found: Found.Final };
      return found;
    }
    if (result.loc && tree.regexes.length > 0) result.rule = 'longest matching prefix; no regex matched';
  }
  return result;
}

const PREFIX_RULE = 'longest matching prefix';
