import { ConfError } from '../conf/errors';
import { NGINX_VARIABLES, NGINX_VARIABLE_PREFIXES } from '../conf/nginx-variables';
import type { HttpRequest } from './request';

// Variables and "complex values" (strings with $variables), compiled at load
// time into arrays of parts so that a request only looks values up.
// As in nginx, variables are global: a name used anywhere must be defined
// somewhere (by a module, `set`, `map`, a regex capture name), and that is
// checked once the whole http block is read (ngx_http_variables_init_vars),
// which is why "unknown variable" errors carry no file:line.

export type VariableGetter = (r: HttpRequest, name: string) => string | undefined;

interface VariableDef {
  get: VariableGetter;
  /** `set` may assign it (user variables; some built-ins refuse) */
  changeable: boolean;
}

export class Variables {
  private readonly defs = new Map<string, VariableDef>();
  private readonly prefixes: Array<[string, VariableGetter]> = [];
  /** names referenced so far, for the end-of-config check */
  readonly used = new Map<string, number>();
  /** user variables (from `set`, `map`...) get an index into r.vars */
  readonly userIndex = new Map<string, number>();

  define(name: string, get: VariableGetter, changeable = false): void {
    this.defs.set(name, { get, changeable });
  }

  definePrefix(prefix: string, get: VariableGetter): void {
    this.prefixes.push([prefix, get]);
  }

  /**
   * A variable set per request (by `set`, a regex name, `map`): its slot.
   * A built-in that may not change is "the duplicate" (ngx_http_add_variable).
   */
  defineUser(name: string): number {
    name = name.toLowerCase();
    const def = this.defs.get(name);
    if (def && !def.changeable) throw new ConfError(`the duplicate "${name}" variable`);
    let i = this.userIndex.get(name);
    if (i === undefined) {
      i = this.userIndex.size;
      this.userIndex.set(name, i);
    }
    return i;
  }

  /** A module (not `set`) defined the name: its getter must stay. */
  has(name: string): boolean {
    return this.defs.has(name);
  }

  isChangeable(name: string): boolean {
    const def = this.defs.get(name);
    return def === undefined || def.changeable;
  }

  /** The getter for a name: a built-in, a prefixed family, or a user slot. */
  resolve(name: string): VariableGetter | undefined {
    const user = this.userIndex.get(name);
    const def = this.defs.get(name);
    if (def && user === undefined) return def.get;
    if (user !== undefined) {
      // a built-in overridden by `set` reads the slot first
      const builtin = def?.get;
      return (r, n) => {
        const v = r.vars[user];
        return v !== undefined ? v : builtin?.(r, n);
      };
    }
    for (const [prefix, get] of this.prefixes) if (name.startsWith(prefix)) return get;
    return undefined;
  }

  markUsed(name: string): void {
    if (!this.used.has(name)) this.used.set(name, this.used.size);
  }

  /** ngx_http_variables_init_vars: every used name must exist. */
  checkUsed(): void {
    for (const name of this.used.keys()) {
      if (this.resolve(name)) continue;
      if (NGINX_VARIABLES.has(name) || NGINX_VARIABLE_PREFIXES.some((p) => name.startsWith(p))) {
        throw new ConfError(`the "$${name}" variable is not supported by nodinx`);
      }
      throw new ConfError(`unknown "${name}" variable`);
    }
  }
}

type Part = string | { name: string; capture?: number; get?: VariableGetter };

/**
 * A string with variables. `parts` alternate literal text and variables;
 * getters are bound lazily (after the whole config is known) on first use.
 */
export class Template {
  private bound = false;
  constructor(
    readonly source: string,
    readonly parts: Part[],
    private readonly vars?: Variables,
  ) {}

  get isStatic(): boolean {
    return this.parts.every((p) => typeof p === 'string');
  }

  get hasCaptures(): boolean {
    return this.parts.some((p) => typeof p !== 'string' && p.capture !== undefined);
  }

  /** Binds getters; called once at the end of configuration. */
  bind(): void {
    if (this.bound) return;
    for (const p of this.parts) {
      if (typeof p !== 'string' && p.capture === undefined) p.get = this.vars?.resolve(p.name);
    }
    this.bound = true;
  }

  run(r: HttpRequest): string {
    if (!this.bound) this.bind();
    let out = '';
    for (const p of this.parts) {
      if (typeof p === 'string') out += p;
      else if (p.capture !== undefined) out += r.captures?.[p.capture] ?? '';
      else out += p.get?.(r, p.name) ?? '';
    }
    return out;
  }
}

const isNameChar = (c: string): boolean =>
  (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_';

export interface CompileOptions {
  /**
   * log_format's own compiler (ngx_http_log_compile_format): no $1..$9
   * captures, and a bad name is `invalid parameter "ARG"`
   */
  logFormat?: boolean;
}

/**
 * ngx_http_script_compile: "$name", "${name}" and "$1".."$9". Names are
 * case-insensitive, as nginx hashes them lower-cased. Throws the reason nginx
 * gives; the caller appends the location.
 */
export function compileTemplate(source: string, vars: Variables, opts: CompileOptions = {}): Template {
  const parts: Part[] = [];
  const invalid = (): ConfError =>
    new ConfError(opts.logFormat ? `invalid parameter "${source}"` : 'invalid variable name');
  let lit = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (c !== '$') {
      lit += c;
      i++;
      continue;
    }
    if (++i === source.length) throw invalid();
    if (!opts.logFormat && source[i] >= '1' && source[i] <= '9') {
      if (lit) parts.push(lit), (lit = '');
      parts.push({ name: source[i], capture: Number(source[i]) });
      i++;
      continue;
    }
    let bracket = false;
    if (source[i] === '{') {
      bracket = true;
      if (++i === source.length) throw invalid();
    }
    let name = '';
    for (; i < source.length; i++) {
      const ch = source[i];
      if (ch === '}' && bracket) {
        i++;
        bracket = false;
        break;
      }
      if (!isNameChar(ch)) break;
      name += ch;
    }
    if (bracket) throw new ConfError(`the closing bracket in "${name}" variable is missing`);
    if (name === '') throw invalid();
    name = name.toLowerCase();
    if (lit) parts.push(lit), (lit = '');
    parts.push({ name });
    vars.markUsed(name);
  }
  if (lit || parts.length === 0) parts.push(lit);
  return new Template(source, parts, vars);
}

/** Templates one after the other, as log_format joins its strings. */
export function concatTemplates(source: string, templates: Template[], vars: Variables): Template {
  return new Template(source, templates.flatMap((t) => t.parts), vars);
}

export function staticTemplate(text: string): Template {
  return new Template(text, [text]);
}
