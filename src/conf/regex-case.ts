// Whether the translation needs JS's 'i' flag, decided once the whole pattern
// has parsed because it depends on every back-reference and every item.
//
// Letters need no 'i' flag, but a back-reference compares case-sensitively
// without it. So 'i' is set when a caseless back-reference may see ASCII
// letters; then the whole pattern must read the same under it: no item that
// tells a letter from its other case (JS also pairs é/É, PCRE2 does not), no
// case-sensitive back-reference to letters, and no caseless one to non-ASCII letters.
import { ASCII_PAIRS, LATIN1_PAIRS } from './regex-tables';
import type { RegexState } from './regex-state';

interface Probe { ascii: boolean; latin1: boolean; asciiSplit: boolean; latin1Split: boolean }

export function caseFlag(t: RegexState): boolean {
  const { groupChars, nameNum } = t;
  const probes = new Map<string, Probe>();
  // what a one-char item matches among the letter pairs, and whether it tells the two cases apart
  const probe = (js: string): Probe => {
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
  const refLetters = t.refs.filter((r) => r.caseless !== undefined).map((r) => [r, letters(groupChars.get(r.num ?? nameNum.get(r.name!) ?? 0) ?? [])] as const);
  if (!refLetters.some(([r, l]) => r.caseless && l.ascii)) return false;
  for (const [r, l] of refLetters) {
    if (r.caseless && l.latin1) t.defer('a caseless backreference to a group that may capture non-ASCII letters');
    if (!r.caseless && (l.ascii || l.latin1)) t.defer('a case-sensitive backreference to letters alongside a caseless one');
  }
  for (const c of t.stack[0].chars) {
    const pr = typeof c === 'string' ? probe(c) : null;
    if (pr?.asciiSplit) t.defer('case-sensitive letters alongside a caseless backreference');
    if (pr?.latin1Split) t.defer('non-ASCII letters alongside a caseless backreference');
  }
  return true;
}
