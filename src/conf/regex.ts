// nginx compiles its regexes with PCRE2 (8-bit, no UTF, no multiline) at config
// load; nodinx translates them once into JavaScript RegExps without the 'u'
// flag. Every item is re-emitted in a canonical form rather than copied, so no
// JS-only syntax (nor a JS reading of PCRE syntax) can leak through. Errors read
// as nginx logs pcre2_compile()'s, error offset included.
//
// Caseless matching: PCRE2 without UTF folds ASCII letters only, where JS's 'i'
// flag (even without 'u') also pairs é/É and the rest of Latin-1, and JS before
// Node 23 cannot scope it, where PCRE2 takes (?i) and (?-i) anywhere. So a letter
// matched caselessly becomes a two-case class (b -> [bB], [a-c] -> [a-cA-C]),
// which costs nothing measurable, and 'i' is used only when a back-reference
// must compare caselessly (see caseFlag below).

export interface CompiledRegex {
  source: string; // the original PCRE pattern
  regex: RegExp; // the JS equivalent, without 'g'/'y'
  captures: number; // capturing groups as PCRE counts them, named ones included
  names: string[]; // named groups in order of appearance
}

export class RegexSyntaxError extends Error {
  override name = 'RegexSyntaxError';
  code = 'NODINX_REGEX';
}

type Ranges = [number, number][];
// PCRE2's default character tables are built for the C locale: ASCII only.
// Its \s, \h and \v differ from JS's \s (which knows Unicode spaces), so they
// become explicit ranges; \d and \w are the same ASCII sets in both.
const SETS: Record<string, Ranges> = { s: [[9, 13], [32, 32]], h: [[9, 9], [32, 32], [0xa0, 0xa0]], v: [[10, 13], [0x85, 0x85]] };
const POSIX: Record<string, Ranges> = {
  alpha: [[65, 90], [97, 122]], digit: [[48, 57]], alnum: [[48, 57], [65, 90], [97, 122]],
  xdigit: [[48, 57], [65, 70], [97, 102]], upper: [[65, 90]], lower: [[97, 122]], space: SETS.s,
  blank: [[9, 9], [32, 32]], cntrl: [[0, 31], [127, 127]], print: [[32, 126]], graph: [[33, 126]],
  punct: [[33, 47], [58, 64], [91, 96], [123, 126]], word: [[48, 57], [65, 90], [95, 95], [97, 122]], ascii: [[0, 127]],
};
const complement = (r: Ranges): Ranges => {
  const out: Ranges = [];
  let lo = 0;
  for (const [a, b] of r) (a > lo && out.push([lo, a - 1])), (lo = b + 1);
  return lo <= 0xffff ? [...out, [lo, 0xffff]] : out;
};

const CTRL: Record<number, string> = { 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };
const hex = (c: number): string =>
  CTRL[c] ?? (c < 0x100 ? '\\x' + c.toString(16).padStart(2, '0') : '\\u' + c.toString(16).padStart(4, '0'));
