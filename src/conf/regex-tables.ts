// The data the PCRE-to-JS translator is built on: PCRE2's C-locale character
// sets, how a char code is written back as JS regex source, and the wording of
// the pcre2_compile() errors that more than one part reports.

export type Ranges = [number, number][];
// PCRE2's default character tables are built for the C locale: ASCII only.
// Its \s, \h and \v differ from JS's \s (which knows Unicode spaces), so they
// become explicit ranges; \d and \w are the same ASCII sets in both.
export const SETS: Record<string, Ranges> = { s: [[9, 13], [32, 32]], h: [[9, 9], [32, 32], [0xa0, 0xa0]], v: [[10, 13], [0x85, 0x85]] };
export const POSIX: Record<string, Ranges> = {
  alpha: [[65, 90], [97, 122]], digit: [[48, 57]], alnum: [[48, 57], [65, 90], [97, 122]],
  xdigit: [[48, 57], [65, 70], [97, 102]], upper: [[65, 90]], lower: [[97, 122]], space: SETS.s,
  blank: [[9, 9], [32, 32]], cntrl: [[0, 31], [127, 127]], print: [[32, 126]], graph: [[33, 126]],
  punct: [[33, 47], [58, 64], [91, 96], [123, 126]], word: [[48, 57], [65, 90], [95, 95], [97, 122]], ascii: [[0, 127]],
};
export const complement = (r: Ranges): Ranges => {
  const out: Ranges = [];
  let lo = 0;
  for (const [a, b] of r) (a > lo && out.push([lo, a - 1])), (lo = b + 1);
  return lo <= 0xffff ? [...out, [lo, 0xffff]] : out;
};

const CTRL: Record<number, string> = { 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };
const hex = (c: number): string =>
  CTRL[c] ?? (c < 0x100 ? '\\x' + c.toString(16).padStart(2, '0') : '\\u' + c.toString(16).padStart(4, '0'));
export const lit = (c: number): string => {
  const ch = String.fromCharCode(c);
  return /[\w !"#%&',\-/:;<=>@`~]/.test(ch) ? ch : '\\^$.|?*+()[]{}'.includes(ch) ? '\\' + ch : hex(c);
};
export const litClass = (c: number): string => {
  const ch = String.fromCharCode(c);
  return /[\w !"#$%&'()*+,./:;<=>?@{|}`~]/.test(ch) ? ch : '\\]^-['.includes(ch) ? '\\' + ch : hex(c);
};
export const rangesClass = (r: Ranges): string =>
  r.map(([a, b]) => litClass(a) + (b > a + 1 ? '-' : '') + (b > a ? litClass(b) : '')).join('');
export const isAsciiLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
// What JS's 'i' flag (without 'u') makes equal among the Latin-1 chars a subject
// holds: ASCII letters, then the pairs PCRE2 (no UTF, C locale tables) leaves apart.
export const ASCII_PAIRS: [number, number][] = [];
export const LATIN1_PAIRS: [number, number][] = [];
for (let c = 97; c <= 122; c++) ASCII_PAIRS.push([c, c - 32]);
for (let c = 0xe0; c <= 0xfe; c++) if (c !== 0xf7) LATIN1_PAIRS.push([c, c - 32]);

// Start-of-pattern settings; those in the first group do not change what matches.
export const START = /^\(\*(?:(NO_AUTO_POSSESS|NO_DOTSTAR_ANCHOR|NO_JIT|NO_START_OPT|LF|BSR_UNICODE|LIMIT_(?:HEAP|MATCH|DEPTH|RECURSION)=\d+)|(UTF|UCP|NOTEMPTY|NOTEMPTY_ATSTART|CR|CRLF|ANYCRLF|ANY|NUL|BSR_ANYCRLF))\)/;
// alpha assertions (*pla:…) etc.: the JS opener, and why it cannot be translated
export const ALPHA: Record<string, [string, string?]> = {};
for (const [names, opener, why] of [
  ['pla positive_lookahead', '(?='], ['nla negative_lookahead', '(?!'], ['plb positive_lookbehind', '(?<='],
  ['nlb negative_lookbehind', '(?<!'], ['atomic', '(?:', 'an atomic group'], ['sr script_run asr atomic_script_run', '(?:', 'a script run'],
  ['napla non_atomic_positive_lookahead', '(?=', 'a non-atomic assertion'], ['naplb non_atomic_positive_lookbehind', '(?<=', 'a non-atomic assertion'],
]) for (const name of names.split(' ')) ALPHA[name] = [opener, why];
export const TERM: Record<string, string> = { '<': '>', "'": "'", '{': '}' };
export const XSPACE = /[\t-\r \x85\u200e\u200f\u2028\u2029#]/; // what (?x) skips, # starting a comment
export const NOSUPPORT = 'PCRE2 does not support \\F, \\L, \\l, \\N{name}, \\U, or \\u';
export const NOREF = 'reference to non-existent subpattern';
export const BADRANGE = 'invalid range in character class';
export const NOPAREN = 'missing closing parenthesis';
