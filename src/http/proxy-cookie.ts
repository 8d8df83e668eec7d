import type { Cf } from '../conf/module';
import { compile } from './core-conf';
import type { HttpRequest } from './request';
import { applyRule, compileRewriteRegex, type RewriteRule } from './proxy-redirect';

// proxy_cookie_domain and proxy_cookie_path (ngx_http_proxy_module.c, 1.22):
// a Set-Cookie from the upstream is cut into its attributes; the value of
// each domain= and path= attribute goes through the first rule that matches;
// when one did, the header is written again from its attributes, joined by
// "; " (nginx's spaces trimmed), otherwise it passes unchanged.

/** undefined: not set at this level (inherits); null: `off` (inherits nothing). */
export type CookieRules = RewriteRule[] | null | undefined;

/**
 * ngx_http_proxy_cookie_domain / _path. The two directives share nginx's
 * duplicate checks; they differ in how a plain (not ~) rule matches: a
 * domain is compared whole, caselessly, a leading "." ignored on both sides;
 * a path is a case-sensitive prefix. A domain regex is always caseless
 * (nginx does not read "~*" there), a path one only with "~*".
 */
export function cookieRule(cf: Cf, current: CookieRules, domain: boolean): CookieRules | string {
  if (current === null) return 'is duplicate';
  const [from, to] = cf.args;
  if (cf.args.length === 1) {
    if (from !== 'off') throw cf.error(`invalid parameter "${from}"`);
    if (current !== undefined) return 'is duplicate';
    return null;
  }
  const rules = current ?? [];
  if (from.startsWith('~')) {
    let source = from.slice(1);
    let caseless = domain;
    if (!domain && source.startsWith('*')) {
      source = source.slice(1);
      caseless = true;
    }
    rules.push({ kind: 'regex', regex: compileRewriteRegex(cf, source, caseless), replacement: compile(cf, to) });
  } else if (domain) {
    const strip = (s: string): string => (s.startsWith('.') ? s.slice(1) : s);
    rules.push({ kind: 'domain', pattern: compile(cf, strip(from)), replacement: compile(cf, strip(to)) });
  } else {
    rules.push({ kind: 'prefix', pattern: compile(cf, from), replacement: compile(cf, to) });
  }
  return rules;
}

interface Attr {
  key: string;
  /** undefined: the attribute had no "=" */
  value?: string;
}

/** ngx_http_proxy_parse_cookie: "; "-separated pairs, spaces trimmed around names and values. */
function parseCookie(header: string): Attr[] {
  const attrs: Attr[] = [];
  let start = 0;
  for (;;) {
    let last = header.indexOf(';', start);
    if (last < 0) last = header.length;
    while (start < last && header[start] === ' ') start++;
    let p = start;
    while (p < last && header[p] !== '=') p++;
    const key = header.slice(start, p).replace(/ +$/, '');
    let value: string | undefined;
    if (p < last) {
      p++;
      while (p < last && header[p] === ' ') p++;
      value = header.slice(p, last).replace(/ +$/, '');
    }
    attrs.push({ key, value });
    if (last === header.length) return attrs;
    start = last + 1;
  }
}

/** ngx_http_proxy_rewrite_cookie_value: the first rule that matches rewrites the value. */
function rewriteValue(r: HttpRequest, value: string, rules: RewriteRule[]): string | undefined {
  for (const rule of rules) {
    const v = applyRule(r, rule, value);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** ngx_http_proxy_rewrite_cookie; undefined when the header is to pass unchanged. */
export function rewriteCookie(r: HttpRequest, header: string, domains: CookieRules, paths: CookieRules): string | undefined {
  if (!domains && !paths) return undefined;
  const attrs = parseCookie(header);
  if (attrs[0].value === undefined) return undefined;
  let changed = false;
  for (let i = 1; i < attrs.length; i++) {
    const { key, value } = attrs[i];
    if (value === undefined) continue;
    const k = key.toLowerCase();
    let rules: RewriteRule[] | undefined;
    if (domains && k === 'domain') rules = domains;
    else if (paths && k === 'path') rules = paths;
    if (!rules) continue;
    const v = rewriteValue(r, value, rules);
    if (v !== undefined) {
      attrs[i].value = v;
      changed = true;
    }
  }
  if (!changed) return undefined;
  return attrs.map((a) => (a.value === undefined ? a.key : `${a.key}=${a.value}`)).join('; ');
}
