// Groups, references and quantifiers: the items whose translation depends on
// what came before them (which groups are closed, what a branch can match), so
// each keeps the frame bookkeeping in RegexState up to date for the next.
import { ALPHA, NOPAREN } from './regex-tables';
import { isDigit, type Frame, type RegexState } from './regex-state';

type RefCall = (t: RegexState, num: number | undefined, name?: string, at?: number) => void;

export const backref: RefCall = (t, num, name, at = t.pos - 1) => {
  const { stack, nameNum, closedIn } = t;
  const lb = stack.some((fr) => fr.look === 'behind');
  t.refs.push({ num, name, at, caseless: t.f.i });
  t.top().chars.push(name === undefined ? num! : nameNum.get(name) ?? 0);
  const where = closedIn.get(name === undefined ? num! : nameNum.get(name) ?? 0);
  if (!where) t.defer('a reference to a group that is not closed yet');
  // PCRE fails a reference to an unset group where JS matches the empty string
  else if (where.some(([fr, b]) => (stack.includes(fr) ? fr.lens.length !== b : fr.optional || (b >= 0 && fr.lens.length > 1))))
    t.defer('a backreference to a group that may be unset');
  // JS matches lookbehinds backwards, so a reference there sees what lies to its right
  if (lb) t.defer('a backreference inside a lookbehind');
  t.atom(name === undefined ? `\\${num}` : `\\k<${name}>`, lb ? 0 : null, { kind: 'backref', empty: true });
};
export const recursion: RefCall = (t, num, name, at = t.pos - 1) => {
  if (num !== 0) t.refs.push({ num, name, at });
  t.defer('recursion');
  t.atom('(?:)', null, { empty: true });
};
export const named = (t: RegexState, term: string, call: RefCall): void => {
  const at = t.pos;
  call(t, undefined, t.readName(term), at);
};
// (?-1) is the most recently opened group, (?+1) the next one to open
export const groupNum = (t: RegexState, s: string): number => (s[0] === '-' ? t.bracount + 1 + +s : s[0] === '+' ? t.bracount + +s : +s);

export function quantifier(t: RegexState, min: number, max: number): void {
  const { p, out } = t;
  const fr = t.top();
  const l = fr.last;
  if (!l) return t.fail('quantifier does not follow a repeatable item', t.pos - 1); // PCRE2 points at its last char
  // comments and \E may sit between a quantifier and its lazy/possessive mark
  for (let skip = 1; skip; t.pos += skip) {
    if (t.f.x) t.skipSpace();
    const pos = t.pos;
    skip = p.startsWith('\\E', pos) ? 2 : p.startsWith('\\Q\\E', pos) ? 4 : p.startsWith('(?#', pos) && p.includes(')', pos) ? p.indexOf(')', pos) + 1 - pos : 0;
  }
  let lazy = t.f.U;
  if (p[t.pos] === '?') (lazy = !lazy), t.pos++;
  else if (p[t.pos] === '+') t.defer('a possessive quantifier'), (lazy = false), t.pos++;
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
  t.commit(fr);
}

// (?imnsxJU-…) and (?^…): for the rest of the group, or scoped to (?…:…)
function options(t: RegexState, at: number): void {
  const { p, n } = t;
  const nf = { ...t.f };
  let on = true;
  if (p[t.pos] === '^') Object.assign(nf, { i: false, m: false, n: false, s: false, x: false, xx: false }), t.pos++;
  for (; t.pos < n && p[t.pos] !== ')' && p[t.pos] !== ':'; t.pos++) {
    const c = p[t.pos];
    if (c === '-' && on) on = false;
    else if (c === 'x') (nf.x = on), p[t.pos + 1] === 'x' ? ((nf.xx = on), t.pos++) : on || (nf.xx = false);
    else if ('imnsJU'.includes(c)) nf[c as 'i'] = on;
    else t.fail('unrecognized character after (? or (?-', t.pos);
  }
  if (t.pos >= n) t.fail(NOPAREN, n);
  const scoped = p[t.pos++] === ':';
  if (!scoped && t.leading && t.stack.length === 1) t.globalS = nf.s;
  if (scoped) return t.push(at, '(?:', '', 0, nf);
  t.f = nf;
  t.commit(t.top());
}

function assertion(t: RegexState, at: number, opener: string, why?: string): void {
  if (why) t.defer(why);
  t.push(at, opener, opener.startsWith('(?<') ? 'behind' : opener === '(?:' ? '' : 'ahead');
}

