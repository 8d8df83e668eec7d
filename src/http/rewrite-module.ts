import { A, C, TAKE12, TAKE23, type Cf, type Module } from '../conf/module';
import { ConfError } from '../conf/errors';
import { compileRegex, type CompiledRegex } from '../conf/regex';
import { flagValue, slot } from '../conf/slots';
import { parseNumber } from '../conf/values';
import { compile, http, type HttpModuleHooks } from './core-module';
import { defineCaptures } from './core-blocks';
import type { HttpRequest, Outcome } from './request';
import { Template, type Variables } from './variables';
import { logError } from './http-context';
import { ifBlock } from './rewrite-if';
import { REWRITE, runScript, type Engine, type Op, type RewriteLocConf, type RewriteOp, type SetOp } from './rewrite-script';
import { setLimitRateVariable } from './limit-rate';

// ngx_http_rewrite_module: rewrite, return, set, break, if, rewrite_log and
// uninitialized_variable_warn. The directives of a level compile into one
// script (rewrite-script.ts), which the server rewrite phase runs for the
// server level and the rewrite phase for the location found.

export { REWRITE, type RewriteLocConf } from './rewrite-script';

const SCRIPT = C.HTTP_SRV | C.HTTP_SIF | C.HTTP_LOC | C.HTTP_LIF;

const where = (cf: Cf) => ({ file: cf.node.file, line: cf.node.endLine });

function push(conf: RewriteLocConf, op: Op): undefined {
  (conf.codes ??= []).push(op);
  return undefined;
}

const isUrl = (s: string): boolean => s.startsWith('http://') || s.startsWith('https://') || s.startsWith('$scheme');

/** ngx_http_rewrite: the checks in nginx's order, then the replacement split at its first "?". */
function rewrite(cf: Cf, conf: RewriteLocConf): string | undefined {
  const [pattern, replacement, flag] = cf.args;
  if (replacement === '') throw cf.error('empty replacement');
  let regex: CompiledRegex;
  try {
    regex = compileRegex(pattern, false);
  } catch (e) {
    throw cf.error((e as Error).message);
  }
  defineCaptures(cf, regex);
  // a last "?" drops the request's arguments
  const addArgs = !replacement.endsWith('?');
  const source = addArgs ? replacement : replacement.slice(0, -1);
  let redirect = isUrl(source) ? 302 : 0;
  let stop = redirect !== 0;
  let breakCycle = false;
  if (flag !== undefined) {
    if (flag === 'last') stop = true;
    else if (flag === 'break') breakCycle = stop = true;
    else if (flag === 'redirect') (redirect = 302), (stop = true);
    else if (flag === 'permanent') (redirect = 301), (stop = true);
    else throw cf.error(`invalid parameter "${flag}"`);
  }
  const t = compile(cf, source);
  const op: RewriteOp = {
    op: 'rewrite', where: where(cf), regex, uri: t, flag, redirect, addArgs, argsInReplacement: false, stop, breakCycle,
  };
  const parts = t.parts;
  const at = parts.findIndex((p) => typeof p === 'string' && p.includes('?'));
  if (redirect) op.argsInReplacement = at >= 0;
  else if (at >= 0) {
    // an internal rewrite's first literal "?" starts the new arguments
    const text = parts[at] as string;
    const q = text.indexOf('?');
    const vars = http(cf).variables;
    const piece = (list: typeof parts) => {
      const nonEmpty = list.filter((p) => p !== '');
      const sub = new Template(source, nonEmpty.length > 0 ? nonEmpty : [''], vars);
      http(cf).templates.push(sub);
      return sub;
    };
    op.uri = piece([...parts.slice(0, at), text.slice(0, q)]);
    op.args = piece([text.slice(q + 1), ...parts.slice(at + 1)]);
  }
  return push(conf, op);
}

/** ngx_http_rewrite_return: a code (0..999) and text, or a URL for a 302. */
function ret(cf: Cf, conf: RewriteLocConf): string | undefined {
  const [first, second] = cf.args;
  let code = parseNumber(first);
  let text: Template | undefined;
  if (Number.isNaN(code)) {
    if (second !== undefined || !isUrl(first)) throw cf.error(`invalid return code "${first}"`);
    code = 302;
    text = compile(cf, first);
  } else {
    if (code > 999) throw cf.error(`invalid return code "${first}"`);
    if (second !== undefined) text = compile(cf, second);
  }
  return push(conf, { op: 'return', where: where(cf), code, text });
}

/** Built-ins `set` may assign that keep their value elsewhere (nginx's set_handler). */
const SETTERS: Record<string, (r: HttpRequest, value: string) => void> = {
  args: (r, value) => {
    r.args = value;
    r.hasArgs = value !== '';
    r.argsFound = true;
  },
  limit_rate: setLimitRateVariable,
};

