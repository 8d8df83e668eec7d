import type { CompiledRegex } from '../conf/regex';
import type { LocationConf } from './core-conf';
import { DONE, type HttpRequest, type Outcome } from './request';
import type { Template } from './variables';
import type { Where } from './trace';
import { logError } from './http-context';
import { setNamedCaptures } from './find-config';
import { sendHeader } from './header-filter';
import { contentType } from './static-module';
import { errText } from './access-log';
import { discardRequestBody } from './request-body';
import { openFileInfo } from './try-files';

// The rewrite module's script (ngx_http_script.c's codes): the directives
// of one level compiled in the order they stand, `if` bodies nested in
// place, run once per phase by the engine below. nginx jumps over a false
// `if` in one flat array; a tree says the same and reads better.

export const REWRITE = 'http_rewrite';

export interface RewriteLocConf {
  /** this level's script; never inherited: a level without one runs none */
  codes?: Op[];
  /** rewrite_log */
  log?: boolean;
  /** uninitialized_variable_warn */
  uninitializedWarn?: boolean;
}

export type Op = RewriteOp | ReturnOp | SetOp | BreakOp | IfOp;

export interface RewriteOp {
  op: 'rewrite';
  where: Where;
  regex: CompiledRegex;
  /** the replacement up to its first literal "?" (all of it for a redirect) */
  uri: Template;
  /** after that "?": the new arguments */
  args?: Template;
  flag?: string;
  /** 301 or 302 for a redirect, 0 for a new URI */
  redirect: number;
  /** the request's arguments are kept (the replacement does not end in "?") */
  addArgs: boolean;
  /** a redirect with a "?" of its own: kept arguments follow with "&" */
  argsInReplacement: boolean;
  /** last, break, or a redirect: the script ends here */
  stop: boolean;
  /** the break flag: stay in this location */
  breakCycle: boolean;
}

export interface ReturnOp {
  op: 'return';
  where: Where;
  code: number;
  text?: Template;
}

export interface SetOp {
  op: 'set';
  where: Where;
  name: string;
  value: Template;
  /** r.vars slot of a variable `set` owns */
  slot?: number;
  /** a built-in with a set handler ($args) */
  setter?: (r: HttpRequest, value: string) => void;
}

export interface BreakOp {
  op: 'break';
  where: Where;
}

export interface IfOp {
  op: 'if';
  where: Where;
  /** the condition as written, for explain */
  text: string;
  cond: Condition;
  /** inside a location: the `if` block's conf, which becomes the request's when true */
  loc?: LocationConf;
  body: Op[];
}

export type Condition =
  | { kind: 'var'; variable: Template }
  | { kind: 'eq' | 'ne'; variable: Template; value: Template }
  | { kind: 'regex'; variable: Template; regex: CompiledRegex; negative: boolean }
  | { kind: 'file'; test: 'f' | 'd' | 'e' | 'x'; negative: boolean; value: Template };

/** ngx_http_script_engine_t: what one run of a script shares. */
export interface Engine {
  r: HttpRequest;
  /** rewrite_log of the level the script started in */
  log: boolean;
  /** what the phase handler returns; undefined goes on */
  status: Outcome;
  /** r->uri_changed: the location must be searched again */
  uriChanged: boolean;
  /** for explain: what changed the URI last ("rewrite last", "rewrite") */
  reason?: string;
}

/**
 * Runs ops in order; true when the script exits (return, break, last, a
 * redirect...). Only a file test (`if (-f ...)`) waits for the disk: the
 * rest of a script answers at once, without a promise, and a script turns
 * asynchronous from the op that has to wait.
 */
export function runScript(ops: Op[], e: Engine, from = 0): boolean | Promise<boolean> {
  for (let i = from; i < ops.length; i++) {
    const op = ops[i];
    switch (op.op) {
      case 'rewrite':
        if (rewrite(op, e)) return true;
        break;
      case 'return':
        e.r.trace?.push({ kind: 'return', where: op.where, code: op.code, text: op.text?.source });
        e.status = sendReturn(op, e.r);
        return true;
      case 'set': {
        const value = op.value.run(e.r);
        e.r.trace?.push({ kind: 'set', where: op.where, variable: op.name, value });
        if (op.setter) op.setter(e.r, value);
        else e.r.vars[op.slot!] = value;
        break;
      }
      case 'break':
        e.r.trace?.push({ kind: 'break', where: op.where });
        if (e.uriChanged) {
          e.r.ctx.invalidLocation = true;
          e.uriChanged = false;
        }
        return true;
      case 'if': {
        const result = op.cond.kind === 'file' ? fileTest(op.cond, e.r) : test(op.cond, e);
        if (result instanceof Promise) return result.then((v) => afterIf(ops, i, e, v));
        return afterIf(ops, i, e, result);
      }
    }
  }
  return false;
}


