import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileRegex, RegexSyntaxError } from '../src/conf/regex';

const errorOf = (pattern: string, caseless = false): RegexSyntaxError => {
  try {
    compileRegex(pattern, caseless);
  } catch (err) {
    expect(err).toBeInstanceOf(RegexSyntaxError);
    expect((err as RegexSyntaxError).code).toBe('NODINX_REGEX');
    return err as RegexSyntaxError;
  }
  throw new Error(`${JSON.stringify(pattern)} compiled`);
};

/** exec() as nginx sees it: whole match then every group, trailing unset ones dropped (as pcre2test prints). */
const run = (pattern: string, subject: string, caseless = false): (string | undefined)[] | null => {
  const m = compileRegex(pattern, caseless).regex.exec(subject);
  if (!m) return null;
  const groups = [...m];
  while (groups.length > 1 && groups[groups.length - 1] === undefined) groups.pop();
  return groups;
};

describe('translation', () => {
  // pattern, caseless, JS source (as RegExp#source prints it), flags, captures, names
  const table: [string, boolean, string, string, number, string[]][] = [
    ['\\.php$', false, '\\.php(?=\\n?$)', '', 0, []],
    ['^/(?<app>[^/]+)/(.*)$', false, '^\\/(?<app>[^/]+)\\/([^\\n]*)(?=\\n?$)', '', 2, ['app']],
    ['^/images/.*\\.(gif|jpe?g|png)$', false, '^\\/images\\/[^\\n]*\\.(gif|jpe?g|png)(?=\\n?$)', '', 1, []],
    ['\\.(jpg|png)$', true, '\\.([jJ][pP][gG]|[pP][nN][gG])(?=\\n?$)', '', 1, []],
    ["(?P<a>x)(?'b'y)(?<c>z)", false, '(?<a>x)(?<b>y)(?<c>z)', '', 3, ['a', 'b', 'c']],
    ["(?P<n>a)(?P=n)\\k{n}\\k'n'\\k<n>\\g{n}", false, '(?<n>a)\\k<n>\\k<n>\\k<n>\\k<n>\\k<n>', '', 1, ['n']],
    ['(a)(b)\\g1\\g{2}\\g{-1}\\g-2\\2', false, '(a)(b)\\1\\2\\2\\1\\2', '', 2, []],
    ['(a)\\1(?#x)0', false, '(a)(?:\\1)0', '', 1, []],
    ['(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\\10', false, '(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\\10', '', 10, []],
    ['(a)\\10\\18', false, '(a)\\x08\\x018', '', 1, []],
    ['a|(b)|(?:c)|(?<d>e)(?=(f))(?!g)(?<=h)(?<!i)', false, 'a|(b)|(?:c)|(?<d>e)(?=(f))(?!g)(?<=h)(?<!i)', '', 3, ['d']],
    // caseless letters become two-case classes: PCRE2 without UTF folds ASCII only, and (?i) may come anywhere
    ['(?i)abc', false, '[aA][bB][cC]', '', 0, []],
    ['(?-i)abc', true, 'abc', '', 0, []],
    ['^(?i)a', false, '^[aA]', '', 0, []],
    ['(?x)(?i) ^ A', false, '^[Aa]', '', 0, []],
    ['(?i:a)', true, '(?:[aA])', '', 0, []],
    ['(?im)^a$', false, '(?:^|(?<=\\n)(?!$))[aA](?=\\n|$)', '', 0, []],
    ['^/(?i)case$', false, '^\\/[cC][aA][sS][eE](?=\\n?$)', '', 0, []],
    ['(?i:group)', false, '(?:[gG][rR][oO][uU][pP])', '', 0, []],
    ['a(?i)b(?-i)c', false, 'a[bB]c', '', 0, []],
    ['^/(?-i)Case$', true, '^\\/Case(?=\\n?$)', '', 0, []],
    ['a(?-i:b)c', true, '[aA](?:b)[cC]', '', 0, []],
    ['(a(?i)b)c', false, '(a[bB])c', '', 1, []], // an option set in a group ends with it
    ['(?i)a(?^)b', false, '[aA]b', '', 0, []],
    ['(?i)\\Qa.B\\E\\x63\\103\\cA', false, '[aA]\\.[Bb][cC][Cc]\\x01', '', 0, []],
    ['[a-c][^xY][Z-a][a-zA-Z][\\w.-][0-9_]', true, '[a-cA-C][^xYXy][Z-aAz][a-zA-Z][\\w.\\-][0-9_]', '', 0, []],
    ['[\\x41-\\x43\\Qd\\E]', true, '[A-CdDa-c]', '', 0, []],
    ['caf\u00e9[\u00e0-\u00ff]', true, '[cC][aA][fF]\\xe9[\\xe0-\\xff]', '', 0, []], // no folding beyond ASCII
    // a back-reference compares case-sensitively unless the flag is set
    ['(a)\\1', true, '([aA])\\1', 'i', 1, []],
    ['(?i)^/(\\w+)/\\1$', false, '^\\/(\\w+)\\/\\1(?=\\n?$)', 'i', 1, []],
    ['^/(\\d+)/\\1$', true, '^\\/(\\d+)\\/\\1(?=\\n?$)', '', 1, []], // no letters to compare
    ['(?i)(\\w)(?-i)\\1', false, '(\\w)\\1', '', 1, []],
    ['(?i)([\\xe0-\\xfe])\\1', false, '([\\xe0-\\xfe])\\1', '', 1, []], // PCRE2 compares those case-sensitively too
    ['(?s)a.b', false, 'a.b', 's', 0, []],
    ['(?s:.).', false, '(?:[^])[^\\n]', '', 0, []],
    ['(?s)a(?-s).', false, 'a[^\\n]', 's', 0, []],
    ['(?x) a b # comment\n c', false, 'abc', '', 0, []],
    ['(?x)a\\ b[ ]c\\Q d\\E', false, 'a b[ ]c d', '', 0, []],
    ['(?xx)[a b]', false, '[ab]', '', 0, []],
    ['(?x: a )a ', false, '(?:a)a ', '', 0, []],
    ['(?n)(a)(?<b>c)', false, '(?:a)(?<b>c)', '', 1, ['b']],
    ['(?U)a+b+?', false, 'a+?b+', '', 0, []],
    ['\\A\\z\\Z', false, '^$(?=\\n?$)', '', 0, []],
    ['\\Ga', false, '^a', '', 0, []],
    ['[]a]', false, '[\\]a]', '', 0, []],
    ['[^]a]', false, '[^\\]a]', '', 0, []],
    ['[\\Q]\\E]', false, '[\\]]', '', 0, []],
    ['[[:alpha:]]', false, '[A-Za-z]', '', 0, []],
    ['[[:digit:][:xdigit:]_]', false, '[0-90-9A-Fa-f_]', '', 0, []],
    ['[[:^space:]]', false, '[\\x00-\\x08\\x0e-\\x1f!-\\uffff]', '', 0, []],
    ['[[:punct:]]', false, '[!-/:-@\\[-`{-~]', '', 0, []],
    ['[[:cntrl:][:blank:]]', false, '[\\x00-\\x1f\\x7f\\t ]', '', 0, []],
    ['[[:upper:]]', true, '[A-Za-z]', '', 0, []],
    ['[[:word:]]', false, '[0-9A-Z_a-z]', '', 0, []],
    ['\\h\\H', false, '[\\t \\xa0][^\\t \\xa0]', '', 0, []],
    ['\\v\\V', false, '[\\n-\\r\\x85][^\\n-\\r\\x85]', '', 0, []],
    ['\\s\\S[\\s][\\S]', false, '[\\t-\\r ][^\\t-\\r ][\\t-\\r ][\\x00-\\x08\\x0e-\\x1f!-\\uffff]', '', 0, []],
    ['\\N.', false, '[^\\n][^\\n]', '', 0, []],
    ['\\R', false, '(?:\\r\\n|\\r(?!\\n)|[\\n\\v\\f\\x85])', '', 0, []],
    ['\\C', false, '[^]', '', 0, []],
    ['\\d\\D\\w\\W\\b\\B[\\d\\W]', false, '\\d\\D\\w\\W\\b\\B[\\d\\W]', '', 0, []],
    ['\\e\\a\\f\\x{41}\\x42\\o{103}\\104\\cA\\ca\\0\\x', false, '\\x1b\\x07\\fABCD\\x01\\x01\\x00\\x00', '', 0, []],
    ['[\\b\\e\\x{7f}\\8]', false, '[\\x08\\x1b\\x7f8]', '', 0, []],
    ['\\Q.*+?(\\E', false, '\\.\\*\\+\\?\\(', '', 0, []],
    ['\\Qab\\E+\\Qc', false, 'ab+c', '', 0, []],
    ['a(?#comment)b', false, 'ab', '', 0, []],
    ['a{', false, 'a\\{', '', 0, []],
    ['a{,3}', false, 'a\\{,3\\}', '', 0, []],
    ['a{1,x}b{ 1}', false, 'a\\{1,x\\}b\\{ 1\\}', '', 0, []],
    ['}]', false, '\\}\\]', '', 0, []],
    ['a{0010}b{2,}c{2,3}?d{0,1}', false, 'a{10}b{2,}c{2,3}?d?', '', 0, []],
    ['\\$\\/\\-\\#\\%', false, '\\$\\/-#%', '', 0, []],
    ['(?=a)*b(?<=b)+c(?!d){0}(?=e)??', false, '(?:(?=a)|)b(?<=b)c(?:(?!d)){0}(?:|(?=e))', '', 0, []],
    ['(a*)?(b|)??(c)?', false, '(?:(a*)|)(?:|(b|))(c)?', '', 3, []],
    ['(*pla:a)(*nlb:b)', false, '(?=a)(?<!b)', '', 0, []],
    ['(*F)|a', false, '(?!)|a', '', 0, []],
    ['(*NO_JIT)(*LIMIT_MATCH=10)a', false, 'a', '', 0, []],
    ['[[:<:]]w[[:>:]]', false, '\\b(?=\\w)w\\b(?<=\\w)', '', 0, []],
    ['[\\d-][a\\-z][\\w.-][%--]', false, '[\\d\\-][a\\-z][\\w.\\-][%-\\-]', '', 0, []],
    ['caf\u00e9\u2603', false, 'caf\\xe9\\u2603', '', 0, []],
    ['\t\n', false, '\\t\\n', '', 0, []],
  ];

  it.each(table)('%j (caseless %s) -> /%s/%s', (pattern, caseless, source, flags, captures, names) => {
    const r = compileRegex(pattern, caseless);
    expect(r.source).toBe(pattern);
    expect(r.regex.source).toBe(source);
    expect(r.regex.flags).toBe(flags);
    expect(r.captures).toBe(captures);
    expect(r.names).toEqual(names);
  });
});

