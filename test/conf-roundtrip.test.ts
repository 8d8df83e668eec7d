import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dumpTree } from '../src/conf/dump';
import { parseConfig, type ConfNode } from '../src/conf/parser';
import { toBytes } from '../src/conf/bytes';

// parse → dump → parse gives the same tree, for any tree the parser can give.

interface Tree {
  directive: string;
  args: string[];
  block?: Tree[];
}

const name = fc.stringMatching(/^[a-z_][a-z0-9_]{0,12}$/).filter((n) => n !== 'include' && !n.endsWith('_by_lua_block'));
// any text without lone surrogates, below nginx's 4 KiB parameter limit
const arg = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('', ';', '{', '}', '"', "'", '\\', '\\"', '$', '${x}', '#', ' ', '\t', '\n', '\r\n', '(', ')', '\\.php$', 'a b'),
);

const tree: fc.Arbitrary<Tree[]> = fc.letrec((tie) => ({
  node: fc.record(
    { directive: name, args: fc.array(arg, { maxLength: 4 }), block: fc.option(tie('list') as fc.Arbitrary<Tree[]>, { nil: undefined, freq: 3 }) },
    { requiredKeys: ['directive', 'args'] },
  ),
  list: fc.array(tie('node'), { maxLength: 4, depthIdentifier: 'tree' }),
})).list as fc.Arbitrary<Tree[]>;

/** parses a byte string (what dumpTree gives for a parsed tree) */
function parseText(text: string): ConfNode[] {
  const r = parseConfig('/virtual/nginx.conf', { confPrefix: '/virtual', readFile: () => Buffer.from(text, 'latin1') });
  if (r.error) throw r.error;
  return r.files[r.files.length - 1].parsed;
}

function bytesOf(trees: Tree[]): Tree[] {
  return trees.map((n) => ({ directive: n.directive, args: n.args.map(toBytes), ...(n.block ? { block: bytesOf(n.block) } : {}) }));
}

function strip(nodes: ConfNode[] | Tree[]): Tree[] {
  return nodes.map((n) => {
    const t: Tree = { directive: n.directive, args: [...n.args] };
    if (n.block) t.block = strip(n.block);
    return t;
  });
}

describe('parse → dump → parse', () => {
  it('is the identity on trees', () => {
    fc.assert(
      fc.property(tree, (generated) => {
        // the parser's words are byte strings: compare with the UTF-8 bytes
        const t = bytesOf(generated);
        const nodes = t as unknown as ConfNode[];
        const once = parseText(dumpTree(nodes));
        expect(strip(once)).toEqual(strip(t));
        expect(strip(parseText(dumpTree(once)))).toEqual(strip(once));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps what nginx keeps of real-world text', () => {
    const text = 'http {\n  location ~ \\.php$ { return 200 "a;b{c}"; }\n  set $a ${b}c; # comment\n  if ($x = "y") { }\n}\n';
    const once = parseText(toBytes(text));
    expect(strip(parseText(dumpTree(once)))).toEqual(strip(once));
    expect(once[0].block![0].args).toEqual(['~', '\\.php$']);
    expect(once[0].block![1].args).toEqual(['$a', '${b}c']);
    expect(once[0].block![2].args).toEqual(['($x', '=', 'y', ')']);
  });
});