/** An `if` whose condition is known: its block when true; true when the block exits the script. */
function ifBlock(op: IfOp, e: Engine, result: boolean): boolean | Promise<boolean> {
  e.r.trace?.push({ kind: 'if', where: op.where, condition: op.text, result });
  if (!result) return false;
  if (op.loc) e.r.loc = op.loc;
  return runScript(op.body, e);
}

/** The script from an `if` whose condition is known: its block, then the ops after it. */
function afterIf(ops: Op[], i: number, e: Engine, result: boolean): boolean | Promise<boolean> {
  const body = ifBlock(ops[i] as IfOp, e, result);
  if (body instanceof Promise) return body.then((exit) => exit || runScript(ops, e, i + 1));
  return body || runScript(ops, e, i + 1);
}

/** ngx_http_regex_exec with the script's notices: $1..$9 are this regex's groups now, none after a miss. */
function regexExec(e: Engine, re: CompiledRegex, line: string): boolean {
  const r = e.r;
  const m = re.regex.exec(line);
  if (!m) {
    if (e.log) logError(r, 'notice', `"${re.source}" does not match "${line}"`);
    r.captures = undefined;
    return false;
  }
  if (m.groups) setNamedCaptures(r, m.groups);
  r.captures = Array.from(m, (x) => x ?? '');
  if (e.log) logError(r, 'notice', `"${re.source}" matches "${line}"`);
  return true;
}

/** ngx_http_script_regex_start_code and _end_code for `rewrite`. */
function rewrite(op: RewriteOp, e: Engine): boolean {
  const r = e.r;
  const matched = regexExec(e, op.regex, r.uri);
  if (!matched) {
    r.trace?.push({ kind: 'rewrite', where: op.where, regex: op.regex.source, matched: false });
    return false;
  }
  if (op.redirect) {
    let location = unescapeRedirect(expand(op.uri, r, true));
    if (op.addArgs && r.args !== '') location += (op.argsInReplacement ? '&' : '?') + r.args;
    if (e.log) logError(r, 'notice', `rewritten redirect: "${location}"`);
    r.trace?.push({ kind: 'rewrite', where: op.where, regex: op.regex.source, matched: true, uri: location, flag: op.flag ?? 'redirect' });
    r.out.location = location;
    e.status = op.redirect;
    return true;
  }
  // the whole replacement is built before the request changes ($uri, $args in it are the old ones)
  const uri = expand(op.uri, r, false);
  let args = r.args;
  if (op.args) {
    args = expand(op.args, r, true);
    if (op.addArgs && r.args !== '') args += '&' + r.args;
  } else if (!op.addArgs) args = '';
  // arguments nginx has set stay "found" when emptied ($args "" rather than "-")
  const found = op.args !== undefined || r.argsFound === true || r.args !== '';
  r.internal = true;
  if (op.breakCycle) {
    r.ctx.invalidLocation = true;
    e.uriChanged = false;
  } else {
    e.uriChanged = true;
    e.reason = op.flag === 'last' ? 'rewrite last' : 'rewrite';
  }
  if (args !== r.args) {
    r.args = args;
    r.hasArgs = args !== '';
  }
  r.argsFound = found;
  if (e.log) logError(r, 'notice', `rewritten data: "${uri}", args: "${args}"`);
  r.trace?.push({ kind: 'rewrite', where: op.where, regex: op.regex.source, matched: true, uri, flag: op.flag });
  r.uri = uri;
  r.filename = undefined;
  if (uri === '') {
    logError(r, 'error', 'the rewritten URI has a zero length');
    e.status = 500;
    return true;
  }
  return op.stop;
}

/**
 * A replacement's value. Captures are escaped for arguments and redirects
 * when the client's URI had escapes or "+" (r->quoted_uri, r->plus_in_uri):
 * its decoded bytes go back where they must be escaped again.
 */
function expand(t: Template, r: HttpRequest, quote: boolean): string {
  if (!quote || !t.hasCaptures || !quotedUri(r)) return t.run(r);
  t.bind();
  let out = '';
  for (const p of t.parts) {
    if (typeof p === 'string') out += p;
    else if (p.capture !== undefined) out += escapeArgs(r.captures?.[p.capture] ?? '');
    else out += p.get?.(r, p.name) ?? '';
  }
  return out;
}

