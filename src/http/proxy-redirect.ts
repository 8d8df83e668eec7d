import { C, TAKE12, TAKE1234, type Cf, type Module } from '../conf/module';
import { compileRegex, type CompiledRegex } from '../conf/regex';
import { coreLoc, compile, type HttpCtx, type HttpMainConf, type HttpModuleHooks, type LocationConf } from './core-conf';
import { defineCaptures } from './core-blocks';
import { setNamedCaptures } from './find-config';
import { cookieFlagsRule, cookieRule, rewriteCookie, type CookieFlags, type CookieRules } from './proxy-cookie';
import type { HttpRequest } from './request';
import { staticTemplate, type Template } from './variables';

// proxy_redirect and proxy_cookie_domain/_path/_flags: how nginx's
// proxy module rewrites the Location, Refresh and Set-Cookie headers an
// upstream sends (ngx_http_proxy_rewrite_* in ngx_http_proxy_module.c). The
// proxy module calls rewriteUpstreamHeader for each such header; the rules
// are compiled at load, `proxy_redirect default` is resolved once per
// location after the whole http block is read, as nginx's merge does.

export const PROXY_REWRITE = 'http_proxy_rewrite';

/** The three handlers nginx's rewrites use (ngx_http_proxy_rewrite_pt). */
export type RewriteRule =
  /** ngx_http_proxy_rewrite_complex_handler: a case-sensitive prefix, replaced */
  | { kind: 'prefix'; pattern: Template; replacement: Template }
  /** ngx_http_proxy_rewrite_regex_handler: a match anywhere replaces the whole value */
  | { kind: 'regex'; regex: CompiledRegex; replacement: Template }
  /** ngx_http_proxy_rewrite_domain_handler: the whole value, caseless, a leading "." kept */
  | { kind: 'domain'; pattern: Template; replacement: Template };

export interface ProxyRewriteLocConf {
  /** proxy_redirect: undefined unset, false `off`; after the merge, the merged flag */
  redirect?: boolean;
  /** proxy_redirect rules of this level; after the merge, those in force */
  redirects?: RewriteRule[];
  cookieDomains?: CookieRules;
  cookiePaths?: CookieRules;
  cookieFlags?: CookieFlags;
}

/** What the proxy module keeps of proxy_pass (its loc.confs.http_proxy). */
interface ProxyPassConf {
  pass?: { url: string; variables: boolean; file: string; line: number };
}

/** ngx_http_proxy_rewrite_regex: nginx's regex, its named captures made variables. */
export function compileRewriteRegex(cf: Cf, source: string, caseless: boolean): CompiledRegex {
  let regex: CompiledRegex;
  try {
    regex = compileRegex(source, caseless);
  } catch (e) {
    throw cf.error((e as Error).message);
  }
  defineCaptures(cf, regex);
  return regex;
}

/** ngx_http_proxy_rewrite: value[prefix, prefix+len) becomes the replacement. */
export function replaceAt(value: string, prefix: number, len: number, replacement: string): string {
  return value.slice(0, prefix) + replacement + value.slice(prefix + len);
}

/** One rule on value[prefix..]; undefined when it does not match (NGX_DECLINED). */
export function applyRule(r: HttpRequest, rule: RewriteRule, value: string, prefix = 0): string | undefined {
  const len = value.length - prefix;
  switch (rule.kind) {
    case 'prefix': {
      const pattern = rule.pattern.run(r);
      if (pattern.length > len || !value.startsWith(pattern, prefix)) return undefined;
      return replaceAt(value, prefix, pattern.length, rule.replacement.run(r));
    }
    case 'regex': {
      const m = rule.regex.regex.exec(value.slice(prefix));
      if (!m) return undefined;
      // ngx_http_regex_exec: $1.. and named captures are this match's now
      if (rule.regex.captures > 0) r.captures = Array.from(m, (x) => x ?? '');
      if (m.groups) setNamedCaptures(r, m.groups);
      return replaceAt(value, prefix, len, rule.replacement.run(r));
    }
    case 'domain': {
      const pattern = rule.pattern.run(r);
      const dot = len > 0 && value[prefix] === '.' ? 1 : 0;
      const rest = value.slice(prefix + dot);
      if (pattern.length !== rest.length || pattern.toLowerCase() !== rest.toLowerCase()) return undefined;
      return replaceAt(value, prefix + dot, rest.length, rule.replacement.run(r));
    }
  }
}

