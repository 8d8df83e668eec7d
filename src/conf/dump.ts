import * as fs from 'node:fs';
import type { ConfNode, ParseResult } from './parser';
import { fromBytes, fsPath } from './bytes';

// Three ways out of a parse: -T's file dump, crossplane's JSON for tools,
// and config text rebuilt from a tree (parse → dump → parse is the identity).

/** -T: each file's bytes as read, under nginx's header. */
export function dumpFiles(parse: ParseResult): Buffer {
  const out: Buffer[] = [];
  for (const f of parse.files) {
    if (f.file === '') continue;
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(fsPath(f.file));
    } catch {
      continue;
    }
    out.push(Buffer.from(`# configuration file ${f.file}:\n`, 'latin1'), bytes, Buffer.from('\n'));
  }
  return Buffer.concat(out);
}

interface JsonDirective {
  directive: string;
  line: number;
  args: string[];
  includes?: number[];
  block?: JsonDirective[];
}

function jsonNodes(nodes: ConfNode[]): JsonDirective[] {
  const out: JsonDirective[] = [];
  for (const n of nodes) {
    if (n.error) continue;
    const d: JsonDirective = { directive: fromBytes(n.directive), line: n.line, args: n.args.map(fromBytes) };
    if (n.includes) d.includes = n.includes;
    if (n.block) d.block = jsonNodes(n.block);
    out.push(d);
  }
  return out;
}

/** crossplane's payload: {status, errors, config: [{file, status, errors, parsed}]} */
export function crossplaneJson(parse: ParseResult): object {
  const err = (e: NonNullable<ParseResult['error']>) => ({
    file: e.file === undefined ? null : fromBytes(e.file),
    line: e.line ?? null,
    error: fromBytes(e.message),
  });
  const files = parse.files.filter((f) => f.file !== '');
  return {
    status: parse.error ? 'failed' : 'ok',
    errors: parse.error ? [err(parse.error)] : [],
    config: files.map((f) => ({
      file: fromBytes(f.file),
      status: f.error ? 'failed' : 'ok',
      errors: f.error ? [err(f.error)] : [],
      parsed: jsonNodes(f.parsed),
    })),
  };
}

/** Quotes an argument so that the lexer reads back exactly this string. */
export function quoteArg(arg: string): string {
  if (arg !== '' && !/[\s;{}"'#\\$]/.test(arg)) return arg;
  // a lone "$" followed by "{" would make "${" inside a word; quoting avoids it
  return '"' + arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/** Config text for a tree, one directive a line, blocks indented. */
export function dumpTree(nodes: ConfNode[], indent = ''): string {
  let out = '';
  for (const n of nodes) {
    if (n.error) continue;
    const words = [n.directive, ...n.args].map(quoteArg).join(' ');
    if (n.block) {
      out += `${indent}${words} {\n${dumpTree(n.block, indent + '    ')}${indent}}\n`;
    } else {
      out += `${indent}${words};\n`;
    }
  }
  return out;
}