export function openGroup(t: RegexState): void {
  const { p, n } = t;
  const at = t.pos++;
  if (p[t.pos] === '*' && t.pos + 1 < n && p[t.pos + 1] !== ')') {
    const m = /^\w*/.exec(p.slice(t.pos + 1))![0];
    t.pos += 1 + m.length;
    if (/^[a-z]/.test(m)) {
      if (p[t.pos++] !== ':' || !ALPHA[m]) t.fail('(*alpha_assertion) not recognized', t.pos - 1);
      return assertion(t, at, ...ALPHA[m]);
    }
    if (!/^(ACCEPT|FAIL|F|COMMIT|PRUNE|SKIP|THEN|MARK|)$/.test(m) || (!m && p[t.pos] !== ':')) t.fail('(*VERB) not recognized or malformed', t.pos);
    if (p[t.pos] === ':') while (t.pos < n && p[t.pos] !== ')') t.pos++;
    else if (m === 'MARK') t.fail('(*MARK) must have an argument', t.pos);
    if (p[t.pos++] !== ')') t.fail('(*VERB) not recognized or malformed', n);
    if (m !== 'F' && m !== 'FAIL') t.defer(`the backtracking verb (*${m})`);
    return t.zero(m === 'F' || m === 'FAIL' ? '(?!)' : '');
  }
  if (p[t.pos] !== '?') return t.f.n ? t.push(at, '(?:') : t.push(at, '(', '', ++t.bracount);
  const [c, c2] = [p[++t.pos], p[t.pos + 1]];
  if (c === ':' || c === '>' || c === '|') {
    if (c !== ':') t.defer(c === '>' ? 'an atomic group' : 'a branch reset group (?|');
    return t.pos++, t.push(at, '(?:');
  }
  if (c === '=' || c === '!') return t.pos++, assertion(t, at, `(?${c}`);
  if (c === '<' && (c2 === '=' || c2 === '!')) return (t.pos += 2), assertion(t, at, `(?<${c2}`);
  if (c === '*' || (c === '<' && c2 === '*')) return (t.pos += c === '*' ? 1 : 2), assertion(t, at, c === '*' ? '(?=' : '(?<=', 'a non-atomic assertion');
  if (c === '+' && !isDigit(c2)) t.fail('digit expected after (?+ or (?-', t.pos);
  if (c === '(') t.cannot('a conditional group (?(');
  if (c === 'C') t.cannot('a callout (?C');
  if (c === '<' || c === "'" || (c === 'P' && c2 === '<')) {
    t.pos += c === 'P' ? 2 : 1;
    const name = t.readName(c === "'" ? "'" : '>');
    if (t.nameNum.has(name) && !t.f.J) t.fail('two named subpatterns have the same name (PCRE2_DUPNAMES not set)', t.pos);
    if (t.nameNum.has(name)) t.defer('duplicate group names');
    else t.nameNum.set(name, t.bracount + 1), t.names.push(name);
    return t.push(at, `(?<${name}>`, '', ++t.bracount);
  }
  if (c === 'P' || c === '&') {
    if (c2 === undefined) t.fail(NOPAREN, n);
    if (c === 'P' && c2 !== '=' && c2 !== '>') t.fail('unrecognized character after (?P', t.pos + 1);
    t.pos += c === 'P' ? 2 : 1;
    return named(t, ')', c2 === '=' ? backref : recursion);
  }
  const r = /^(R|[+-]?\d+)/.exec(p.slice(t.pos));
  if (r) {
    t.pos += r[0].length;
    if (p[t.pos++] !== ')') t.fail(r[1] === 'R' ? '(?R (recursive pattern call) must be followed by a closing parenthesis' : NOPAREN, t.pos - 1);
    return recursion(t, r[1] === 'R' ? 0 : groupNum(t, r[1]));
  }
  if (c !== '#') return options(t, at);
  if (!(t.pos = p.indexOf(')', t.pos) + 1)) t.fail('missing ) after (?# comment', n);
}

export function closeGroup(t: RegexState): void {
  const { stack } = t;
  const fr = stack.pop()!;
  t.commit(fr);
  fr.lens.push(fr.len);
  if (fr.look === 'behind' && fr.lens.includes(null)) t.lbErrors.push([fr.varAt!, fr.at]);
  t.f = fr.saved;
  t.top().chars.push(...fr.chars);
  if (fr.capture) t.groupChars.set(fr.capture, fr.chars);
  if (fr.capture) t.closedIn.set(fr.capture, [[fr, -1], ...stack.map((s): [Frame, number] => [s, s.lens.length])]);
  const len = fr.look ? 0 : fr.lens.every((l) => l !== null && l === fr.lens[0]) ? fr.lens[0] : null;
  const [kind, empty] = fr.look ? ['assert' as const, true] : ['atom' as const, fr.anyEmpty || fr.empty];
  t.atom(t.out.splice(fr.outAt).join('') + ')', len, { kind, empty, group: fr, at: fr.varAt ?? t.tok });
}