describe('matching', () => {
  // pattern, subject, expected exec() result (null: no match), caseless
  const table: [string, string, (string | undefined)[] | null, boolean?][] = [
    ['\\.php$', '/index.php', ['.php']],
    ['\\.php$', '/index.php\n', ['.php']], // PCRE's $ matches before a final newline
    ['\\.php$', '/index.php\n\n', null],
    ['\\.php\\z', '/index.php\n', null],
    ['\\.php\\Z', '/index.php\n', ['.php']],
    ['^/(?<app>[^/]+)/(.*)$', '/shop/a/b', ['/shop/a/b', 'shop', 'a/b']],
    ['\\.(jpg|png)$', '/A.JPG', ['.JPG', 'JPG'], true],
    ['\\.(jpg|png)$', '/A.JPG', null],
    ['(?i)^/admin', '/ADMIN/x', ['/ADMIN']],
    ['^a.c$', 'a\nc', null],
    ['^a.c$', 'a\rc', ['a\rc']], // JS's . would refuse \r and \u2028
    ['^a.c$', 'a\u2028c', ['a\u2028c']],
    ['(?s)^a.c$', 'a\nc', ['a\nc']],
    ['^a\\Nc', 'a\rc', ['a\rc']],
    ['\\s', '\u00a0', null], // JS's \s knows NBSP, PCRE's does not
    ['\\s', '\u000b', ['\u000b']],
    ['\\h', '\u00a0', ['\u00a0']],
    ['\\v', '\u0085', ['\u0085']],
    ['[[:space:]]', '\u2003', null],
    ['\\R', '\r\n', ['\r\n']],
    ['\\R\\n', '\r\n', null], // \R does not give back the LF of a CRLF
    ['\\R\\n', '\r\n\n', ['\r\n\n']],
    ['(?m)^b$', 'a\nb\nc', ['b']],
    ['(?m)^b$', 'a\rb\rc', null],
    ['(?m)$\\n^', 'a\n', null],
    ['(?m)$\\n^', 'a\nb', ['\n']],
    ['a{,3}', 'xa{,3}', ['a{,3}']],
    ['[]a]+', 'x]a]', [']a]']],
    ['[^]a]+', ']a]bc', ['bc']],
    ['\\Qa.b\\E+', 'a.bbb', ['a.bbb']],
    ['(a)\\10', 'a\b', ['a\b', 'a']],
    ['(a)\\1(?#x)0', 'aa0', ['aa0', 'a']],
    ['(?=a)*b', 'b', ['b']],
    ['[[:<:]]foo[[:>:]]', 'a foo b', ['foo']],
    ['[[:<:]]foo', 'afoo', null],
    ['(?U)a+', 'aaa', ['a']],
    ['(?U)a+?', 'aaa', ['aaa']],
    ['a+(?#c)?', 'aaa', ['a']],
    ['(?x) a + # one or more\n b', 'aaab', ['aaab']],
    ['(?x)a+ ?', 'aaa', ['a']],
    ['\\Ga', 'ba', null],
    ['(?<y>\\d{4})-(?<m>\\d\\d)', '2024-05', ['2024-05', '2024', '05']],
    ['(a)|b', 'b', ['b']],
    ['(?:a|ab)(c|bcd)(d*)', 'abcd', ['abcd', 'bcd', '']],
    ['[[:upper:]]+', 'aBc', ['aBc'], true],
    ['[[:^upper:]]+', 'aB1c', ['1'], true],
    ['\\x41\\101\\o{102}\\cA', 'AAB\u0001', ['AAB\u0001']],
    ['(?:a*|b)?', 'b', ['']], // an optional item matching empty counts as matched
    ['^/foo(.*)?$', '/foo', ['/foo', '']],
    ['(?=(a))?a', 'a', ['a', 'a']],
    ['a{1}\\E?', 'aa', ['a']],
    // caseless: ASCII letters only, wherever (?i) and (?-i) stand
    ['^/(?i)case$', '/CASE', ['/CASE']],
    ['^/(?i)case$', '/Case', ['/Case']],
    ['^/(?-i)case$', '/Case', null, true],
    ['^/(?-i)case$', '/case', ['/case'], true],
    ['^/c(?i:AS)e$', '/case', ['/case']],
    ['^/c(?i:AS)e$', '/cASE', null],
    ['a(?i)b(?-i)c', 'aBc', ['aBc']],
    ['a(?i)b(?-i)c', 'abC', null],
    ['[^a-c]+', 'xABCy', ['x'], true],
    ['caf\u00e9', 'CAF\u00e9', ['CAF\u00e9'], true],
    ['caf\u00e9', 'caf\u00c9', null, true], // JS's 'i' would fold é/É
    ['\\xc9', '\u00e9', null, true],
    ['[\\xc0-\\xde]', '\u00e9', null, true],
    ['\\xb5', '\u039c', null, true],
    ['s', '\u017f', null, true], // ſ: JS's 'i' with 'u' would fold it to s
    ['k', '\u212a', null, true], // Kelvin sign
    ['^(\\w+)-\\1$', 'Ab-aB', ['Ab-aB', 'Ab'], true],
    ['^(s)\\1$', 's\u017f', null, true],
    ['^(k)\\1$', 'k\u212a', null, true],
    ['(?i)^(\\w)(?-i)\\1', 'aA', null],
  ];
  it.each(table)('%j on %j', (pattern, subject, expected, caseless) => {
    expect(run(pattern, subject, caseless)).toEqual(expected);
  });

  it('exposes named groups under their names', () => {
    const m = compileRegex('^/(?P<app>[^/]+)/(?<rest>.*)$').regex.exec('/shop/a/b');
    expect(m?.groups).toEqual({ app: 'shop', rest: 'a/b' });
  });
});

