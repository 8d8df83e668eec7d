// Value syntaxes of nginx's config, parsed as ngx_parse_size(),
// ngx_parse_offset(), ngx_parse_time() and ngx_atoi() parse them: the same
// strings are accepted and rejected. Each returns NaN for "invalid value".

const MAX = Number.MAX_SAFE_INTEGER;

/** ngx_atoi: decimal digits only, no sign. */
export function parseNumber(s: string): number {
  if (!/^[0-9]+$/.test(s)) return NaN;
  const n = Number(s);
  return n > MAX ? NaN : n;
}

function scaled(s: string, units: Record<string, number>): number {
  if (s.length === 0) return NaN;
  const scale = units[s[s.length - 1]];
  const digits = scale === undefined ? s : s.slice(0, -1);
  const n = parseNumber(digits);
  if (Number.isNaN(n)) return NaN;
  const v = n * (scale ?? 1);
  return v > MAX ? NaN : v;
}

const K = 1024, M = 1024 * 1024, G = 1024 * 1024 * 1024;

/** ngx_parse_size: bytes, with k/m suffixes (no g: that is an offset). */
export function parseSize(s: string): number {
  return scaled(s, { k: K, K, m: M, M });
}

/** ngx_parse_offset: bytes, with k/m/g suffixes. */
export function parseOffset(s: string): number {
  return scaled(s, { k: K, K, m: M, M, g: G, G });
}

const enum Step { Start, Year, Month, Week, Day, Hour, Min, Sec, Msec }

/**
 * ngx_parse_time. `1h 30m`, `1h30m`, `500ms`, `30` (seconds).
 * Returns milliseconds unless `inSeconds`, when it returns seconds and
 * milliseconds are not allowed (while years and months are).
 */
export function parseTime(s: string, inSeconds = false): number {
  let step: Step = inSeconds ? Step.Start : Step.Month;
  let value = 0, total = 0, valid = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c >= '0' && c <= '9') {
      value = value * 10 + (c.charCodeAt(0) - 48);
      if (value > MAX) return NaN;
      valid = true;
      i++;
      continue;
    }
    i++;
    let scale: number;
    let next: Step;
    switch (c) {
      case 'y': next = Step.Year; scale = 60 * 60 * 24 * 365; break;
      case 'M': next = Step.Month; scale = 60 * 60 * 24 * 30; break;
      case 'w': next = Step.Week; scale = 60 * 60 * 24 * 7; break;
      case 'd': next = Step.Day; scale = 60 * 60 * 24; break;
      case 'h': next = Step.Hour; scale = 60 * 60; break;
      case 'm':
        if (s[i] === 's') {
          if (inSeconds) return NaN;
          i++;
          next = Step.Msec;
          scale = 1;
          break;
        }
        next = Step.Min;
        scale = 60;
        break;
      case 's': next = Step.Sec; scale = 1; break;
      default: return NaN;
    }
    if (next === Step.Year && step > Step.Start) return NaN;
    if (next !== Step.Year && step >= next) return NaN;
    step = next;
    if (next !== Step.Msec && !inSeconds) scale *= 1000;
    total += value * scale;
    if (total > MAX) return NaN;
    value = 0;
    while (s[i] === ' ') i++;
  }
  if (!valid) return NaN;
  total += inSeconds ? value : value * 1000;
  return total > MAX ? NaN : total;
}

/** on/off, case-insensitive as ngx_conf_set_flag_slot compares. */
export function parseFlag(s: string): boolean | undefined {
  const l = s.toLowerCase();
  if (l === 'on') return true;
  if (l === 'off') return false;
  return undefined;
}
