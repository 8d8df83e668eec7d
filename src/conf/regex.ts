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
// must compare caselessly (see regex-case.ts).
//
// The translation is one pass over the pattern; its parts live in regex-*.ts
// and share one RegexState, since what a quantifier, a back-reference or a
// lookbehind may become depends on what the items before it were.

import { NOPAREN, NOREF, START, XSPACE } from './regex-tables';
import { RegexState } from './regex-state';
import { isPosix, parseClass } from './regex-class';
import { closeGroup, openGroup, quantifier } from './regex-groups';
import { escape } from './regex-escape';
import { caseFlag } from './regex-case';

export { RegexSyntaxError } from './regex-state';

export interface CompiledRegex {
  source: string; // the original PCRE pattern
  regex: RegExp; // the JS equivalent, without 'g'/'y'
  captures: number; // capturing groups as PCRE counts them, named ones included
  names: string[]; // named groups in order of appearance
}

export function compileRegex(pattern: string, caseless = false): CompiledRegex {
  const t = new RegexState(pattern, caseless);
  const { p, n, out, stack } = t;
  t.push(-1, '');
  for (let m; (m = START.exec(p.slice(t.pos))); t.pos += m[0].length) if (m[2]) t.defer(`the start-of-pattern option (*${m[2]})`);
  while (t.pos < n) {
    const c = p[(t.tok = t.pos)];
    const qm = c === '{' && !t.inQ ? /^\{(\d+)(,(\d*))?\}/.exec(p.slice(t.pos)) : null;
    if (t.inQ && p.startsWith('\\E', t.pos)) (t.inQ = false), (t.pos += 2);
    else if (t.inQ) (t.leading = false), t.char(p.charCodeAt(t.pos++));
    else if (t.f.x && XSPACE.test(c)) t.skipSpace();
    else if (c === '\\') escape(t);
    else if (c === '^') t.pos++, t.zero(t.f.m ? '(?:^|(?<=\\n)(?!$))' : '^');
    else if (c === '(') (t.leading &&= /^\(\?([-imnsxJU^]*\)|#)/.test(p.slice(t.pos))), openGroup(t); // option settings and comments keep `leading`
    else if (((t.leading = false), qm || '*+?'.includes(c))) { // anything else ends `leading`
      const [min, max] = qm ? [+qm[1], qm[2] === undefined ? +qm[1] : qm[3] === '' ? Infinity : +qm[3]] : [+(c === '+'), c === '?' ? 1 : Infinity];
      t.pos += qm ? qm[0].length : 1;
      if (min > 65535) t.fail('number too big in {} quantifier', t.tok + 1 + qm![1].length);
      if (max !== Infinity && max > 65535) t.fail('number too big in {} quantifier', t.pos - 1);
      if (min > max) t.fail('numbers out of order in {} quantifier', t.pos - 1);
      quantifier(t, min, max);
    } else if (c === ')') {
      if (stack.length === 1) t.fail('unmatched closing parenthesis', t.pos);
      t.pos++;
      closeGroup(t);
    } else if (c === '|') {
      const fr = t.top();
      t.pos++;
      t.commit(fr);
      fr.lens.push(fr.len);
      [fr.len, fr.anyEmpty, fr.empty] = [0, fr.anyEmpty || fr.empty, true];
      out.push('|');
    } else if (/^\[\[:[<>]:\]\]/.test(p.slice(t.pos))) {
      t.zero(p[t.pos + 3] === '<' ? '\\b(?=\\w)' : '\\b(?<=\\w)');
      t.pos += 7;
    } else if (c === '[' && isPosix(t, t.pos)) {
      t.fail(p[t.pos + 1] === ':' ? 'POSIX named classes are supported only within a class' : 'POSIX collating elements are not supported', t.pos);
    } else if (c === '[') t.atom(parseClass(t), 1);
    else if (c === '.') t.pos++, t.atom(t.f.s ? (t.globalS ? '.' : '[^]') : '[^\\n]', 1);
    else if (c === '$') t.pos++, t.zero(t.f.m ? '(?=\\n|$)' : '(?=\\n?$)'); // PCRE's $ also matches before a newline ending the subject
    else t.char(p.charCodeAt(t.pos++));
  }
  if (stack.length > 1) t.fail(NOPAREN, n);
  const [first] = t.lbErrors.sort((a, b) => a[0] - b[0]);
  if (first) t.fail('lookbehind assertion is not fixed length', first[1]);
  const bad = t.refs.find((r) => {
    const num = r.name === undefined ? r.num! : t.nameNum.get(r.name) ?? 0;
    return num < 1 || num > t.bracount;
  });
  if (bad) t.fail(NOREF, bad.at);
  const i = caseFlag(t);
  if (t.unsupported) t.cannot(t.unsupported);
  try {
    return { source: pattern, regex: new RegExp(out.join(''), (i ? 'i' : '') + (t.globalS ? 's' : '')), captures: t.bracount, names: t.names };
  } catch (err) {
    return t.cannot(`this pattern (${(err as Error).message})`);
  }
}