describe('errors', () => {
  // the messages nginx 1.22 (PCRE2 10.42) logs, less " in FILE:LINE"
  const table: [string, string][] = [
    ['(', 'missing closing parenthesis in "("'],
    [')', 'unmatched closing parenthesis in ")" at ")"'],
    ['*a', 'quantifier does not follow a repeatable item in "*a" at "*a"'],
    ['a**', 'quantifier does not follow a repeatable item in "a**" at "*"'],
    ['[a', 'missing terminating ] for character class in "[a"'],
    ['\\1', 'reference to non-existent subpattern in "\\1" at "1"'],
    ['(?P=x)', 'reference to non-existent subpattern in "(?P=x)" at "x)"'],
    ['a\\k<z>', 'reference to non-existent subpattern in "a\\k<z>" at "z>"'],
    ['\\g{5}', 'reference to non-existent subpattern in "\\g{5}" at "}"'],
    ['x(?1)', 'reference to non-existent subpattern in "x(?1)" at ")"'],
    ['a{2,1}', 'numbers out of order in {} quantifier in "a{2,1}" at "}"'],
    ['a{99999}', 'number too big in {} quantifier in "a{99999}" at "}"'],
    ['(?<n>a)(?<n>b)', 'two named subpatterns have the same name (PCRE2_DUPNAMES not set) in "(?<n>a)(?<n>b)" at "b)"'],
    ['\\', '\\ at end of pattern in "\\"'],
    ['ab\\', '\\ at end of pattern in "ab\\"'],
    ['(?<', 'subpattern name expected in "(?<"'],
    ['[z-a]', 'range out of order in character class in "[z-a]" at "a]"'],
    ['[\\d-z]', 'invalid range in character class in "[\\d-z]" at "-z]"'],
    ['[[:alpha:]-z]', 'invalid range in character class in "[[:alpha:]-z]" at "-z]"'],
    ['[[:foo:]]', 'unknown POSIX class name in "[[:foo:]]" at "foo:]]"'],
    ['\\c', '\\c at end of pattern in "\\c"'],
    ['(?z)', 'unrecognized character after (? or (?- in "(?z)" at "z)"'],
    ['\\o{', 'digits missing in \\x{} or \\o{} or \\N{U+} in "\\o{"'],
    ['\\x{110000}', 'character code point value in \\x{} or \\o{} is too large in "\\x{110000}" at "}"'],
    ['(?<=a+)b', 'lookbehind assertion is not fixed length in "(?<=a+)b" at "(?<=a+)b"'],
    ['\\N{U+41}', '\\N{U+dddd} is supported only in Unicode (UTF) mode in "\\N{U+41}" at "{U+41}"'],
    ['\\u', 'PCRE2 does not support \\F, \\L, \\l, \\N{name}, \\U, or \\u in "\\u"'],
    ['(*FOO)', '(*VERB) not recognized or malformed in "(*FOO)" at ")"'],
    ['(?#abc', 'missing ) after (?# comment in "(?#abc"'],
    ['(?>a)(', 'missing closing parenthesis in "(?>a)("'], // a syntax error wins over "cannot translate"
    ['a*(?#abc', 'missing ) after (?# comment in "a*(?#abc"'],
  ];
  it.each(table)('%j', (pattern, message) => {
    expect(errorOf(pattern).message).toBe(`pcre2_compile() failed: ${message}`);
  });

  // pattern, caseless, what nodinx says it cannot translate
  const unsupported: [string, boolean, string][] = [
    ['a*+', false, 'a possessive quantifier'],
    ['a{1,2}+b', false, 'a possessive quantifier'],
    ['(?>a)', false, 'an atomic group'],
    ['(*atomic:a)', false, 'an atomic group'],
    ['(?R)', false, 'recursion'],
    ['(a)(?-1)', false, 'recursion'],
    ['(?&n)(?<n>a)', false, 'recursion'],
    ['(?P>n)(?<n>a)', false, 'recursion'],
    ['\\g<1>(a)', false, 'recursion'],
    ['(?(1)a|b)(c)', false, 'a conditional group (?('],
    ['a\\Kb', false, '\\K'],
    ['(?|(a)|(b))', false, 'a branch reset group (?|'],
    ['(*SKIP)a', false, 'the backtracking verb (*SKIP)'],
    ['a(*COMMIT)', false, 'the backtracking verb (*COMMIT)'],
    ['(?C1)a', false, 'a callout (?C'],
    // a caseless back-reference needs the JS 'i' flag, which cannot be scoped and also pairs é/É
    ['(a)(?i)\\1', false, 'case-sensitive letters alongside a caseless backreference'],
    ['([a-z])(?i)\\1', false, 'case-sensitive letters alongside a caseless backreference'],
    ['(\\w)\\1(?-i)x', true, 'case-sensitive letters alongside a caseless backreference'],
    ['(\\w)\\1(?-i)\\1', true, 'a case-sensitive backreference to letters alongside a caseless one'],
    ['(\\w)\\1\u00e9', true, 'non-ASCII letters alongside a caseless backreference'],
    ['(\\w)\\1[\\xc0-\\xdf]', true, 'non-ASCII letters alongside a caseless backreference'],
    ['^/(.+)/\\1$', true, 'a caseless backreference to a group that may capture non-ASCII letters'],
    ['([^/])(?i)\\1', false, 'a caseless backreference to a group that may capture non-ASCII letters'],
    ['\\p{L}', false, 'a Unicode property (\\p, \\P)'],
    ['\\X', false, '\\X'],
    ['(*UTF)a', false, 'the start-of-pattern option (*UTF)'],
    ['\\1(a)', false, 'a reference to a group that is not closed yet'],
    ['(a\\1)', false, 'a reference to a group that is not closed yet'],
    ['(a\\1)', true, 'a reference to a group that is not closed yet'],
    ['(a)(?<=\\1)', false, 'a backreference inside a lookbehind'],
    ['(a)?\\1', false, 'a backreference to a group that may be unset'],
    ['(?:(a)|b)\\1', false, 'a backreference to a group that may be unset'],
    ['(?:(a)|b\\1)+', false, 'a backreference to a group that may be unset'],
    ['(?!(a))\\1', false, 'a backreference to a group that may be unset'],
    ['(?J)(?<n>a)|(?<n>b)', false, 'duplicate group names'],
    ['(*napla:a)', false, 'a non-atomic assertion'],
    ['(?*a)', false, 'a non-atomic assertion'],
  ];
  it.each(unsupported)('%j cannot be translated', (pattern, caseless, what) => {
    expect(errorOf(pattern, caseless).message).toBe(
      `pcre2_compile() failed: nodinx cannot translate ${what} to a JavaScript regex in "${pattern}"`,
    );
  });
});

