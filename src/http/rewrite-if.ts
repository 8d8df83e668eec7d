import { C, type Cf } from '../conf/module';
import { compileRegex, type CompiledRegex } from '../conf/regex';
import { compile, CORE, coreLoc, http, type HttpCtx, type LocationConf } from './core-conf';
import { createCtx, defineCaptures } from './core-blocks';
import { Template } from './variables';
import { REWRITE, type Condition, type IfOp, type RewriteLocConf } from './rewrite-script';

// The `if` directive, configuration side (ngx_http_rewrite_if and
// ngx_http_rewrite_if_condition): the condition is read token by token as
// nginx reads it, so the same texts are refused with the same words; the
// block gets a location conf of its own (nginx's "noname" location), merged
// with the enclosing one, which the request takes when the condition holds.

const where = (cf: Cf) => ({ file: cf.node.file, line: cf.node.endLine });

/** `$name` in a condition: any text after "$" is a name, as for ngx_http_get_variable_index. */
function variable(cf: Cf, name: string): Template {
  const main = http(cf);
  const lname = name.toLowerCase();
  main.variables.markUsed(lname);
  const t = new Template('$' + name, [{ name: lname }], main.variables);
  main.templates.push(t);
  return t;
}

function regex(cf: Cf, source: string, caseless: boolean): CompiledRegex {
  let re: CompiledRegex;
  try {
    re = compileRegex(source, caseless);
  } catch (e) {
    throw cf.error((e as Error).message);
  }
  defineCaptures(cf, re);
  return re;
}

const FILE_TESTS: Record<string, 'f' | 'd' | 'e' | 'x'> = { f: 'f', d: 'd', e: 'e', x: 'x' };

/** ngx_http_rewrite_if_condition. */
export function parseCondition(cf: Cf): Condition {
  const value = [...cf.args];
  let last = value.length - 1;
  const invalid = (s: string) => cf.error(`invalid condition "${s}"`);
  if (value[0].length < 1 || value[0][0] !== '(') throw invalid(value[0]);
  let cur: number;
  if (value[0].length === 1) cur = 1;
  else {
    cur = 0;
    value[0] = value[0].slice(1);
  }
  if (value[last].length < 1 || !value[last].endsWith(')')) throw invalid(value[last]);
  if (value[last].length === 1) last--;
  else value[last] = value[last].slice(0, -1);

  const p = value[cur];
  if (p.length > 1 && p[0] === '$') {
    if (cur !== last && cur + 2 !== last) throw invalid(p);
    const v = variable(cf, p.slice(1));
    if (cur === last) return { kind: 'var', variable: v };
    const op = value[cur + 1];
    if (op === '=') return { kind: 'eq', variable: v, value: compile(cf, value[last]) };
    if (op === '!=') return { kind: 'ne', variable: v, value: compile(cf, value[last]) };
    if (op === '~' || op === '~*' || op === '!~' || op === '!~*') {
      return { kind: 'regex', variable: v, regex: regex(cf, value[last], op.endsWith('*')), negative: op[0] === '!' };
    }
    throw cf.error(`unexpected "${op}" in condition`);
  }
  if ((p.length === 2 && p[0] === '-') || (p.length === 3 && p[0] === '!' && p[1] === '-')) {
    if (cur + 1 !== last) throw invalid(p);
    const val = compile(cf, value[last]);
    const negative = p[0] === '!';
    const test = FILE_TESTS[negative ? p[2] : p[1]];
    if (test === undefined) throw invalid(p);
    return { kind: 'file', test, negative, value: val };
  }
  throw invalid(p);
}

/** ngx_http_rewrite_if: the block's conf, the condition, then the block into the same script. */
export function ifBlock(cf: Cf, conf: RewriteLocConf): string | undefined {
  const ctx = cf.ctx as HttpCtx;
  const parent = coreLoc(ctx.loc);
  const ifCtx = createCtx(ctx, ctx);
  const loc: LocationConf = coreLoc(ifCtx.loc);
  loc.name = parent.name;
  loc.noname = true;
  loc.confs = ifCtx.loc;
  loc.parent = parent;
  loc.file = cf.node.file;
  loc.line = cf.node.endLine;
  ifCtx.loc[CORE] = loc;
  parent.locations.push(loc);

  const cond = parseCondition(cf);
  const inServer = cf.cmdType === C.HTTP_SRV;
  // a server-level `if` only guards its directives: there is no location to switch to
  const op: IfOp = { op: 'if', where: where(cf), text: cf.args.join(' '), cond, loc: inServer ? undefined : loc, body: [] };
  (conf.codes ??= []).push(op);

  const inner = ifCtx.loc[REWRITE] as RewriteLocConf;
  inner.codes = op.body;
  cf.block(cf.node.block!, inServer ? C.HTTP_SIF : C.HTTP_LIF, 'http', ifCtx);
  // the script belongs to the enclosing level; the block's conf runs none of its own
  inner.codes = undefined;
  return undefined;
}