function quotedUri(r: HttpRequest): boolean {
  const raw = r.requestUri;
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  return path.includes('%') || path.includes('+');
}

const HEX = '0123456789ABCDEF';

/** ngx_escape_uri's NGX_ESCAPE_ARGS table (nginx 1.22): bit set = escaped. */
const ARGS = [0xffffffff, 0xd800086d, 0x50000000, 0xb8000001, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];

export function escapeArgs(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += ARGS[c >> 5] & (1 << (c & 0x1f)) ? '%' + HEX[c >> 4] + HEX[c & 0xf] : s[i];
  }
  return out;
}

const hexValue = (c: number): number => {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
};

/**
 * ngx_unescape_uri(NGX_UNESCAPE_REDIRECT): escapes of printable characters
 * above "%" are decoded up to the first "?", the rest is left as it is; a
 * broken escape is dropped, as nginx drops it.
 */
export function unescapeRedirect(s: string): string {
  let out = '';
  let state = 0;
  let first = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (state === 0) {
      if (ch === 0x3f) return out + s.slice(i);
      if (ch === 0x25) state = 1;
      else out += s[i];
      continue;
    }
    if (state === 1) {
      first = hexValue(ch);
      if (first >= 0) state = 2;
      else {
        state = 0;
        out += s[i];
      }
      continue;
    }
    state = 0;
    const second = hexValue(ch);
    if (second < 0) continue;
    const c = (first << 4) + second;
    // a "?" decoded from letters ends the decoding, as a literal one does
    if (c === 0x3f && ch > 0x39) return out + '?' + s.slice(i + 1);
    out += c > 0x25 && c < 0x7f ? String.fromCharCode(c) : '%' + s[i - 1] + s[i];
  }
  return out;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** ngx_http_script_return_code and ngx_http_send_response. */
function sendReturn(op: ReturnOp, r: HttpRequest): Outcome {
  const text = op.text && !(op.text.isStatic && op.text.source === '') ? op.text : undefined;
  // a bare error code goes to error_page and the built-in pages
  if (op.code >= 400 && !text) return op.code;
  const discarded = discardRequestBody(r);
  if (discarded !== undefined) return discarded;
  // ngx_http_send_response sets the status before it evaluates the text: "$status" in it is the code
  r.status = op.code;
  const value = text ? text.run(r) : '';
  if (REDIRECTS.has(op.code)) {
    r.out.location = value;
    return op.code;
  }
  r.out.contentLength = value.length;
  r.out.contentType ??= contentType(r.loc, r.uri);
  const rc = sendHeader(r);
  if (rc !== DONE) return rc;
  if (!r.headerOnly && value.length > 0) {
    r.bodyBytesSent += value.length;
    r.res.end(value, 'latin1');
  } else r.res.end();
  return DONE;
}

/** The value an `if` tests: "" and "0" are false (ngx_http_script_if_code). */
function test(c: Exclude<Condition, { kind: 'file' }>, e: Engine): boolean {
  const r = e.r;
  switch (c.kind) {
    case 'var': {
      const v = c.variable.run(r);
      return v !== '' && v !== '0';
    }
    case 'eq':
      return c.variable.run(r) === c.value.run(r);
    case 'ne':
      return c.variable.run(r) !== c.value.run(r);
    case 'regex':
      return regexExec(e, c.regex, c.variable.run(r)) !== c.negative;
  }
}

/** ngx_http_script_file_code: -f -d -e -x and their negations. */
async function fileTest(c: Extract<Condition, { kind: 'file' }>, r: HttpRequest): Promise<boolean> {
  const p = c.value.run(r);
  const info = await openFileInfo(p);
  if (info instanceof Error) {
    const code = info.code;
    if (code !== undefined && code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENAMETOOLONG' && info.errno !== undefined) {
      logError(r, 'crit', `open() "${p}" failed (${errText(info)})`);
    }
    return c.negative;
  }
  let yes: boolean;
  switch (c.test) {
    case 'f': yes = info.isFile; break;
    case 'd': yes = info.isDir; break;
    // what open() reaches is never a link; a device or a socket does not "exist" for nginx
    case 'e': yes = info.isFile || info.isDir; break;
    case 'x': yes = info.isExec; break;
  }
  return yes !== c.negative;
}
