// The state of one translation, shared by the parts of the translator (classes,
// groups and quantifiers, escapes, the caseless check), and the primitives they
// all emit through, so the bookkeeping a quantifier or a lookbehind relies on
// (lengths, emptiness, what a group can consume) is kept in one place.
import { isAsciiLetter, lit, XSPACE } from './regex-tables';

export class RegexSyntaxError extends Error {
  override name = 'RegexSyntaxError';
  code = 'NODINX_REGEX';
}

export interface Flags { i: boolean; m: boolean; s: boolean; x: boolean; xx: boolean; n: boolean; U: boolean; J: boolean }
export interface Last { idx: number; len: number | null; empty: boolean; kind: 'atom' | 'assert' | 'backref'; group?: Frame; at: number }
export interface Frame {
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
export interface Ref { num?: number; name?: string; at: number; caseless?: boolean }

export const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

export class RegexState {
  readonly n: number;
  pos = 0;
  tok = 0; // where the item being parsed starts
  bracount = 0;
  f: Flags;
  globalS = false;
  leading = true; // nothing but option settings and ^ so far: (?s) here becomes the JS flag
  inQ = false;
  classQ = false;
  // Untranslatable constructs are reported once the whole pattern has parsed,
  // so that a plain syntax error further on wins, as it would in nginx.
  unsupported: string | undefined;
  readonly names: string[] = [];
  readonly nameNum = new Map<string, number>();
  readonly closedIn = new Map<number, [Frame, number][]>(); // a closed group's own frame, enclosing frames and their branch numbers
  readonly refs: Ref[] = [];
  readonly groupChars = new Map<number, (string | number)[]>(); // Frame.chars of each closed capturing group
  readonly lbErrors: [number, number][] = []; // [where PCRE2 notices, the offset it reports]
  readonly out: string[] = [];
  readonly stack: Frame[] = [];

  constructor(readonly p: string, caseless: boolean) {
    this.n = p.length;
    this.f = { i: caseless, m: false, s: false, x: false, xx: false, n: false, U: false, J: false };
  }

  fail(msg: string, at: number): never {
    throw new RegexSyntaxError(`pcre2_compile() failed: ${msg} in "${this.p}"${at < this.n ? ` at "${this.p.slice(at)}"` : ''}`);
  }
  cannot(what: string): never {
    throw new RegexSyntaxError(`pcre2_compile() failed: nodinx cannot translate ${what} to a JavaScript regex in "${this.p}"`);
  }
  defer(what: string): void {
    this.unsupported ??= what;
  }
  top(): Frame {
    return this.stack[this.stack.length - 1];
  }

  commit(fr: Frame): void {
    const l = fr.last;
    if (l && fr.len !== null && l.len === null) fr.varAt ??= l.at;
    if (l) (fr.len = fr.len === null || l.len === null ? null : fr.len + l.len), (fr.empty &&= l.empty);
    fr.last = null;
  }
  push(at: number, opener: string, look: Frame['look'] = '', capture = 0, flags = this.f): void {
    const { stack, out } = this;
    if (stack.length) this.commit(this.top());
    stack.push({ at, outAt: out.length, saved: this.f, look, capture, len: 0, lens: [], empty: true, anyEmpty: false, last: null, optional: /^\(\?<?!/.test(opener), chars: [] });
    out.push(opener);
    this.f = flags;
  }
  atom(js: string, len: number | null, extra?: Partial<Last>): void {
    const { out } = this;
    const fr = this.top();
    // "\1" then a literal "0" must not fuse into "\10"
    if (/^\d/.test(js) && fr.last?.kind === 'backref') out[fr.last.idx] = `(?:${out[fr.last.idx]})`;
    this.commit(fr);
    if (len === 1 && !extra) fr.chars.push(js);
    fr.last = { idx: out.push(js) - 1, len, empty: len === 0, kind: 'atom', at: this.tok, ...extra };
  }
  // a literal character; a letter matched caselessly becomes a two-case class
  char(c: number): void {
    this.atom(this.f.i && isAsciiLetter(c) ? `[${String.fromCharCode(c, c ^ 32)}]` : lit(c), 1);
  }
  // an item that consumes nothing, which a quantifier cannot follow
  zero(js: string): void {
    this.commit(this.top());
    this.out.push(js);
  }

  skipSpace(): void {
    const { p, n } = this;
    while (this.pos < n && XSPACE.test(p[this.pos])) if (p[this.pos++] === '#') while (this.pos < n && p[this.pos] !== '\n') this.pos++;
  }
  readName(term: string): string {
    const { p, n } = this;
    const at = this.pos;
    if (isDigit(p[this.pos])) this.fail('subpattern name must start with a non-digit', this.pos);
    while (this.pos < n && /\w/.test(p[this.pos])) this.pos++;
    const name = p.slice(at, this.pos);
    if (!name) this.fail('subpattern name expected', at);
    if (name.length > 32) this.fail('subpattern name is too long (maximum 32 code units)', this.pos);
    if (p[this.pos++] !== term) this.fail('syntax error in subpattern name (missing terminator?)', this.pos - 1);
    return name;
  }
}