// ---- differential testing against PCRE2 itself (Debian's pcre2test, the library nginx links) ----

let pcre2testReady = false;
const hasPcre2test = (): boolean => spawnSync('pcre2test', ['-version'], { stdio: 'ignore' }).status === 0;

function installPcre2test(): void {
  if (hasPcre2test()) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (...args: string[]) => spawnSync('apt-get', args, { env, encoding: 'utf8', timeout: 110_000 });
  let res = apt('install', '-y', 'pcre2-utils');
  if (res.status !== 0) {
    apt('update');
    res = apt('install', '-y', 'pcre2-utils');
  }
  if (!hasPcre2test()) {
    throw new Error(`pcre2test is not available and "apt-get install -y pcre2-utils" failed:\n${res.error ?? ''}${res.stderr ?? ''}`);
  }
}

// pcre2test data lines: only alphanumerics are safe as they are
const encodeSubject = (s: string): string =>
  s.replace(/[^A-Za-z0-9]/g, (c) => `\\x{${c.charCodeAt(0).toString(16)}}`);
// and how it prints captured text in non-UTF mode
const encodeCapture = (s: string): string =>
  s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

interface Pcre2Result {
  error?: { offset: number; message: string };
  matches: ((string | undefined)[] | null)[];
}

function pcre2(pattern: string, caseless: boolean, subjects: string[]): Pcre2Result {
  if (!pcre2testReady) throw new Error('pcre2test unavailable');
  const delim = [...'/!"\'%&,;=@`~|'].find((d) => !pattern.includes(d));
  if (!delim || pattern.includes('\n')) throw new Error(`cannot pass ${JSON.stringify(pattern)} to pcre2test`);
  const lines = subjects.map(encodeSubject);
  const input = `${delim}${pattern}${delim}${caseless ? 'i' : ''}\n${lines.join('\n')}\n`;
  const res = spawnSync('pcre2test', ['-q'], { input, encoding: 'latin1' });
  const out = res.stdout.split('\n');
  const failed = /^Failed: error \d+ at offset (\d+): (.*)$/.exec(out[1] ?? '');
  if (failed) return { error: { offset: +failed[1], message: failed[2] }, matches: [] };
  const matches: Pcre2Result['matches'] = [];
  let k = 1;
  for (const line of lines) {
    expect(out[k++], 'pcre2test output out of step').toBe(line);
    if (out[k] === 'No match') {
      matches.push(null);
      k++;
      continue;
    }
    const groups: (string | undefined)[] = [];
    for (let m; (m = /^ ?(\d+): (.*)$/.exec(out[k] ?? '')); k++) groups[+m[1]] = m[2] === '<unset>' ? undefined : m[2];
    matches.push(groups);
  }
  return { matches };
}

