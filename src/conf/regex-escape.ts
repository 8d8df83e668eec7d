// Backslash escapes. PCRE2 gives many letters a meaning JS lacks or reads
// otherwise (\h, \R, \Z, \g, \o{}, \10 as octal), and errors where JS without
// 'u' silently takes a letter for itself, so every escape is decoded here and
// re-emitted in a form JS reads the same way.
import { NOREF, NOSUPPORT, rangesClass, SETS, TERM } from './regex-tables';
import type { RegexState } from './regex-state';
import { backref, groupNum, named, recursion } from './regex-groups';

const SIMPLE: Record<string, number> = { a: 7, e: 0x1b, f: 12, n: 10, r: 13, t: 9 };
const ZEROS: Record<string, string> = { z: '$', Z: '(?=\\n?$)', b: '\\b', B: '\\B', K: '' };

// An escape that stands for one character, inside or outside a class; pos is on its letter.
export function charEscape(t: RegexState, c: string): number {
  const { p, n } = t;
  if (c in SIMPLE) return t.pos++, SIMPLE[c];
  if (c >= '0' && c <= '7') {
    let v = 0;
    for (let k = 0; k < 3 && p[t.pos] >= '0' && p[t.pos] <= '7'; k++) v = v * 8 + +p[t.pos++];
    return v > 0xff ? t.fail('octal value is greater than \\377 in 8-bit non-UTF-8 mode', t.pos) : v;
  }
  if (c === 'x' || c === 'o') {
    if (p[++t.pos] !== '{') {
      if (c === 'o') t.fail('missing opening brace after \\o', t.pos);
      const h = /^[0-9a-fA-F]{0,2}/.exec(p.slice(t.pos))![0];
      return (t.pos += h.length), h ? parseInt(h, 16) : 0;
    }
    const start = ++t.pos;
    while (t.pos < n && (c === 'x' ? /[0-9a-fA-F]/ : /[0-7]/).test(p[t.pos])) t.pos++;
    if (t.pos === start && (t.pos === n || p[t.pos] === '}')) t.fail('digits missing in \\x{} or \\o{} or \\N{U+}', t.pos);
    if (p[t.pos] !== '}') t.fail(`non-${c === 'x' ? 'hex' : 'octal'} character in \\${c}{} (closing brace missing?)`, Math.min(t.pos, n - 1));
    const v = parseInt(p.slice(start, t.pos), c === 'x' ? 16 : 8);
    return v > 0xff ? t.fail('character code point value in \\x{} or \\o{} is too large', t.pos) : (t.pos++, v);
  }
  if (c === 'c') {
    if (++t.pos >= n) t.fail('\\c at end of pattern', n);
    if (!/[\x20-\x7e]/.test(p[t.pos])) t.fail('\\c must be followed by a printable ASCII character', t.pos);
    return p[t.pos++].toUpperCase().charCodeAt(0) ^ 0x40;
  }
  if ('FLlUu'.includes(c)) t.fail(NOSUPPORT, t.pos + 1);
  if (/[A-Za-z0-9]/.test(c)) t.fail('unrecognized character follows \\', t.pos);
  return p.charCodeAt(t.pos++);
}

// An escape outside a class; pos is on the backslash.
export function escape(t: RegexState): void {
  const { p, n } = t;
  if (++t.pos >= n) t.fail('\\ at end of pattern', n);
  const c = p[t.pos];
  if (c === 'Q' || c === 'E') return void ((t.inQ = c === 'Q'), t.pos++);
  if (c === 'A' || c === 'G') return t.pos++, t.zero('^'); // nginx always matches from offset 0, so \G is \A
  t.leading = false;
  if (c === 'K') t.defer('\\K');
  if (c in ZEROS) return t.pos++, t.zero(ZEROS[c]);
  if ('dDwW'.includes(c)) return t.pos++, t.atom('\\' + c, 1);
  if ('sShHvV'.includes(c)) return t.pos++, t.atom(`[${c > 'Z' ? '' : '^'}${rangesClass(SETS[c.toLowerCase()])}]`, 1);
  if (c === 'N' && p[++t.pos] === '{' && !/^\{\d+(,\d*)?\}/.test(p.slice(t.pos)))
    t.fail(p.startsWith('{U+', t.pos) ? '\\N{U+dddd} is supported only in Unicode (UTF) mode' : NOSUPPORT, t.pos);
  if (c === 'N') return t.atom('[^\\n]', 1);
  // \R is atomic in PCRE2: a CRLF is never split into CR then LF
  if (c === 'R') return t.pos++, t.atom('(?:\\r\\n|\\r(?!\\n)|[\\n\\v\\f\\x85])', null);
  if (c === 'C') return t.pos++, t.atom('[^]', 1);
  if (c === 'X') t.cannot('\\X');
  if (c === 'p' || c === 'P') t.cannot('a Unicode property (\\p, \\P)');
  const g = c === 'g' ? /^(?:\{([+-]?\d+)\}|([+-]?\d+))/.exec(p.slice(t.pos + 1)) : null;
  if (g) {
    const s = g[1] ?? g[2];
    t.pos += 1 + g[0].length;
    if (s[0] === '+') return t.defer('a forward reference \\g+'), t.atom('(?:)', null, { empty: true });
    if (groupNum(t, s) <= 0) t.fail(NOREF, s[0] === '-' && g[1] ? t.pos - g[0].length : t.pos);
    return backref(t, groupNum(t, s));
  }
  if (c === 'k' || c === 'g') {
    const term = TERM[p[++t.pos]];
    if (!term && c === 'k') t.fail('\\k is not followed by a braced, angle-bracketed, or quoted name', t.pos);
    if (!term) t.fail('\\g is not followed by a braced, angle-bracketed, or quoted name/number or by a plain number', t.pos);
    if (c === 'k' || term === '}') return t.pos++, named(t, term, backref);
    // \g<…> and \g'…' are Oniguruma-style subroutine calls
    const r = /^[+-]?\d+/.exec(p.slice(++t.pos));
    if (r && p[t.pos + r[0].length] === term) return (t.pos += r[0].length + 1), recursion(t, groupNum(t, r[0]));
    return named(t, term, recursion);
  }
  if (c >= '1' && c <= '9') {
    // \1-\9, \8x and \9x are references; \10 and up only if that many groups have opened, else octal
    const digits = /^\d+/.exec(p.slice(t.pos))![0];
    if (+digits < 10 || c >= '8' || +digits <= t.bracount) return (t.pos += digits.length), backref(t, +digits);
  }
  t.char(charEscape(t, c));
}
