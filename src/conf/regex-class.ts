// Character classes: [...] is rebuilt member by member rather than copied,
// because PCRE2 and JS read \b, \s, [:name:], a leading ] and a range ending in
// an escape differently, and a caseless class must fold ASCII letters only.
import { BADRANGE, complement, isAsciiLetter, litClass, POSIX, rangesClass, SETS, type Ranges } from './regex-tables';
import type { RegexState } from './regex-state';
import { charEscape } from './regex-escape';

// [[:name:]] syntax, as PCRE2's check_posix_syntax(): the offset of the closing terminator, or -1
function posixEnd(t: RegexState, at: number): number {
  const { p, n } = t;
  for (let k = at + 1; n - k >= 2; k++) {
    if (p[k] === '\\' && (p[k + 1] === ']' || p[k + 1] === '\\')) k++;
    else if ((p[k] === '[' && p[k + 1] === p[at]) || p[k] === ']') return -1;
    else if (p[k] === p[at] && p[k + 1] === ']') return k;
  }
  return -1;
}
export const isPosix = (t: RegexState, k: number): boolean => t.p[k] === '[' && /[:.=]/.test(t.p[k + 1] ?? '') && posixEnd(t, k + 1) >= 0;

// One class member: a char code, a JS class fragment for a set, or null for nothing.
function classItem(t: RegexState, rangeEnd = false): number | string | null {
  const { p, n } = t;
  if (t.classQ) return p.startsWith('\\E', t.pos) ? ((t.classQ = false), (t.pos += 2), null) : p.charCodeAt(t.pos++);
  if (t.f.xx && (p[t.pos] === ' ' || p[t.pos] === '\t')) return t.pos++, null;
  if (isPosix(t, t.pos)) {
    if (rangeEnd) t.fail(BADRANGE, t.pos + 1);
    if (p[t.pos + 1] !== ':') t.fail('POSIX collating elements are not supported', t.pos);
    const [end, neg] = [posixEnd(t, t.pos + 1), p[t.pos + 2] === '^'];
    let name = p.slice(t.pos + (neg ? 3 : 2), end);
    if (!(name in POSIX)) t.fail('unknown POSIX class name', t.pos + 2);
    if (t.f.i && (name === 'upper' || name === 'lower')) name = 'alpha'; // as PCRE2 does when caseless
    t.pos = end + 2;
    return rangesClass(neg ? complement(POSIX[name]) : POSIX[name]);
  }
  if (p[t.pos] !== '\\') return p.charCodeAt(t.pos++);
  if (++t.pos >= n) t.fail('\\ at end of pattern', n);
  const e = p[t.pos];
  if (rangeEnd && 'AzZGKkCNpPdDwWsShHvV'.includes(e)) t.fail(BADRANGE, t.pos + 1);
  if (e === 'Q' || e === 'E') return (t.classQ = e === 'Q'), t.pos++, null;
  if (e === 'b') return t.pos++, 8;
  if ('g89'.includes(e)) return p.charCodeAt(t.pos++); // PCRE2 10.42 reads [\g] as a literal g
  if ('dDwW'.includes(e)) return t.pos++, '\\' + e;
  if ('sShHvV'.includes(e)) return t.pos++, rangesClass(e > 'Z' ? SETS[e] : complement(SETS[e.toLowerCase()]));
  if (e === 'N') t.fail('\\N is not supported in a class', t.pos + 1);
  if (e === 'p' || e === 'P') t.cannot('a Unicode property (\\p, \\P)');
  if ('BRXAzZGKkC'.includes(e)) t.fail('escape sequence is invalid in character class', t.pos);
  return charEscape(t, e);
}

export function parseClass(t: RegexState): string {
  const { p, n } = t;
  let [neg, body] = [false, ''];
  // as PCRE2 does, skip \E, \Q\E and (?xx) blanks around the ^, so that a ] after them is still a literal
  for (t.pos++; ; t.pos++) {
    if (p.startsWith('\\E', t.pos)) t.pos++;
    else if (p.startsWith('\\Q\\E', t.pos)) t.pos += 3;
    else if (!(t.f.xx && (p[t.pos] === ' ' || p[t.pos] === '\t')) && (neg || p[t.pos] !== '^' || !(neg = true))) break;
  }
  t.classQ = false;
  const codes: Ranges = []; // the members given as characters and ranges, for caseless folding
  for (let first = true; ; first = false) {
    if (t.pos >= n) t.fail('missing terminating ] for character class', n);
    if (p[t.pos] === ']' && !first && !t.classQ) break; // a leading ] is a literal
    const lo = classItem(t);
    if (lo === null) continue;
    if (t.classQ || p[t.pos] !== '-' || t.pos + 1 >= n || p[t.pos + 1] === ']') {
      if (typeof lo === 'number') codes.push([lo, lo]);
      body += typeof lo === 'string' ? lo : litClass(lo);
      continue;
    }
    if (typeof lo === 'string') t.fail(BADRANGE, t.pos);
    let hi: number | string | null = null;
    for (t.pos++; hi === null && t.pos < n; ) hi = classItem(t, true);
    if (hi === null) t.fail('missing terminating ] for character class', n);
    if (typeof hi === 'string') t.fail(BADRANGE, t.pos);
    if ((hi as number) < (lo as number)) t.fail('range out of order in character class', t.pos - 1);
    codes.push([lo as number, hi as number]);
    body += litClass(lo as number) + '-' + litClass(hi as number);
  }
  t.pos++;
  // caseless: add the other case of the ASCII letters given (sets such as \w and
  // [:alpha:] hold both already; [:upper:] and [:lower:] became [:alpha:])
  if (t.f.i) {
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
}
