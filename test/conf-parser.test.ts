import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, type ConfNode } from '../src/conf/parser';
import { parseOffset, parseSize, parseTime } from '../src/conf/values';
import { toBytes } from '../src/conf/bytes';

// The lexer and parser against a table of inputs whose tokens nginx 1.22
// was seen to produce (see the golden corpus for the error wording).

function parse(text: string) {
  return parseConfig('/v/nginx.conf', { confPrefix: '/v', readFile: () => Buffer.from(text, 'utf8') });
}
const words = (n: ConfNode) => [n.directive, ...n.args];

describe('lexer', () => {
  it.each([
    ['a b c;', ['a', 'b', 'c']],
    ['a "b c" \'d e\';', ['a', 'b c', 'd e']],
    ['a "q\\"q" \'s\\\'s\' "b\\\\s";', ['a', 'q"q', "s's", 'b\\s']],
    ['a "t\\tr\\rn\\n";', ['a', 't\tr\rn\n']],
    ['a \\.php$ "\\d+";', ['a', '\\.php$', '\\d+']],
    ['set $a ${b}c;', ['set', '$a', '${b}c']],
    ['set $a x${b};', ['set', '$a', 'x${b}']],
    ['return 200 "a;b{c}";', ['return', '200', 'a;b{c}']],
    ['a b}c d#e;', ['a', 'b}c', 'd#e']],
    ['if ($a = "b")', ['if', '($a', '=', 'b', ')']],
    ['a ""; ', ['a', '']],
    ['a\r\n  b # c\r\n  ;', ['a', 'b']],
    ['a \\;b;', ['a', '\\;b']],
    ['"quoted name" x;', ['quoted name', 'x']],
    ['a "é ☃ 日本";', ['a', toBytes('é ☃ 日本')]], // words are byte strings, as nginx's
  ])('%j', (text, expected) => {
    const r = parse(text.endsWith('{') || text.startsWith('if') ? text + ' {}' : text);
    expect(r.error).toBeUndefined();
    expect(words(r.files[0].parsed[0])).toEqual(expected);
  });

  it.each([
    ['a "b"c;', 'unexpected "c" in /v/nginx.conf:1'],
    ['a;\n}', 'unexpected "}" in /v/nginx.conf:2'],
    ['a {\nb;\n', 'unexpected end of file, expecting "}" in /v/nginx.conf:3'],
    ['a b', 'unexpected end of file, expecting ";" or "}" in /v/nginx.conf:1'],
    [';', 'unexpected ";" in /v/nginx.conf:1'],
    ['{', 'unexpected "{" in /v/nginx.conf:1'],
    ['a b }', 'unexpected "}" in /v/nginx.conf:1'],
  ])('%j is an error', (text, message) => {
    expect(parse(text).error?.message).toBe(message);
  });
});

describe('parser', () => {
  it('reads *_by_lua_block bodies as Lua, braces in strings and comments included', () => {
    const lua = `content_by_lua_block {\n  local t = { a = "}" } -- }\n  ngx.say([[ { ]])\n}\nnext_one;\n`;
    const r = parse(lua);
    expect(r.error).toBeUndefined();
    const [block, next] = r.files[0].parsed;
    expect(block.args).toEqual([`\n  local t = { a = "}" } -- }\n  ngx.say([[ { ]])\n`]);
    expect(next.directive).toBe('next_one');
    expect(next.line).toBe(5);
  });

  it('keeps file names and lines through includes, globs in byte order', () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-inc-')));
    fs.mkdirSync(path.join(dir, 'conf.d'));
    for (const [name, text] of [['b.conf', '\n\nb;'], ['A.conf', 'a;'], ['_c.conf', 'c;'], ['.hidden.conf', 'h;']]) {
      fs.writeFileSync(path.join(dir, 'conf.d', name), text);
    }
    fs.writeFileSync(path.join(dir, 'nginx.conf'), 'x {\n  include conf.d/*.conf;\n}\n');
    const r = parseConfig(path.join(dir, 'nginx.conf'), { confPrefix: dir });
    expect(r.error).toBeUndefined();
    expect(r.files.map((f) => path.basename(f.file))).toEqual(['nginx.conf', 'A.conf', '_c.conf', 'b.conf']);
    const inc = r.files[0].parsed[0].block![0];
    expect(inc.includes).toEqual([1, 2, 3]);
    expect(r.files[3].parsed[0]).toMatchObject({ directive: 'b', line: 3, file: path.join(dir, 'conf.d/b.conf') });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('values', () => {
  it.each([
    ['10k', 10240], ['1m', 1048576], ['1M', 1048576], ['1024', 1024], ['1g', NaN], ['1.5m', NaN], ['', NaN], ['-1', NaN],
  ])('size %j', (s, v) => expect(parseSize(s)).toBe(v));
  it.each([['1g', 1073741824], ['2G', 2147483648], ['1m', 1048576]])('offset %j', (s, v) => expect(parseOffset(s)).toBe(v));
  it.each([
    ['500ms', 500], ['30s', 30000], ['30', 30000], ['1h', 3600000], ['1h 30m', 5400000], ['1h30m', 5400000],
    ['1d', 86400000], ['1w', 604800000], ['1M', NaN], ['1y', NaN], ['1s1m', NaN], ['1 h', NaN], ['', NaN], ['ms', NaN],
  ])('msec time %j', (s, v) => expect(parseTime(s)).toBe(v));
  it.each([['1y', 31536000], ['1M', 2592000], ['30', 30], ['1h', 3600], ['500ms', NaN]])('sec time %j', (s, v) =>
    expect(parseTime(s, true)).toBe(v));
});
