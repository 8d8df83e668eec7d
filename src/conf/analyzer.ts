import * as path from 'node:path';
import { ConfError } from './errors';
import { A, C, type Cf, type Command, type CycleConf, type Module, type ModuleType } from './module';
import { NGINX_DIRECTIVES } from './nginx-directives';
import type { ConfNode, ParseResult } from './parser';

// Stage three: the one checker. For each directive, in nginx's order:
// name → module type and context → terminator → arity → setter; it alone
// words the errors, so they read as nginx's do.

interface Entry {
  module: Module;
  cmd: Command;
}

const ARITY = [A.NOARGS, A.TAKE1, A.TAKE2, A.TAKE3, A.TAKE4, A.TAKE5, A.TAKE6, A.TAKE7];

export class DirectiveTable {
  private readonly byName = new Map<string, Entry[]>();

  constructor(readonly modules: Module[]) {
    for (const module of modules) {
      for (const cmd of module.commands) {
        const list = this.byName.get(cmd.name) ?? [];
        list.push({ module, cmd });
        this.byName.set(cmd.name, list);
      }
    }
  }

  lookup(name: string): Entry[] | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }
}

function arityOk(type: number, n: number): boolean {
  if (type & A.ANY) return true;
  if (type & A.FLAG) return n === 1;
  if (type & A.MORE1) return n >= 1;
  if (type & A.MORE2) return n >= 2;
  return n < ARITY.length && (type & ARITY[n]) !== 0;
}

export class Analyzer {
  constructor(
    readonly table: DirectiveTable,
    readonly parse: ParseResult,
    readonly cycle: CycleConf,
  ) {}

  run(ctx: unknown): void {
    for (const f of this.parse.files) {
      // -g directives come first, then the main file (includes are walked in place)
      if (f.file === '' || f === this.mainFile()) this.block(f.parsed, C.MAIN, 'core', ctx);
    }
  }

  private mainFile() {
    return this.parse.files.find((f) => f.file !== '');
  }

  /** The statements of a block, includes flattened, sentinels thrown. */
  *statements(nodes: ConfNode[]): Generator<ConfNode> {
    for (const node of nodes) {
      if (node.error) throw node.error;
      if (node.directive === 'include' && node.includes) {
        this.checkInclude(node);
        for (const i of node.includes) yield* this.statements(this.parse.files[i].parsed);
        continue;
      }
      yield node;
    }
  }

  private checkInclude(node: ConfNode): void {
    if (node.block) throw this.at(node, 'directive "include" is not terminated by ";"');
  }

  block(nodes: ConfNode[], cmdType: number, moduleType: ModuleType, ctx: unknown): void {
    for (const node of this.statements(nodes)) this.directive(node, cmdType, moduleType, ctx);
  }

  private at(node: ConfNode, reason: string, line = node.endLine): ConfError {
    return new ConfError(reason, node.file, line);
  }

  directive(node: ConfNode, cmdType: number, moduleType: ModuleType, ctx: unknown): void {
    const name = node.directive;
    if (name === 'include') {
      // an include whose file list could not be made (wrong arity) lands here
      if (node.block) throw this.at(node, `directive "include" is not terminated by ";"`);
      throw this.at(node, `invalid number of arguments in "include" directive`);
    }
    const entries = this.table.lookup(name);
    let found = false;
    for (const { module, cmd } of entries ?? []) {
      found = true;
      if (module.type !== moduleType) continue;
      if (!(cmd.type & cmdType)) continue;
      const hasBlock = node.block !== undefined;
      if (!(cmd.type & A.BLOCK) && hasBlock) {
        throw this.at(node, `directive "${name}" is not terminated by ";"`);
      }
      if (cmd.type & A.BLOCK && !hasBlock) {
        throw this.at(node, `directive "${name}" has no opening "{"`);
      }
      if (!arityOk(cmd.type, node.args.length)) {
        throw this.at(node, `invalid number of arguments in "${name}" directive`);
      }
      const conf = this.confFor(module, cmd, ctx);
      const rv = cmd.set(this.cf(node, cmdType, ctx), conf);
      if (typeof rv === 'string') throw this.at(node, `"${name}" directive ${rv}`);
      return;
    }
    if (found) throw this.at(node, `"${name}" directive is not allowed here`);
    if (NGINX_DIRECTIVES.has(name)) throw this.at(node, `"${name}" directive is not supported by nodinx`);
    throw this.at(node, `unknown directive "${name}"`);
  }

  private confFor(module: Module, cmd: Command, ctx: unknown): unknown {
    if (module.type === 'http' || module.type === 'stream') {
      const levels = ctx as Record<string, Record<string, unknown>>;
      return levels[cmd.level ?? 'loc']?.[module.name];
    }
    return this.cycle.confs[module.name];
  }

  cf(node: ConfNode, cmdType: number, ctx: unknown): Cf {
    return new DirectiveCf(this, node, cmdType, ctx);
  }
}

/** A setter's view of its directive; methods on the prototype keep it cheap. */
class DirectiveCf implements Cf {
  readonly name: string;
  readonly args: string[];
  readonly cycle: CycleConf;

  constructor(
    private readonly analyzer: Analyzer,
    readonly node: ConfNode,
    readonly cmdType: number,
    readonly ctx: unknown,
  ) {
    this.name = node.directive;
    this.args = node.args;
    this.cycle = analyzer.cycle;
  }

  error(reason: string, line?: number): ConfError {
    return new ConfError(reason, this.node.file, line ?? this.node.endLine);
  }

  warn(reason: string, line?: number): void {
    this.cycle.warnings.push(new ConfError(reason, this.node.file, line ?? this.node.endLine, 'warn'));
  }

  statements(nodes: ConfNode[]): Iterable<ConfNode> {
    return this.analyzer.statements(nodes);
  }

  block(nodes: ConfNode[], cmdType: number, moduleType: ModuleType, ctx: unknown): void {
    this.analyzer.block(nodes, cmdType, moduleType, ctx);
  }

  fullName(name: string, confPrefix = false): string {
    return fullName(this.cycle, name, confPrefix);
  }
}

/** ngx_conf_full_name: relative names start at the prefix (or the conf prefix). */
export function fullName(cycle: CycleConf, name: string, confPrefix = false): string {
  if (name.startsWith('/')) return name;
  return path.join(confPrefix ? cycle.confPrefix : cycle.prefix, name);
}
