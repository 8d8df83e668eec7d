// geo's `ranges` mode as nginx keeps it: for each /16 ("high" 16 bits) a
// sorted list of low-16-bit ranges; a range crossing /16 boundaries is cut
// into one piece per /16. Adding follows ngx_http_geo_add_range case for
// case (a range may split, trim or replace the one it falls in, and
// otherwise overlaps it), since which configs nginx refuses depends on it.

export interface Range {
  start: number;
  end: number;
  value: string;
}

export interface Ranges {
  /** 0x10000 lists, by the address's high 16 bits */
  low?: Array<Range[] | undefined>;
  defaultValue?: string;
}

/** The pieces of start..end (host order), one per /16: [high, low start, low end]. */
function* pieces(start: number, end: number): Generator<[number, number, number]> {
  for (let n = start; n <= end; n = ((n + 0x10000) & 0xffff0000) >>> 0) {
    const h = n >>> 16;
    const s = n === start ? n & 0xffff : 0;
    const e = (n | 0xffff) >>> 0 > end ? end & 0xffff : 0xffff;
    yield [h, s, e];
    if (h === 0xffff) break;
  }
}

const dotted = (h: number, l: number): string => `${h >> 8}.${h & 0xff}.${l >> 8}.${l & 0xff}`;

/**
 * ngx_http_geo_add_range. `duplicate` hears of a piece that replaced an
 * equal one; the result is the range overlapped ("a.b.c.d-a.b.c.d"), if any.
 */
export function addRange(high: Ranges, start: number, end: number, value: string, duplicate: (old: string) => void): string | undefined {
  const low = (high.low ??= new Array(0x10000));
  for (const [h, s, e] of pieces(start, end)) {
    const a = (low[h] ??= []);
    let i = a.length;
    let placed = false;
    while (i && !placed) {
      const r = a[--i];
      placed = true;
      if (e < r.start) placed = false;
      else if (s > r.end) a.splice(i + 1, 0, { start: s, end: e, value });
      else if (s === r.start && e === r.end) {
        duplicate(r.value);
        r.value = value;
      } else if (s > r.start && e < r.end) {
        // inside: the old range is cut around the new one
        a.splice(i + 1, 0, { start: s, end: e, value }, { start: e + 1, end: r.end, value: r.value });
        r.end = s - 1;
      } else if (s === r.start && e < r.end) {
        a.splice(i, 0, { start: s, end: e, value });
        r.start = e + 1;
      } else if (s > r.start && e === r.end) {
        a.splice(i + 1, 0, { start: s, end: e, value });
        r.end = s - 1;
      } else {
        return `${dotted(h, r.start)}-${dotted(h, r.end)}`;
      }
    }
    if (!placed) a.unshift({ start: s, end: e, value });
  }
  return undefined;
}

/** ngx_http_geo_delete_range: only pieces equal to a range go; true when some piece had none. */
export function deleteRange(high: Ranges, start: number, end: number): boolean {
  let missing = false;
  for (const [h, s, e] of pieces(start, end)) {
    const a = high.low?.[h];
    if (!a || a.length === 0) {
      missing = true;
      continue;
    }
    for (let i = 0; i < a.length; i++) {
      if (s === a[i].start && e === a[i].end) {
        a.splice(i, 1);
        break;
      }
      if (i === a.length - 1) missing = true;
    }
  }
  return missing;
}

/** ngx_http_geo_range_variable: the first range of the address's /16 holding it, else the default. */
export function findRange(high: Ranges, addr: number): string {
  const list = high.low?.[addr >>> 16];
  const n = addr & 0xffff;
  if (list) for (const r of list) if (n >= r.start && n <= r.end) return r.value;
  return high.defaultValue ?? '';
}