/** The URI part of a proxy_pass URL as ngx_parse_url cuts it (ngx_http_proxy_vars_t's uri). */
function uriPart(url: string): string {
  const m = /^https?:\/\//i.exec(url);
  const rest = m ? url.slice(m[0].length) : url;
  if (rest.toLowerCase().startsWith('unix:')) {
    const colon = rest.indexOf(':', 5);
    return colon < 0 ? '' : rest.slice(colon + 1);
  }
  const slash = rest.indexOf('/');
  const query = rest.indexOf('?');
  const at = query >= 0 && (slash < 0 || query < slash) ? query : slash;
  return at < 0 ? '' : rest.slice(at);
}

/**
 * `proxy_redirect default`: the proxy_pass URL becomes the location's name
 * (with a URI part), or URL + "/" becomes "/" (without one; regex, named
 * and `if` locations cannot have one).
 */
function defaultRule(url: string, loc: LocationConf): RewriteRule {
  const withUri = uriPart(url) !== '';
  const location = loc.regex || loc.named || loc.noname ? '' : loc.name;
  return {
    kind: 'prefix',
    pattern: staticTemplate(withUri ? url : url + '/'),
    replacement: staticTemplate(withUri ? location : '/'),
  };
}

/** ngx_http_proxy_redirect */
function proxyRedirect(cf: Cf, conf: ProxyRewriteLocConf): string | undefined {
  if (conf.redirect === false) return 'is duplicate';
  conf.redirect = true;
  const [from, to] = cf.args;
  if (cf.args.length === 1) {
    if (from === 'off') {
      if (conf.redirects) return 'is duplicate';
      conf.redirect = false;
      return undefined;
    }
    if (from !== 'default') throw cf.error(`invalid parameter "${from}"`);
    const ctx = cf.ctx as HttpCtx;
    const pass = (ctx.loc.http_proxy as ProxyPassConf | undefined)?.pass;
    if (pass?.variables) throw cf.error(`"proxy_redirect default" cannot be used with "proxy_pass" directive with variables`);
    if (!pass) throw cf.error(`"proxy_redirect default" should be placed after the "proxy_pass" directive`);
    (conf.redirects ??= []).push(defaultRule(pass.url, coreLoc(ctx.loc)));
    return undefined;
  }
  let rule: RewriteRule;
  if (from.startsWith('~')) {
    const caseless = from[1] === '*';
    rule = { kind: 'regex', regex: compileRewriteRegex(cf, from.slice(caseless ? 2 : 1), caseless), replacement: compile(cf, to) };
  } else {
    rule = { kind: 'prefix', pattern: compile(cf, from), replacement: compile(cf, to) };
  }
  (conf.redirects ??= []).push(rule);
  return undefined;
}

/**
 * The proxy_redirect part of ngx_http_proxy_merge_loc_conf: a level without
 * rules takes its parent's (already merged, so a nested location inherits
 * the parent's `default`), and only then does its own proxy_pass make one.
 */
function mergeRedirect(prev: ProxyRewriteLocConf, conf: ProxyRewriteLocConf, parent: Record<string, any>, child: Record<string, any>): void {
  conf.redirect ??= prev.redirect ?? true;
  if (!conf.redirect) return;
  conf.redirects ??= prev.redirects;
  if (conf.redirects) return;
  // nginx's conf->url is set only by this level's own proxy_pass: an `if`
  // shares its location's, and that is not its own
  const pass = (child.http_proxy as ProxyPassConf | undefined)?.pass;
  const inherited = (parent.http_proxy as ProxyPassConf | undefined)?.pass === pass;
  if (pass && !pass.variables && !inherited) conf.redirects = [defaultRule(pass.url, coreLoc(child))];
}

