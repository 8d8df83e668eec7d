import type { Cf } from '../conf/module';
import type { CompiledRegex } from '../conf/regex';
import { compile } from './core-conf';
import { setNamedCaptures } from './find-config';
import type { HttpRequest } from './request';
import type { Template } from './variables';
import { applyRule, compileRewriteRegex, type RewriteRule } from './proxy-redirect';

// proxy_cookie_domain, proxy_cookie_path and proxy_cookie_flags
// (ngx_http_proxy_module.c, 1.22):
// a Set-Cookie from the upstream is cut into its attributes; the value of
// each domain= and path= attribute goes through the first rule that matches;
// then the flags of the first proxy_cookie_flags rule naming the cookie are
// set or removed; when anything matched, the header is written again from
// its attributes, joined by "; " (spaces trimmed), otherwise it passes
// unchanged.

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

/** One proxy_cookie_flags: the cookie's name (a value or a caseless regex) and its flags, variables allowed. */
export interface CookieFlagsRule {
  cookie: Template | CompiledRegex;
  flags: Template[];
}

/** undefined: not set at this level; null: `off`. */
export type CookieFlags = CookieFlagsRule[] | null | undefined;

/** ngx_http_proxy_cookie_flags: flags are not checked here; an unknown one is skipped per request, as nginx does. */
export function cookieFlagsRule(cf: Cf, current: CookieFlags): CookieFlags | string {
  if (current === null) return 'is duplicate';
  const [name, ...flags] = cf.args;
  if (flags.length === 0) {
    if (name !== 'off') throw cf.error(`invalid parameter "${name}"`);
    if (current !== undefined) return 'is duplicate';
    return null;
  }
  const cookie = name.startsWith('~') ? compileRewriteRegex(cf, name.slice(1), true) : compile(cf, name);
  return [...(current ?? []), { cookie, flags: flags.map((f) => compile(cf, f)) }];
}

const FLAG = { secureOn: 1, secureOff: 2, httponlyOn: 4, httponlyOff: 8, strict: 16, lax: 32, none: 64, samesiteOff: 128 };
/** ngx_http_proxy_cookie_flags_masks */
const FLAG_NAMES: Record<string, number> = {
  secure: FLAG.secureOn, httponly: FLAG.httponlyOn, 'samesite=strict': FLAG.strict, 'samesite=lax': FLAG.lax,
  'samesite=none': FLAG.none, nosecure: FLAG.secureOff, nohttponly: FLAG.httponlyOff, nosamesite: FLAG.samesiteOff,
};

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

/** ngx_http_proxy_rewrite_cookie_flags: the flags of the first rule whose cookie is this one, 0 if none. */
function cookieFlags(r: HttpRequest, name: string, rules: CookieFlagsRule[]): number {
  const rule = rules.find((rule) => {
    if (!('regex' in rule.cookie)) return rule.cookie.run(r).toLowerCase() === name.toLowerCase();
    const m = rule.cookie.regex.exec(name);
    if (m && rule.cookie.captures > 0) r.captures = Array.from(m, (x) => x ?? '');
    if (m?.groups) setNamedCaptures(r, m.groups);
    return m !== null;
  });
  let f = 0;
  for (const t of rule?.flags ?? []) f |= FLAG_NAMES[t.run(r).toLowerCase()] ?? 0;
  return f;
}

/** ngx_http_proxy_edit_cookie_flags: present flags kept or removed, missing ones added at the end. */
function editFlags(attrs: Array<Attr | undefined>, flags: number): void {
  let f = flags;
  for (let i = 1; i < attrs.length; i++) {
    const a = attrs[i]!;
    const key = a.key.toLowerCase();
    if (key === 'secure') {
      if (f & FLAG.secureOn) f &= ~FLAG.secureOn;
      else if (f & FLAG.secureOff) attrs[i] = undefined;
    } else if (key === 'httponly') {
      if (f & FLAG.httponlyOn) f &= ~FLAG.httponlyOn;
      else if (f & FLAG.httponlyOff) attrs[i] = undefined;
    } else if (key === 'samesite') {
      const want = f & FLAG.strict ? 'Strict' : f & FLAG.lax ? 'Lax' : f & FLAG.none ? 'None' : undefined;
      if (want) {
        f &= ~(f & FLAG.strict ? FLAG.strict : f & FLAG.lax ? FLAG.lax : FLAG.none);
        if ((a.value ?? '').toLowerCase() !== want.toLowerCase()) attrs[i] = { key: 'SameSite', value: want };
      } else if (f & FLAG.samesiteOff) attrs[i] = undefined;
    }
  }
  if (f & FLAG.secureOn) attrs.push({ key: 'Secure' });
  if (f & FLAG.httponlyOn) attrs.push({ key: 'HttpOnly' });
  if (f & (FLAG.strict | FLAG.lax | FLAG.none)) attrs.push({ key: 'SameSite', value: f & FLAG.strict ? 'Strict' : f & FLAG.lax ? 'Lax' : 'None' });
}

/** ngx_http_proxy_rewrite_cookie; undefined when the header is to pass unchanged. */
export function rewriteCookie(r: HttpRequest, header: string, domains: CookieRules, paths: CookieRules, flagRules?: CookieFlags): string | undefined {
  if (!domains && !paths && !flagRules) return undefined;
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
  const all: Array<Attr | undefined> = attrs;
  if (flagRules) {
    const flags = cookieFlags(r, attrs[0].key, flagRules);
    if (flags) {
      editFlags(all, flags);
      changed = true;
    }
  }
  if (!changed) return undefined;
  return all.flatMap((a) => (a ? [a.value === undefined ? a.key : `${a.key}=${a.value}`] : [])).join('; ');
}