const URIS = [
  '/', '/index.php', '/index.php\n', '/index.php/extra', '/index.phpx', '/wp-content/uploads/x.php', '/images/logo.png',
  '/images/photo.JPG', '/images/a/b.jpeg', '/favicon.ico', '/robots.txt', '/api/v2/users/42', '/api/v10/users/7/',
  '/.htaccess', '/.git/config', '/.well-known/acme-challenge/tok_en-1', '/static/app.0123abcd.js', '/static/app.css',
  '/en/about', '/fr', '/de/', '/~alice/site/', '/~bob', '/2024/05/hello-world/', '/2024/5/x', '/shop/category/shoes/page/3',
  '/ADMIN/panel', '/admin', '/download/music/song.mp3', '/img/200x100/cat.webp', '/a//b', '/a/b/c', '/old-page/',
  '/proxy/example.com:8080/x/y', '/files/(1).txt', '/caf\u00e9', '/foo bar', 'a\nb', '/x\r\n', '/a\u00a0b', '/v1.2.3',
  'user@example.com', '192.168.0.1', '/index.html', '/dir/index.htm', '/x.min.js', '/x.js', '/aaab', '/abcd',
  // for caseless matching: nodinx sees a URI as bytes, so é is \xe9 in Latin-1 or \xc3\xa9 in UTF-8,
  // and ſ (U+017F) and K (Kelvin, U+212A), which JS folds onto s and k with 'iu', arrive as UTF-8
  '/CASE', '/case', '/Case', '/cASE', 'aBc', 'abC', 'ABC', 'GROUP', 'Group', '/caf\u00e9', '/caf\u00c9', '/CAF\u00c9',
  '\u00e9', '\u00c9', '\u00e9\u00c9', '/Ab/aB', '/ab/ab', '/12/12', '/caf\u00c3\u00a9', '/caf\u00c3\u0089',
  '\u00c5\u00bf', 's\u00c5\u00bf', '\u00e2\u0084\u00aa', 'k\u00e2\u0084\u00aa', '\u00c3\u00e3', '/MiXeD.JpG',
];

