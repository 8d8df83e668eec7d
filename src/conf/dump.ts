import * as fs from 'node:fs';
import type { ConfNode, ParseResult } from './parser';

// Three ways out of a parse: -T's file dump, crossplane's JSON for tools,
// and config text rebuilt from a tree (parse → dump → parse is the identity).

/** -T: each file as read, under nginx's header. */
export function dumpFiles(parse: ParseResult): string {
  let out = '';
  for (const f of parse.files) {
    if (f.file === '') continue;
    let text: string;
    try {
      text = fs.readFileSync(f.file, 'utf8');
    } catch {
      continue;
    }
    out += `# configuration file ${f.file}:\n${text}\n`;
  }
  return out;
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
    const d: JsonDirective = { directive: n.directive, line: n.line, args: n.args };
    if (n.includes) d.includes = n.includes;
    if (n.block) d.block = jsonNodes(n.block);
    out.push(d);
  }
  return out;
}

/** crossplane's payload: {status, errors, config: [{file, status, errors, parsed}]} */
export function crossplaneJson(parse: ParseResult): object {
  const err = (e: NonNullable<ParseResult['error']>) => ({ file: e.file ?? null, line: e.line ?? null, error: e.message });
  const files = parse.files.filter((f) => f.file !== '');
  return {
    status: parse.error ? 'failed' : 'ok',
    errors: parse.error ? [err(parse.error)] : [],
    config: files.map((f) => ({
      file: f.file,
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