/**
 * A variable only `set` gives a value: read before any `set` ran, it is ""
 * and, with uninitialized_variable_warn, a warning (ngx_http_rewrite_var).
 */
function defineSetVariable(vars: Variables, name: string, index: number): void {
  vars.define(name, (r) => {
    const v = r.vars[index];
    if (v !== undefined) return v;
    const conf = r.loc?.confs[REWRITE] as RewriteLocConf | undefined;
    if (conf?.uninitializedWarn !== false) logError(r, 'warn', `using uninitialized "${name}" variable`);
    return '';
  }, true);
}

/** ngx_http_rewrite_set. */
function set(cf: Cf, conf: RewriteLocConf): string | undefined {
  const [raw, value] = cf.args;
  if (raw[0] !== '$') throw cf.error(`invalid variable name "${raw}"`);
  const name = raw.slice(1).toLowerCase();
  if (name === '') throw cf.error('invalid variable name "$"');
  const vars = http(cf).variables;
  const op = { op: 'set', where: where(cf), name } as SetOp;
  if (SETTERS[name] && vars.has(name)) op.setter = SETTERS[name];
  else {
    try {
      op.slot = vars.defineUser(name);
    } catch (e) {
      if (e instanceof ConfError) throw cf.error(e.reason);
      throw e;
    }
    if (!vars.has(name)) defineSetVariable(vars, name, op.slot);
  }
  op.value = compile(cf, value);
  return push(conf, op);
}

/** Runs a level's script; in the rewrite phase a changed URI means searching the location again. */
function run(r: HttpRequest, conf: RewriteLocConf, locationPhase: boolean): Outcome | Promise<Outcome> {
  const e: Engine = { r, log: conf.log === true, status: undefined, uriChanged: false };
  const ran = runScript(conf.codes!, e);
  return ran instanceof Promise ? ran.then(() => scriptDone(r, e, locationPhase)) : scriptDone(r, e, locationPhase);
}

function scriptDone(r: HttpRequest, e: Engine, locationPhase: boolean): Outcome {
  if (e.status !== undefined) return e.status;
  if (!locationPhase || !e.uriChanged) return undefined;
  r.trace?.push({ kind: 'internal-redirect', reason: e.reason!, uri: r.args !== '' ? `${r.uri}?${r.args}` : r.uri });
  return { kind: 'find' };
}

function serverRewrite(r: HttpRequest): Outcome | Promise<Outcome> {
  // every (re)start of the phases trusts the location again (ngx_http_handler)
  if (r.ctx.invalidLocation) r.ctx.invalidLocation = false;
  const conf = r.loc.confs[REWRITE] as RewriteLocConf | undefined;
  return conf?.codes ? run(r, conf, false) : undefined;
}

function locationRewrite(r: HttpRequest): Outcome | Promise<Outcome> {
  // no location matched: the server level's script ran already
  if (r.loc === r.server.core.loc) return undefined;
  const conf = r.loc.confs[REWRITE] as RewriteLocConf | undefined;
  return conf?.codes ? run(r, conf, true) : undefined;
}

export const rewriteModule: Module & HttpModuleHooks = {
  name: REWRITE,
  provides: ['http_rewrite'],
  type: 'http',
  createLoc: (): RewriteLocConf => ({}),
  mergeLoc(parent: RewriteLocConf, child: RewriteLocConf) {
    child.log ??= parent.log ?? false;
    child.uninitializedWarn ??= parent.uninitializedWarn ?? true;
  },
  handlers: { serverRewrite, rewrite: locationRewrite },
  commands: [
    { name: 'rewrite', type: SCRIPT | TAKE23, set: rewrite },
    { name: 'return', type: SCRIPT | TAKE12, set: ret },
    { name: 'break', type: SCRIPT | A.NOARGS, set: (cf, conf) => push(conf, { op: 'break', where: where(cf) }) },
    { name: 'if', type: C.HTTP_SRV | C.HTTP_LOC | A.BLOCK | A.MORE1, set: ifBlock },
    { name: 'set', type: SCRIPT | A.TAKE2, set },
    { name: 'rewrite_log', type: C.HTTP_MAIN | SCRIPT | A.FLAG, set: slot<RewriteLocConf, 'log'>('log', flagValue) },
    {
      name: 'uninitialized_variable_warn',
      type: C.HTTP_MAIN | SCRIPT | A.FLAG,
      set: slot<RewriteLocConf, 'uninitializedWarn'>('uninitializedWarn', flagValue),
    },
  ],
};