// ~100 patterns as they appear in real nginx configs (location, rewrite, map, if, server_name)
const CORPUS: [string, boolean?, string[]?][] = [
  ['\\.php$'], ['\\.php(/|$)'], ['^(.+\\.php)(/.+)$'], ['^(.+?\\.php)(/.*)?$'], ['[^/]\\.php(/|$)'],
  ['^/(?<app>[^/]+)/(.*)$'], ['^/images/.*\\.(gif|jpe?g|png)$'], ['\\.(gif|jpg|jpeg|png|ico|css|js|svg|woff2?)$', true],
  ['^.+\\.(ogg|ogv|svg|svgz|eot|otf|woff|mp4|ttf|rss|atom|jpg|jpeg|gif|png|ico|zip|tgz|gz|rar|bz2|doc|xls|exe|ppt|tar|mid|midi|wav|bmp|rtf)$', true],
  ['/\\.ht'], ['/\\.(?!well-known).*'], ['/\\.'], ['^/(status|ping)$'], ['^/api/v(\\d+)/users/(\\d+)/?$'], ['^/(?:css|js|img)/'],
  ['\\.(?:jpg|jpeg|gif|png|webp)$', true], ['^/download/(.*)/(\\w+)\\.(mp3|ogg)$'], ['^/~(?<user>[^/]+)(?<path>.*)$'],
  ['^/~([a-z_][a-z0-9_]*)(/.*)?$'], ['^/users/(?P<id>[0-9]+)/?$'], ['^/([a-z]{2})(?:-([A-Z]{2}))?(/|$)'],
  ['^/static/(.+)\\.[0-9a-f]{8}\\.(js|css)$'], ['\\.(?:bak|config|sql|fla|psd|ini|log|sh|inc|swp|dist)$|~$', true],
  ['^/(?!api/)'], ['(?<=/)index\\.html?$'], ['^/wp-content/uploads/.*\\.php$'], ['^/(favicon\\.ico|robots\\.txt)$'],
  ['^/[[:alpha:]]+/[[:digit:]]+$'], ['^/[[:alnum:]_-]+/?$'], ['[[:space:]]'], ['^/[[:^space:]]+$'], ['[[:punct:]]{2,}'],
  ['[[:upper:]]'], ['[[:upper:]]', true], ['[[:^lower:]]+$', true], ['[[:xdigit:]]{8}'], ['[[:cntrl:]]'],
  ['^/(.*?)(/+)$'], ['^(/[^/]+)+$'], ['/{2,}'], ['^/a{,3}'], ['^/x{'], ['(?i)^/admin'], ['^/admin', true],
  ['^/(?<year>\\d{4})/(?<month>\\d{1,2})/(?<slug>[\\w-]+)/?$'], ['^/shop/(?:category|cat)/([^/]+)/page/(\\d+)/?$'],
  ['^/(en|fr|de)(/.*)?$'], ['^/old-page/?$'], ['^/img/(?<w>\\d+)x(?<h>\\d+)/(?<file>.+)$'], ['^(.*)/index\\.html?$'],
  ['^/(.+)/$'], ['^/proxy/(?<host>[a-z0-9.-]+):(?<port>\\d+)(?<rest>/.*)?$'], ['^/\\.well-known/acme-challenge/([-_a-zA-Z0-9]+)$'],
  ['^/(?:[^/]+/)*[^/.]+$'], ['[^/]\\.[^/]+$'], ['\\x{2e}php$'], ['^/files/\\Q(1).txt\\E$'], ['^/(?#comment)en'],
  ['(?x) ^/ (\\w+) / (\\w+) $ # two segments'], ['^/a(?=/)'], ['^/(?!private|admin)([^/]+)'], ['(?<!\\.min)\\.js$'],
  ['(?<=\\.)(js|css)$'], ['(?<=^/~|/u/)\\w+'], ['^/(\\w)\\1'], ['^/(?<d>[a-z])\\k<d>'], ['^/(a|b)*c'],
  ['\\d+\\.\\d+\\.\\d+\\.\\d+'], ['^(?:https?://)?([^/:]+)'], ['^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$'],
  ['^/v(\\d+)(?:\\.(\\d+))?(?:\\.(\\d+))?$'], ['\\s+'], ['\\S+$'], ['\\bab'], ['\\Bb'], ['^/caf\\xe9$'], ['^/CAF\\xe9$', true],
  ['^\\/a\\/b\\/c$'], ['[.]php$'], ['^/[^.]*$'], ['^.*$'], ['^/index\\.php\\z'], ['^/index\\.php\\Z'], ['(?m)^b$'],
  ['(?s)a.b'], ['a.b'], ['\\Aa'], ['\\N+'], ['\\h'], ['\\v+'], ['\\R'], ['[\\d.-]+$'], ['[\\w.-]+@'], ['^/[^/]+\\.(?:tar\\.gz|tgz|zip)$'],
  ['\\.(?:php[345]?|phtml)$'], ['^/(?<lang>[a-z]{2})(?:/(?<page>.*))?$'], ['\\.{2}'], ['a{2}b?|a+b'], ['^(a+)+$'],
  ['x*?/'], ['^(?U)/.+/'], ['(a)|b|(c)'], ['^/(.*)(?:\\.html)?$'], ['^(?<all>.*)$'], ['(*NO_JIT)^/en'],
  ['[]/]+'], ['[^]/]+'], ['^/\\Qold-page\\E/*$'], ['^/(?:index|default)\\.(?:html?|php)$', true], ['/(\\d+)$|/(\\w+)$'],
  ['^/(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)\\10'], ['(?:^|/)\\.'], ['[[:<:]]admin[[:>:]]'], ['^/(\\w*)?$'], ['^/foo(.*)?$'],
  ['^/(?<slug>[^/]*)?/?$'], ['^/(?:(\\d+)|([a-z]+))$'], ['^/a(?=b)?'],
  // option changes anywhere, and caseless matching folding ASCII letters only
  ['^/(?i)case$'], ['(?i:group)'], ['a(?i)b(?-i)c'], ['^/(?-i)Case$', true], ['^/c(?i:AS)e$'], ['^/c(?-i:AS)e$', true],
  ['(a(?i)b)c'], ['(?i)a(?^)b'], ['(?i)^/\\Qcase\\E$'], ['\\.(jpg|jpeg|png|gif)$', true], ['^/caf\u00e9$', true],
  ['\\xc9', true], ['\\xe9'], ['[\\xc0-\\xde]', true], ['[^\\x00-\\xdf]', true], ['\\xc3\\xa9', true], ['[a-c]+', true],
  ['[^a-c/]+$', true], ['[Z-a]', true], ['[\\x41-\\x43]+', true], ['(?i)[[:lower:]]+'], ['(?i)[^[:upper:]]+$'], ['^s', true],
  ['^k', true], ['[sk]$', true], ['\\w+$', true], ['^/(\\w+)/\\1$', true], ['(?i)^/(\\w+)/\\1$'], ['^/(\\d+)/\\1$', true],
  ['(\\w)\\1', true], ['(?i)(\\w)(?-i)\\1'], ['(?i)([\\xc0-\\xff])\\1'],
];

