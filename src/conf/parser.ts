import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfError, sysErrorText } from './errors';
import { Lexer, Rc } from './lexer';
import { globSync } from './glob';
import { fsPath } from './bytes';

// Stage two of three (lexer → parser → analyzer): statements into a tree,
// includes expanded. The parser knows no directive but `include` and the
// `*_by_lua_block` family, whose bodies are not nginx syntax.

export interface ConfNode {
  directive: string;
  args: string[];
  file: string;
  /** line of the directive's first word */
  line: number;
  /** line of its ";" or "{": where nginx reports errors about it */
  endLine: number;
  block?: ConfNode[];
  /** line of a block's "}": where nginx stands when the block's handler checks the whole */
  blockEndLine?: number;
  /** for `include`: indexes into ParseResult.files */
  includes?: number[];
  /**
   * Set on a sentinel that stands where parsing stopped: the analyzer throws
   * it when it gets there, so that, as in nginx, an error in an earlier
   * directive wins over a syntax error further down.
   */
  error?: ConfError;
}

export interface ParsedFile {
  file: string;
  parsed: ConfNode[];
  error?: ConfError;
}

export interface ParseResult {
  files: ParsedFile[];
  /** the first error, if any (also present as a sentinel node) */
  error?: ConfError;
}

export interface ParseOptions {
  /** where relative include paths start: the main config file's directory */
  confPrefix: string;
  /** directives given with -g, parsed as nginx parses its command line */
  globals?: string;
  /** stop at the first error (the server) or collect what parsed (tooling) */
  readFile?: (file: string) => Buffer;
}

// nginx has no limit; this keeps the analyzer, which recurses per block, far from the stack limit
const MAX_DEPTH = 1000;

class StopParse extends Error {
  constructor(readonly confError: ConfError) {
    super(confError.message);
  }
}

export function parseConfig(mainFile: string, options: ParseOptions): ParseResult {
  const result: ParseResult = { files: [] };
  const active = new Set<string>();
  const readFile = options.readFile ?? ((f: string) => fs.readFileSync(fsPath(f)));
  // the lists being filled, innermost last: where a sentinel goes on error
  const open: ConfNode[][] = [];

  const fail = (e: unknown): never => {
    if (e instanceof ConfError) throw new StopParse(e);
    throw e;
  };

  const parseFile = (file: string, index: number): void => {
    let text: string;
    try {
      text = readFile(file).toString('latin1');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const reason = err.code === 'EISDIR'
        ? `pread() "${file}" failed ${sysErrorText(err)}`
        : `open() "${file}" failed ${sysErrorText(err)}`;
      throw new StopParse(new ConfError(reason, undefined, undefined, err.code === 'EISDIR' ? 'crit' : 'emerg'));
    }
    active.add(file);
    parseBlock(new Lexer(text, file), result.files[index].parsed, false, 0);
    active.delete(file);
  };

  const include = (node: ConfNode, lexer: Lexer): void => {
    const pattern = node.args[0];
    const full = path.isAbsolute(pattern) ? pattern : path.join(options.confPrefix, pattern);
    const files = /[*?[]/.test(full) ? globSync(full) : [full];
    node.includes = [];
    for (const file of files) {
      if (active.has(file)) {
        throw new StopParse(new ConfError(`include cycle: "${file}" includes itself`, lexer.file, node.endLine));
      }
      const index = result.files.length;
      result.files.push({ file, parsed: [] });
      node.includes.push(index);
      try {
        parseFile(file, index);
      } catch (e) {
        if (e instanceof StopParse && e.confError.file === undefined && e.confError.level !== 'crit') {
          // nginx names the including line for a file it cannot open
          const { reason, level } = e.confError;
          result.files.pop();
          node.includes.pop();
          throw new StopParse(new ConfError(reason, lexer.file, node.endLine, level));
        }
        throw e;
      }
    }
  };

  const parseBlock = (lexer: Lexer, into: ConfNode[], inBlock: boolean, depth: number): void => {
    open.push(into);
    if (depth > MAX_DEPTH) {
      throw new StopParse(new ConfError(`too deep nesting of blocks (over ${MAX_DEPTH} levels)`, lexer.file, lexer.line));
    }
    for (;;) {
      let st;
      try {
        st = lexer.next();
      } catch (e) {
        fail(e);
      }
      if (st!.rc === Rc.BlockDone) {
        if (!inBlock) throw new StopParse(new ConfError('unexpected "}"', lexer.file, lexer.line));
        break;
      }
      if (st!.rc === Rc.FileDone) {
        if (inBlock) throw new StopParse(new ConfError('unexpected end of file, expecting "}"', lexer.file, lexer.line));
        break;
      }
      const { rc, args, line, endLine } = st!;
      if (rc === Rc.BlockStart && lexer.file === '') {
        throw new StopParse(new ConfError('block directives are not supported in -g option', '', 0));
      }
      const node: ConfNode = { directive: args[0], args: args.slice(1), file: lexer.file, line, endLine };
      into.push(node);
      if (rc === Rc.BlockStart) {
        if (node.directive.endsWith('_by_lua_block')) {
          try {
            node.args.push(lexer.readLuaBlock());
          } catch (e) {
            fail(e);
          }
          continue;
        }
        node.block = [];
        parseBlock(lexer, node.block, true, depth + 1);
        node.blockEndLine = lexer.line;
      } else if (node.directive === 'include' && node.args.length === 1) {
        include(node, lexer);
      }
    }
    open.pop();
  };

  const guard = (index: number, run: () => void): void => {
    try {
      run();
    } catch (e) {
      if (!(e instanceof StopParse)) throw e;
      const error = e.confError;
      result.error = error;
      result.files[index].error = error;
      const list = open[open.length - 1] ?? result.files[index].parsed;
      list.push({ directive: '', args: [], file: error.file ?? '', line: error.line ?? 0, endLine: error.line ?? 0, error });
    }
  };

  if (options.globals !== undefined) {
    result.files.push({ file: '', parsed: [] });
    guard(0, () => parseBlock(new Lexer(Buffer.from(options.globals!).toString('latin1'), ''), result.files[0].parsed, false, 0));
    if (result.error) return result;
  }
  const mainIndex = result.files.length;
  result.files.push({ file: mainFile, parsed: [] });
  guard(mainIndex, () => parseFile(mainFile, mainIndex));
  return result;
}