function mergeLocations(parent: Record<string, any>, child: Record<string, any>): void {
  mergeRedirect(parent[PROXY_REWRITE], child[PROXY_REWRITE], parent, child);
  for (const nested of coreLoc(child).locations) mergeLocations(child, nested.confs);
}

/** How a header was rewritten: `rewritten` is nginx's NGX_OK (a Location then counts as the response's). */
export interface RewrittenHeader {
  value: string;
  rewritten: boolean;
}

/**
 * ngx_http_upstream_rewrite_location / _refresh / _set_cookie with the
 * proxy module's handlers. A Location that was rewritten becomes the
 * response's location in nginx (r->headers_out.location), so a relative
 * one is then made absolute by the header filter; one that was not stays
 * a plain header.
 */
export function rewriteUpstreamHeaderRc(r: HttpRequest, name: string, value: string): RewrittenHeader {
  const conf = r.loc.confs[PROXY_REWRITE] as ProxyRewriteLocConf | undefined;
  let out: string | undefined;
  if (name === 'set-cookie') {
    if (conf) out = rewriteCookie(r, value, conf.cookieDomains, conf.cookiePaths, conf.cookieFlags);
  } else if (conf?.redirect && conf.redirects) {
    let prefix = 0;
    if (name === 'refresh') {
      const at = value.toLowerCase().indexOf('url=');
      if (at < 0) return { value, rewritten: false };
      prefix = at + 4;
    }
    for (const rule of conf.redirects) {
      out = applyRule(r, rule, value, prefix);
      if (out !== undefined) break;
    }
  }
  return out === undefined ? { value, rewritten: false } : { value: out, rewritten: true };
}

/**
 * The contract with the proxy module: the value to send for an upstream's
 * Location, Refresh or Set-Cookie header (name lower-case); null would drop
 * it, which nginx never does.
 */
export function rewriteUpstreamHeader(r: HttpRequest, name: string, value: string): string | null {
  return rewriteUpstreamHeaderRc(r, name, value).value;
}

const LEVELS = C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | TAKE12;

/** proxy_cookie_domain and proxy_cookie_path: one rule list each, parsed alike. */
function cookieSetter(field: 'cookieDomains' | 'cookiePaths', domain: boolean) {
  return (cf: Cf, conf: ProxyRewriteLocConf): string | undefined => {
    const v = cookieRule(cf, conf[field], domain);
    if (typeof v === 'string') return v;
    conf[field] = v;
    return undefined;
  };
}

export const proxyRewriteModule: Module & HttpModuleHooks = {
  name: PROXY_REWRITE,
  type: 'http',
  createLoc: (): ProxyRewriteLocConf => ({}),
  mergeLoc(prev: ProxyRewriteLocConf, conf: ProxyRewriteLocConf) {
    // ngx_conf_merge_ptr_value: `off` (null) stops the inheritance
    if (conf.cookieDomains === undefined) conf.cookieDomains = prev.cookieDomains;
    if (conf.cookiePaths === undefined) conf.cookiePaths = prev.cookiePaths;
    if (conf.cookieFlags === undefined) conf.cookieFlags = prev.cookieFlags;
  },
  postconfiguration(main: HttpMainConf) {
    for (const s of main.servers) {
      mergeLocations(main.ctx.loc, s.ctx.loc);
      for (const named of s.core.named.values()) mergeLocations(s.ctx.loc, named.confs);
    }
  },
  commands: [
    { name: 'proxy_redirect', type: LEVELS, set: (cf, conf) => proxyRedirect(cf, conf) },
    { name: 'proxy_cookie_domain', type: LEVELS, set: cookieSetter('cookieDomains', true) },
    { name: 'proxy_cookie_path', type: LEVELS, set: cookieSetter('cookiePaths', false) },
    {
      name: 'proxy_cookie_flags', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | TAKE1234,
      set(cf, conf: ProxyRewriteLocConf) {
        const v = cookieFlagsRule(cf, conf.cookieFlags);
        if (typeof v === 'string') return v;
        conf.cookieFlags = v;
        return undefined;
      },
    },
  ],
};