const lit = (c: number): string => {
  const ch = String.fromCharCode(c);
  return /[\w !"#%&',\-/:;<=>@`~]/.test(ch) ? ch : '\\^$.|?*+()[]{}'.includes(ch) ? '\\' + ch : hex(c);
};
const litClass = (c: number): string => {
  const ch = String.fromCharCode(c);
  return /[\w !"#$%&'()*+,./:;<=>?@{|}`~]/.test(ch) ? ch : '\\]^-['.includes(ch) ? '\\' + ch : hex(c);
};
const rangesClass = (r: Ranges): string =>
  r.map(([a, b]) => litClass(a) + (b > a + 1 ? '-' : '') + (b > a ? litClass(b) : '')).join('');
const isAsciiLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
// What JS's 'i' flag (without 'u') makes equal among the Latin-1 chars a subject
// holds: ASCII letters, then the pairs PCRE2 (no UTF, C locale tables) leaves apart.
const ASCII_PAIRS: [number, number][] = [];
const LATIN1_PAIRS: [number, number][] = [];
for (let c = 97; c <= 122; c++) ASCII_PAIRS.push([c, c - 32]);
for (let c = 0xe0; c <= 0xfe; c++) if (c !== 0xf7) LATIN1_PAIRS.push([c, c - 32]);

interface Flags { i: boolean; m: boolean; s: boolean; x: boolean; xx: boolean; n: boolean; U: boolean; J: boolean }
interface Last { idx: number; len: number | null; empty: boolean; kind: 'atom' | 'assert' | 'backref'; group?: Frame; at: number }
interface Frame {
  at: number; // offset of '(' in the pattern
  outAt: number; // index of the group's opener in `out`
  saved: Flags; // options in force outside the group
  look: '' | 'ahead' | 'behind';
  capture: number;
  len: number | null; // fixed length of the current branch so far (null: variable), for lookbehinds
  lens: (number | null)[]; // lengths of the finished branches
  empty: boolean; // the current branch can match the empty string so far
  anyEmpty: boolean; // a finished branch can
  varAt?: number; // where a branch first turned variable, which is where PCRE2 notices
  last: Last | null; // the item a quantifier would repeat
  optional: boolean; // may be skipped: quantified with a minimum of 0, or a negative assertion
  chars: (string | number)[]; // what it can consume: JS sources of one-char items, and numbers of back-referenced groups
}

// Start-of-pattern settings; those in the first group do not change what matches.
const START = /^\(\*(?:(NO_AUTO_POSSESS|NO_DOTSTAR_ANCHOR|NO_JIT|NO_START_OPT|LF|BSR_UNICODE|LIMIT_(?:HEAP|MATCH|DEPTH|RECURSION)=\d+)|(UTF|UCP|NOTEMPTY|NOTEMPTY_ATSTART|CR|CRLF|ANYCRLF|ANY|NUL|BSR_ANYCRLF))\)/;
// alpha assertions (*pla:…) etc.: the JS opener, and why it cannot be translated
const ALPHA: Record<string, [string, string?]> = {};
for (const [names, opener, why] of [
  ['pla positive_lookahead', '(?='], ['nla negative_lookahead', '(?!'], ['plb positive_lookbehind', '(?<='],
  ['nlb negative_lookbehind', '(?<!'], ['atomic', '(?:', 'an atomic group'], ['sr script_run asr atomic_script_run', '(?:', 'a script run'],
  ['napla non_atomic_positive_lookahead', '(?=', 'a non-atomic assertion'], ['naplb non_atomic_positive_lookbehind', '(?<=', 'a non-atomic assertion'],
]) for (const name of names.split(' ')) ALPHA[name] = [opener, why];
const TERM: Record<string, string> = { '<': '>', "'": "'", '{': '}' };
const XSPACE = /[\t-\r \x85\u200e\u200f\u2028\u2029#]/; // what (?x) skips, # starting a comment
const NOSUPPORT = 'PCRE2 does not support \\F, \\L, \\l, \\N{name}, \\U, or \\u';
const NOREF = 'reference to non-existent subpattern';
const BADRANGE = 'invalid range in character class';
const NOPAREN = 'missing closing parenthesis';

export function compileRegex(pattern: string, caseless = false): CompiledRegex {
  const p = pattern;
  const n = p.length;
  const fail = (msg: string, at: number): never => {
    throw new RegexSyntaxError(`pcre2_compile() failed: ${msg} in "${p}"${at < n ? ` at "${p.slice(at)}"` : ''}`);
  };
  const cannot = (what: string): never => {
    throw new RegexSyntaxError(`pcre2_compile() failed: nodinx cannot translate ${what} to a JavaScript regex in "${p}"`);
  };
  // Untranslatable constructs are reported once the whole pattern has parsed,
  // so that a plain syntax error further on wins, as it would in nginx.
  let unsupported: string | undefined;
  const defer = (what: string): void => void (unsupported ??= what);

  let [pos, tok, bracount] = [0, 0, 0]; // tok: where the item being parsed starts
  let f: Flags = { i: caseless, m: false, s: false, x: false, xx: false, n: false, U: false, J: false };
  let globalS = false;
  let leading = true; // nothing but option settings and ^ so far: (?s) here becomes the JS flag
  let [inQ, classQ] = [false, false];
  const names: string[] = [];
  const nameNum = new Map<string, number>();
  const closedIn = new Map<number, [Frame, number][]>(); // a closed group's own frame, enclosing frames and their branch numbers
  const refs: { num?: number; name?: string; at: number; caseless?: boolean }[] = [];
  const groupChars = new Map<number, (string | number)[]>(); // Frame.chars of each closed capturing group
  const lbErrors: [number, number][] = []; // [where PCRE2 notices, the offset it reports]
  const out: string[] = [];
  const stack: Frame[] = [];
  const top = (): Frame => stack[stack.length - 1];
  const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

  const commit = (fr: Frame): void => {
    const l = fr.last;
    if (l && fr.len !== null && l.len === null) fr.varAt ??= l.at;
    if (l) (fr.len = fr.len === null || l.len === null ? null : fr.len + l.len), (fr.empty &&= l.empty);
    fr.last = null;
  };
  const push = (at: number, opener: string, look: Frame['look'] = '', capture = 0, flags = f): void => {
    if (stack.length) commit(top());
    stack.push({ at, outAt: out.length, saved: f, look, capture, len: 0, lens: [], empty: true, anyEmpty: false, last: null, optional: /^\(\?<?!/.test(opener), chars: [] });
    out.push(opener);
    f = flags;
  };
  const atom = (js: string, len: number | null, extra?: Partial<Last>): void => {
    const fr = top();
    // "\1" then a literal "0" must not fuse into "\10"
    if (/^\d/.test(js) && fr.last?.kind === 'backref') out[fr.last.idx] = `(?:${out[fr.last.idx]})`;
    commit(fr);
    if (len === 1 && !extra) fr.chars.push(js);
    fr.last = { idx: out.push(js) - 1, len, empty: len === 0, kind: 'atom', at: tok, ...extra };
  };
  // a literal character; a letter matched caselessly becomes a two-case class
  const char = (c: number): void => atom(f.i && isAsciiLetter(c) ? `[${String.fromCharCode(c, c ^ 32)}]` : lit(c), 1);
  const zero = (js: string): void => void (commit(top()), out.push(js));
  const skipSpace = (): void => {
    while (pos < n && XSPACE.test(p[pos])) if (p[pos++] === '#') while (pos < n && p[pos] !== '\n') pos++;
  };
  const readName = (term: string): string => {
    const at = pos;
    if (isDigit(p[pos])) fail('subpattern name must start with a non-digit', pos);
    while (pos < n && /\w/.test(p[pos])) pos++;
    const name = p.slice(at, pos);
    if (!name) fail('subpattern name expected', at);
    if (name.length > 32) fail('subpattern name is too long (maximum 32 code units)', pos);
    if (p[pos++] !== term) fail('syntax error in subpattern name (missing terminator?)', pos - 1);
    return name;
  };

  const backref = (num: number | undefined, name?: string, at = pos - 1): void => {
    const lb = stack.some((fr) => fr.look === 'behind');
    refs.push({ num, name, at, caseless: f.i });
    top().chars.push(name === undefined ? num! : nameNum.get(name) ?? 0);
    const where = closedIn.get(name === undefined ? num! : nameNum.get(name) ?? 0);
    if (!where) defer('a reference to a group that is not closed yet');
    // PCRE fails a reference to an unset group where JS matches the empty string
    else if (where.some(([fr, b]) => (stack.includes(fr) ? fr.lens.length !== b : fr.optional || (b >= 0 && fr.lens.length > 1))))
      defer('a backreference to a group that may be unset');
    // JS matches lookbehinds backwards, so a reference there sees what lies to its right
    if (lb) defer('a backreference inside a lookbehind');
    atom(name === undefined ? `\\${num}` : `\\k<${name}>`, lb ? 0 : null, { kind: 'backref', empty: true });
  };
  const recursion = (num: number | undefined, name?: string, at = pos - 1): void => {
    if (num !== 0) refs.push({ num, name, at });
    defer('recursion');
    atom('(?:)', null, { empty: true });
  };
  const named = (term: string, call: typeof backref): void => {
    const at = pos;
    call(undefined, readName(term), at);
  };
  // (?-1) is the most recently opened group, (?+1) the next one to open
  const groupNum = (s: string): number => (s[0] === '-' ? bracount + 1 + +s : s[0] === '+' ? bracount + +s : +s);

  // An escape that stands for one character, inside or outside a class; pos is on its letter.
  const charEscape = (c: string): number => {
    const simple: Record<string, number> = { a: 7, e: 0x1b, f: 12, n: 10, r: 13, t: 9 };
    if (c in simple) return pos++, simple[c];
    if (c >= '0' && c <= '7') {
      let v = 0;
      for (let k = 0; k < 3 && p[pos] >= '0' && p[pos] <= '7'; k++) v = v * 8 + +p[pos++];
      return v > 0xff ? fail('octal value is greater than \\377 in 8-bit non-UTF-8 mode', pos) : v;
    }
    if (c === 'x' || c === 'o') {
      if (p[++pos] !== '{') {
        if (c === 'o') fail('missing opening brace after \\o', pos);
        const h = /^[0-9a-fA-F]{0,2}/.exec(p.slice(pos))![0];
        return (pos += h.length), h ? parseInt(h, 16) : 0;
      }
      const start = ++pos;
      while (pos < n && (c === 'x' ? /[0-9a-fA-F]/ : /[0-7]/).test(p[pos])) pos++;
      if (pos === start && (pos === n || p[pos] === '}')) fail('digits missing in \\x{} or \\o{} or \\N{U+}', pos);
      if (p[pos] !== '}') fail(`non-${c === 'x' ? 'hex' : 'octal'} character in \\${c}{} (closing brace missing?)`, Math.min(pos, n - 1));
      const v = parseInt(p.slice(start, pos), c === 'x' ? 16 : 8);
      return v > 0xff ? fail('character code point value in \\x{} or \\o{} is too large', pos) : (pos++, v);
    }
    if (c === 'c') {
      if (++pos >= n) fail('\\c at end of pattern', n);
      if (!/[\x20-\x7e]/.test(p[pos])) fail('\\c must be followed by a printable ASCII character', pos);
      return p[pos++].toUpperCase().charCodeAt(0) ^ 0x40;
    }
    if ('FLlUu'.includes(c)) fail(NOSUPPORT, pos + 1);
    if (/[A-Za-z0-9]/.test(c)) fail('unrecognized character follows \\', pos);
    return p.charCodeAt(pos++);
  };

  // [[:name:]] syntax, as PCRE2's check_posix_syntax(): the offset of the closing terminator, or -1
  const posixEnd = (at: number): number => {
    for (let k = at + 1; n - k >= 2; k++) {
      if (p[k] === '\\' && (p[k + 1] === ']' || p[k + 1] === '\\')) k++;
      else if ((p[k] === '[' && p[k + 1] === p[at]) || p[k] === ']') return -1;
      else if (p[k] === p[at] && p[k + 1] === ']') return k;
    }
    return -1;
  };
  const isPosix = (k: number): boolean => p[k] === '[' && /[:.=]/.test(p[k + 1] ?? '') && posixEnd(k + 1) >= 0;

  // One class member: a char code, a JS class fragment for a set, or null for nothing.
  const classItem = (rangeEnd = false): number | string | null => {
    if (classQ) return p.startsWith('\\E', pos) ? ((classQ = false), (pos += 2), null) : p.charCodeAt(pos++);
    if (f.xx && (p[pos] === ' ' || p[pos] === '\t')) return pos++, null;
    if (isPosix(pos)) {
      if (rangeEnd) fail(BADRANGE, pos + 1);
      if (p[pos + 1] !== ':') fail('POSIX collating elements are not supported', pos);
      const [end, neg] = [posixEnd(pos + 1), p[pos + 2] === '^'];
      let name = p.slice(pos + (neg ? 3 : 2), end);
      if (!(name in POSIX)) fail('unknown POSIX class name', pos + 2);
      if (f.i && (name === 'upper' || name === 'lower')) name = 'alpha'; // as PCRE2 does when caseless
      pos = end + 2;
      return rangesClass(neg ? complement(POSIX[name]) : POSIX[name]);
    }
    if (p[pos] !== '\\') return p.charCodeAt(pos++);
    if (++pos >= n) fail('\\ at end of pattern', n);
    const e = p[pos];
    if (rangeEnd && 'AzZGKkCNpPdDwWsShHvV'.includes(e)) fail(BADRANGE, pos + 1);
    if (e === 'Q' || e === 'E') return (classQ = e === 'Q'), pos++, null;
    if (e === 'b') return pos++, 8;
    if ('g89'.includes(e)) return p.charCodeAt(pos++); // PCRE2 10.42 reads [\g] as a literal g
    if ('dDwW'.includes(e)) return pos++, '\\' + e;
    if ('sShHvV'.includes(e)) return pos++, rangesClass(e > 'Z' ? SETS[e] : complement(SETS[e.toLowerCase()]));
    if (e === 'N') fail('\\N is not supported in a class', pos + 1);
    if (e === 'p' || e === 'P') cannot('a Unicode property (\\p, \\P)');
    if ('BRXAzZGKkC'.includes(e)) fail('escape sequence is invalid in character class', pos);
    return charEscape(e);
  };

  const parseClass = (): string => {
    let [neg, body] = [false, ''];
    // as PCRE2 does, skip \E, \Q\E and (?xx) blanks around the ^, so that a ] after them is still a literal
    for (pos++; ; pos++) {
      if (p.startsWith('\\E', pos)) pos++;
      else if (p.startsWith('\\Q\\E', pos)) pos += 3;
      else if (!(f.xx && (p[pos] === ' ' || p[pos] === '\t')) && (neg || p[pos] !== '^' || !(neg = true))) break;
    }
    classQ = false;
    const codes: Ranges = []; // the members given as characters and ranges, for caseless folding
    for (let first = true; ; first = false) {
      if (pos >= n) fail('missing terminating ] for character class', n);
      if (p[pos] === ']' && !first && !classQ) break; // a leading ] is a literal
      const lo = classItem();
      if (lo === null) continue;
      if (classQ || p[pos] !== '-' || pos + 1 >= n || p[pos + 1] === ']') {
        if (typeof lo === 'number') codes.push([lo, lo]);
        body += typeof lo === 'string' ? lo : litClass(lo);
        continue;
      }
      if (typeof lo === 'string') fail(BADRANGE, pos);
      let hi: number | string | null = null;
      for (pos++; hi === null && pos < n; ) hi = classItem(true);
      if (hi === null) fail('missing terminating ] for character class', n);
      if (typeof hi === 'string') fail(BADRANGE, pos);
      if ((hi as number) < (lo as number)) fail('range out of order in character class', pos - 1);
      codes.push([lo as number, hi as number]);
      body += litClass(lo as number) + '-' + litClass(hi as number);
    }
    pos++;
    // caseless: add the other case of the ASCII letters given (sets such as \w and
    // [:alpha:] hold both already; [:upper:] and [:lower:] became [:alpha:])
    if (f.i) {
      const given = (c: number): boolean => codes.some(([a, b]) => a <= c && c <= b);
      const add: Ranges = [];
      for (let c = 65; c <= 122; c++) {
        if (!isAsciiLetter(c) || given(c) || !given(c ^ 32)) continue;
        if (add.length && add[add.length - 1][1] === c - 1) add[add.length - 1][1] = c;
        else add.push([c, c]);
      }
      body += rangesClass(add);
    }
    return `[${neg ? '^' : ''}${body}]`;
  };

  const quantifier = (min: number, max: number): void => {
    const fr = top();
    const l = fr.last;
    if (!l) return fail('quantifier does not follow a repeatable item', pos - 1); // PCRE2 points at its last char
    // comments and \E may sit between a quantifier and its lazy/possessive mark
    for (let skip = 1; skip; pos += skip) {
      if (f.x) skipSpace();
      skip = p.startsWith('\\E', pos) ? 2 : p.startsWith('\\Q\\E', pos) ? 4 : p.startsWith('(?#', pos) && p.includes(')', pos) ? p.indexOf(')', pos) + 1 - pos : 0;
    }
    let lazy = f.U;
    if (p[pos] === '?') (lazy = !lazy), pos++;
    else if (p[pos] === '+') defer('a possessive quantifier'), (lazy = false), pos++;
    if (min === 0 && l.group) l.group.optional = true;
    // PCRE2 obeys a repeated assertion at most once; and an optional item that
    // matches the empty string counts as matched there, where JS would backtrack
    if (max === 0 && l.kind === 'assert') out[l.idx] = `(?:${out[l.idx]}){0}`;
    else if (min === 0 && (l.kind === 'assert' || (max === 1 && l.empty))) out[l.idx] = lazy ? `(?:|${out[l.idx]})` : `(?:${out[l.idx]}|)`;
    else if (l.kind !== 'assert') {
      const q = max === Infinity ? (min < 2 ? '*+'[min] : `{${min},}`) : max === 1 && min === 0 ? '?' : `{${min}${min === max ? '' : ',' + max}}`;
      out[l.idx] += q + (lazy ? '?' : '');
      l.len = min === max && l.len !== null ? l.len * min : null;
    }
    l.empty ||= min === 0;
    commit(fr);
  };

  const options = (at: number): void => {
    const nf = { ...f };
    let on = true;
    if (p[pos] === '^') Object.assign(nf, { i: false, m: false, n: false, s: false, x: false, xx: false }), pos++;
    for (; pos < n && p[pos] !== ')' && p[pos] !== ':'; pos++) {
      const c = p[pos];
      if (c === '-' && on) on = false;
      else if (c === 'x') (nf.x = on), p[pos + 1] === 'x' ? ((nf.xx = on), pos++) : on || (nf.xx = false);
      else if ('imnsJU'.includes(c)) nf[c as 'i'] = on;
      else fail('unrecognized character after (? or (?-', pos);
    }
    if (pos >= n) fail(NOPAREN, n);
    const scoped = p[pos++] === ':';
    if (!scoped && leading && stack.length === 1) globalS = nf.s;
    if (scoped) return push(at, '(?:', '', 0, nf);
    f = nf;
    commit(top());
  };

  const assertion = (at: number, opener: string, why?: string): void => {
    if (why) defer(why);
    push(at, opener, opener.startsWith('(?<') ? 'behind' : opener === '(?:' ? '' : 'ahead');
  };

  const openGroup = (): void => {
    const at = pos++;
    if (p[pos] === '*' && pos + 1 < n && p[pos + 1] !== ')') {
      const m = /^\w*/.exec(p.slice(pos + 1))![0];
      pos += 1 + m.length;
      if (/^[a-z]/.test(m)) {
        if (p[pos++] !== ':' || !ALPHA[m]) fail('(*alpha_assertion) not recognized', pos - 1);
        return assertion(at, ...ALPHA[m]);
      }
      if (!/^(ACCEPT|FAIL|F|COMMIT|PRUNE|SKIP|THEN|MARK|)$/.test(m) || (!m && p[pos] !== ':')) fail('(*VERB) not recognized or malformed', pos);
      if (p[pos] === ':') while (pos < n && p[pos] !== ')') pos++;
      else if (m === 'MARK') fail('(*MARK) must have an argument', pos);
      if (p[pos++] !== ')') fail('(*VERB) not recognized or malformed', n);
      if (m !== 'F' && m !== 'FAIL') defer(`the backtracking verb (*${m})`);
      return zero(m === 'F' || m === 'FAIL' ? '(?!)' : '');
    }
    if (p[pos] !== '?') return f.n ? push(at, '(?:') : push(at, '(', '', ++bracount);
    const [c, c2] = [p[++pos], p[pos + 1]];
    if (c === ':' || c === '>' || c === '|') {
      if (c !== ':') defer(c === '>' ? 'an atomic group' : 'a branch reset group (?|');
      return pos++, push(at, '(?:');
    }
    if (c === '=' || c === '!') return pos++, assertion(at, `(?${c}`);
    if (c === '<' && (c2 === '=' || c2 === '!')) return (pos += 2), assertion(at, `(?<${c2}`);
    if (c === '*' || (c === '<' && c2 === '*')) return (pos += c === '*' ? 1 : 2), assertion(at, c === '*' ? '(?=' : '(?<=', 'a non-atomic assertion');
    if (c === '+' && !isDigit(c2)) fail('digit expected after (?+ or (?-', pos);
    if (c === '(') cannot('a conditional group (?(');
    if (c === 'C') cannot('a callout (?C');
    if (c === '<' || c === "'" || (c === 'P' && c2 === '<')) {
      pos += c === 'P' ? 2 : 1;
      const name = readName(c === "'" ? "'" : '>');
      if (nameNum.has(name) && !f.J) fail('two named subpatterns have the same name (PCRE2_DUPNAMES not set)', pos);
      if (nameNum.has(name)) defer('duplicate group names');
      else nameNum.set(name, bracount + 1), names.push(name);
      return push(at, `(?<${name}>`, '', ++bracount);
    }
    if (c === 'P' || c === '&') {
      if (c2 === undefined) fail(NOPAREN, n);
      if (c === 'P' && c2 !== '=' && c2 !== '>') fail('unrecognized character after (?P', pos + 1);
      pos += c === 'P' ? 2 : 1;
      return named(')', c2 === '=' ? backref : recursion);
    }
    const r = /^(R|[+-]?\d+)/.exec(p.slice(pos));
    if (r) {
      pos += r[0].length;
      if (p[pos++] !== ')') fail(r[1] === 'R' ? '(?R (recursive pattern call) must be followed by a closing parenthesis' : NOPAREN, pos - 1);
      return recursion(r[1] === 'R' ? 0 : groupNum(r[1]));
    }
    if (c !== '#') return options(at);
    if (!(pos = p.indexOf(')', pos) + 1)) fail('missing ) after (?# comment', n);
  };

  const closeGroup = (): void => {
    const fr = stack.pop()!;
    commit(fr);
    fr.lens.push(fr.len);
    if (fr.look === 'behind' && fr.lens.includes(null)) lbErrors.push([fr.varAt!, fr.at]);
    f = fr.saved;
    top().chars.push(...fr.chars);
    if (fr.capture) groupChars.set(fr.capture, fr.chars);
    if (fr.capture) closedIn.set(fr.capture, [[fr, -1], ...stack.map((s): [Frame, number] => [s, s.lens.length])]);
    const len = fr.look ? 0 : fr.lens.every((l) => l !== null && l === fr.lens[0]) ? fr.lens[0] : null;
    const [kind, empty] = fr.look ? ['assert' as const, true] : ['atom' as const, fr.anyEmpty || fr.empty];
    atom(out.splice(fr.outAt).join('') + ')', len, { kind, empty, group: fr, at: fr.varAt ?? tok });
  };

  const escape = (): void => {
    if (++pos >= n) fail('\\ at end of pattern', n);
    const c = p[pos];
    if (c === 'Q' || c === 'E') return void ((inQ = c === 'Q'), pos++);
    if (c === 'A' || c === 'G') return pos++, zero('^'); // nginx always matches from offset 0, so \G is \A
    leading = false;
    const zeros: Record<string, string> = { z: '$', Z: '(?=\\n?$)', b: '\\b', B: '\\B', K: '' };
    if (c === 'K') defer('\\K');
    if (c in zeros) return pos++, zero(zeros[c]);
    if ('dDwW'.includes(c)) return pos++, atom('\\' + c, 1);
    if ('sShHvV'.includes(c)) return pos++, atom(`[${c > 'Z' ? '' : '^'}${rangesClass(SETS[c.toLowerCase()])}]`, 1);
    if (c === 'N' && p[++pos] === '{' && !/^\{\d+(,\d*)?\}/.test(p.slice(pos)))
      fail(p.startsWith('{U+', pos) ? '\\N{U+dddd} is supported only in Unicode (UTF) mode' : NOSUPPORT, pos);
    if (c === 'N') return atom('[^\\n]', 1);
    // \R is atomic in PCRE2: a CRLF is never split into CR then LF
    if (c === 'R') return pos++, atom('(?:\\r\\n|\\r(?!\\n)|[\\n\\v\\f\\x85])', null);
    if (c === 'C') return pos++, atom('[^]', 1);
    if (c === 'X') cannot('\\X');
    if (c === 'p' || c === 'P') cannot('a Unicode property (\\p, \\P)');
    const g = c === 'g' ? /^(?:\{([+-]?\d+)\}|([+-]?\d+))/.exec(p.slice(pos + 1)) : null;
    if (g) {
      const s = g[1] ?? g[2];
      pos += 1 + g[0].length;
      if (s[0] === '+') return defer('a forward reference \\g+'), atom('(?:)', null, { empty: true });
      if (groupNum(s) <= 0) fail(NOREF, s[0] === '-' && g[1] ? pos - g[0].length : pos);
      return backref(groupNum(s));
    }
    if (c === 'k' || c === 'g') {
      const term = TERM[p[++pos]];
      if (!term && c === 'k') fail('\\k is not followed by a braced, angle-bracketed, or quoted name', pos);
      if (!term) fail('\\g is not followed by a braced, angle-bracketed, or quoted name/number or by a plain number', pos);
      if (c === 'k' || term === '}') return pos++, named(term, backref);
      // \g<…> and \g'…' are Oniguruma-style subroutine calls
      const r = /^[+-]?\d+/.exec(p.slice(++pos));
      if (r && p[pos + r[0].length] === term) return (pos += r[0].length + 1), recursion(groupNum(r[0]));
      return named(term, recursion);
    }
    if (c >= '1' && c <= '9') {
      // \1-\9, \8x and \9x are references; \10 and up only if that many groups have opened, else octal
      const digits = /^\d+/.exec(p.slice(pos))![0];
      if (+digits < 10 || c >= '8' || +digits <= bracount) return (pos += digits.length), backref(+digits);
    }
    char(charEscape(c));
  };

  // Letters need no 'i' flag, but a back-reference compares case-sensitively
  // without it. So 'i' is set when a caseless back-reference may see ASCII
  // letters; then the whole pattern must read the same under it: no item that
  // tells a letter from its other case (JS also pairs é/É, PCRE2 does not), no
  // case-sensitive back-reference to letters, and no caseless one to non-ASCII letters.
  const caseFlag = (): boolean => {
    const probes = new Map<string, { ascii: boolean; latin1: boolean; asciiSplit: boolean; latin1Split: boolean }>();
    const probe = (js: string) => {
      let r = probes.get(js);
      if (r) return r;
      const re = new RegExp(`^(?:${js})$`);
      const test = (pairs: [number, number][]): [boolean, boolean] => {
        const hits = pairs.map(([a, b]) => [re.test(String.fromCharCode(a)), re.test(String.fromCharCode(b))]);
        return [hits.some(([x, y]) => x || y), hits.some(([x, y]) => x !== y)];
      };
      const [[ascii, asciiSplit], [latin1, latin1Split]] = [test(ASCII_PAIRS), test(LATIN1_PAIRS)];
      probes.set(js, (r = { ascii, latin1, asciiSplit, latin1Split }));
      return r;
    };
    // which letters a group can capture; seen guards (a\1), which is refused anyway
    const letters = (chars: (string | number)[], seen = new Set<number>()): { ascii: boolean; latin1: boolean } => {
      const r = { ascii: false, latin1: false };
      for (const c of chars) {
        const l = typeof c === 'string' ? probe(c) : seen.has(c) ? r : letters(groupChars.get(c) ?? [], seen.add(c));
        (r.ascii ||= l.ascii), (r.latin1 ||= l.latin1);
      }
      return r;
    };
    const refLetters = refs.filter((r) => r.caseless !== undefined).map((r) => [r, letters(groupChars.get(r.num ?? nameNum.get(r.name!) ?? 0) ?? [])] as const);
    if (!refLetters.some(([r, l]) => r.caseless && l.ascii)) return false;
    for (const [r, l] of refLetters) {
      if (r.caseless && l.latin1) defer('a caseless backreference to a group that may capture non-ASCII letters');
      if (!r.caseless && (l.ascii || l.latin1)) defer('a case-sensitive backreference to letters alongside a caseless one');
    }
    for (const c of stack[0].chars) {
      const pr = typeof c === 'string' ? probe(c) : null;
      if (pr?.asciiSplit) defer('case-sensitive letters alongside a caseless backreference');
      if (pr?.latin1Split) defer('non-ASCII letters alongside a caseless backreference');
    }
    return true;
  };

  push(-1, '');
  for (let m; (m = START.exec(p.slice(pos))); pos += m[0].length) if (m[2]) defer(`the start-of-pattern option (*${m[2]})`);
  while (pos < n) {
    const c = p[(tok = pos)];
    const qm = c === '{' && !inQ ? /^\{(\d+)(,(\d*))?\}/.exec(p.slice(pos)) : null;
    if (inQ && p.startsWith('\\E', pos)) (inQ = false), (pos += 2);
    else if (inQ) (leading = false), char(p.charCodeAt(pos++));
    else if (f.x && XSPACE.test(c)) skipSpace();
    else if (c === '\\') escape();
    else if (c === '^') pos++, zero(f.m ? '(?:^|(?<=\\n)(?!$))' : '^');
    else if (c === '(') (leading &&= /^\(\?([-imnsxJU^]*\)|#)/.test(p.slice(pos))), openGroup(); // option settings and comments keep `leading`
    else if (((leading = false), qm || '*+?'.includes(c))) { // anything else ends `leading`
      const [min, max] = qm ? [+qm[1], qm[2] === undefined ? +qm[1] : qm[3] === '' ? Infinity : +qm[3]] : [+(c === '+'), c === '?' ? 1 : Infinity];
      pos += qm ? qm[0].length : 1;
      if (min > 65535) fail('number too big in {} quantifier', tok + 1 + qm![1].length);
      if (max !== Infinity && max > 65535) fail('number too big in {} quantifier', pos - 1);
      if (min > max) fail('numbers out of order in {} quantifier', pos - 1);
      quantifier(min, max);
    } else if (c === ')') {
      if (stack.length === 1) fail('unmatched closing parenthesis', pos);
      pos++;
      closeGroup();
    } else if (c === '|') {
      const fr = top();
      pos++;
      commit(fr);
      fr.lens.push(fr.len);
      [fr.len, fr.anyEmpty, fr.empty] = [0, fr.anyEmpty || fr.empty, true];
      out.push('|');
    } else if (/^\[\[:[<>]:\]\]/.test(p.slice(pos))) {
      zero(p[pos + 3] === '<' ? '\\b(?=\\w)' : '\\b(?<=\\w)');
      pos += 7;
    } else if (c === '[' && isPosix(pos)) {
      fail(p[pos + 1] === ':' ? 'POSIX named classes are supported only within a class' : 'POSIX collating elements are not supported', pos);
    } else if (c === '[') atom(parseClass(), 1);
    else if (c === '.') pos++, atom(f.s ? (globalS ? '.' : '[^]') : '[^\\n]', 1);
    else if (c === '$') pos++, zero(f.m ? '(?=\\n|$)' : '(?=\\n?$)'); // PCRE's $ also matches before a newline ending the subject
    else char(p.charCodeAt(pos++));
  }
  if (stack.length > 1) fail(NOPAREN, n);
  const [first] = lbErrors.sort((a, b) => a[0] - b[0]);
  if (first) fail('lookbehind assertion is not fixed length', first[1]);
  const bad = refs.find((r) => {
    const num = r.name === undefined ? r.num! : nameNum.get(r.name) ?? 0;
    return num < 1 || num > bracount;
  });
  if (bad) fail(NOREF, bad.at);
  const i = caseFlag();
  if (unsupported) cannot(unsupported);
  try {
    return { source: pattern, regex: new RegExp(out.join(''), (i ? 'i' : '') + (globalS ? 's' : '')), captures: bracount, names };
  } catch (err) {
    return cannot(`this pattern (${(err as Error).message})`);
  }
}