describe('differential against pcre2test', () => {
  beforeAll(() => {
    installPcre2test();
    pcre2testReady = true;
  });

  it('has a realistic corpus', () => expect(CORPUS.length).toBeGreaterThanOrEqual(100));

  it.each(CORPUS)('%j (caseless %s) matches as PCRE2 does', (pattern, caseless = false, extra = []) => {
    const subjects = [...URIS, ...extra];
    const expected = pcre2(pattern, caseless, subjects);
    expect(expected.error).toBeUndefined();
    const { regex } = compileRegex(pattern, caseless);
    const actual = subjects.map((s) => {
      const m = regex.exec(s);
      if (!m) return null;
      const groups = [...m].map((g) => (g === undefined ? undefined : encodeCapture(g)));
      while (groups.length > 1 && groups[groups.length - 1] === undefined) groups.pop();
      return groups;
    });
    expect(actual.map((a, i) => [subjects[i], a])).toEqual(expected.matches.map((e, i) => [subjects[i], e]));
  });

  // the error text and offset straight from PCRE2
  const BAD = [
    '(', '(a|b', ')', 'a)', '*a', 'a**', 'a{2}{3}', 'a+?+', '^*', 'x|{3}', '(?i)*', 'a(?i)*', '[a', '[]', '[^]', '[a\\Q',
    '\\1', '(a)\\2', '(?P=x)', '\\k<z>', '\\g{5}', '\\g0', 'x(?1)', '(?&a)', 'a{2,1}', 'a{99999}', 'a{3,99999}',
    '(?<n>a)(?<n>b)', '(?<', '(?<>a)', '(?P<1a>x)', '(?<a-b>x)', '(?<n', '(?P=n', '\\k', '\\k<', '\\g', '\\g{', '\\g{x',
    '[z-a]', '[\\x5a-\\x41]', '[\\d-z]', '[a-\\d]', '[a-[:digit:]]', '[[:alpha:]-z]', '[[:foo:]]', '[:alpha:]', '[[.a.]]',
    '\\c', '\\c\u00e9', '(?z)', '(?-^)', '(?Px)', '\\o{', '\\o{}x', '\\o{8}', '\\ox', '\\x{}', '\\x{zz}', '\\x{1', '\\x{110000}',
    '\\o{400}', '\\400', '[\\400]', '(?<=a+)b', 'x(?<=a(b|cd))', '(?<=a|bc|(?<=d+))', '(?<=\\R)', '(?<=a?)', '\\N{U+41}',
    '\\u', '[\\u]', '\\L', '\\y', '[\\y]', '[\\B]', '[\\R]', '[\\N]', '[\\C]', '(*FOO)', 'a(*UTF)', '(*foo:x)', '(*MARK)',
    '(?#abc', '(?', '(?:', '(?i', '(?P', '(*', '(?<abcdefghijabcdefghijabcdefghijabc>x)', '(?<=(?<=b+)a+)', '(?<=a+(?<=b+))',
    '(*)', '(*.)', '(*a', '(*1)', '(?+x)', '(?Rx)', '(?1+', '[a-\\N]', '[a-\\k]', '[a-\\B]', '[a-\\p{L}]', '\\g{-1}', '(a)\\g{-2}',
    '(?<=a\\2)(b)', '(?|(a)|(b))\\3', '\\k<a>(?<b>x)', '(?P>a)',
  ];
  it.each(BAD)('%j fails with the same message as PCRE2', (pattern) => {
    const { error } = pcre2(pattern, false, []);
    expect(error, 'PCRE2 accepted it').toBeDefined();
    const at = error!.offset < Buffer.byteLength(pattern) ? ` at "${Buffer.from(pattern).subarray(error!.offset).toString()}"` : '';
    expect(errorOf(pattern).message).toBe(`pcre2_compile() failed: ${error!.message} in "${pattern}"${at}`);
  });
});
