import type { HttpRequest } from './request';
import { headerIn } from './core-variables';
import { parseHttpTime } from './not-modified-filter';
import { requestLocConf } from './core-request-module';

// ngx_http_range_filter_module's header half: a Range request for a body
// that allows ranges becomes a 206 (one range, or multipart/byteranges) or a
// 416; the body filter that cuts the ranges out reads r.ctx.ranges.

let boundarySeq = 0;

/** ngx_http_range_header_filter: 206 single or multipart, 416, else Accept-Ranges. */
export function rangeFilter(r: HttpRequest): number | undefined {
  const out = r.out;
  if (r.status !== 200 || out.contentLength < 0 || !out.allowRanges) return undefined;
  // max_ranges 0: ranges are off, not even announced
  const maxRanges = r.loc ? requestLocConf(r.loc).maxRanges : 0x7fffffff;
  if (maxRanges === 0) return undefined;
  const range = headerIn(r, 'range');
  out.acceptRanges = true;
  if (range === undefined || range.length < 7 || range.slice(0, 6).toLowerCase() !== 'bytes=') return undefined;
  const ifRange = headerIn(r, 'if-range');
  if (ifRange !== undefined) {
    if (ifRange.length >= 2 && ifRange.endsWith('"')) {
      if (out.etag === undefined || ifRange !== out.etag) return undefined;
    } else if (out.lastModified === -1 || parseHttpTime(ifRange) !== out.lastModified) return undefined;
  }
  const size = out.contentLength;
  const parsed = parseRanges(range.slice(6), size, maxRanges);
  if (parsed === 'declined') return undefined;
  if (parsed === 'unsatisfiable') {
    out.acceptRanges = false;
    out.headers.push(['Content-Range', `bytes */${size}`]);
    return 416;
  }
  out.acceptRanges = false;
  r.status = 206;
  r.ctx.ranges = parsed;
  if (parsed.length === 1) {
    const [s, e] = parsed[0];
    out.headers.push(['Content-Range', `bytes ${s}-${e - 1}/${size}`]);
    out.contentLength = e - s;
    return undefined;
  }
  const boundary = String(++boundarySeq).padStart(20, '0');
  const type = out.contentType ?? '';
  const heads = parsed.map(([s, e]) => `\r\n--${boundary}\r\n${type ? `Content-Type: ${type}\r\n` : ''}Content-Range: bytes ${s}-${e - 1}/${size}\r\n\r\n`);
  const tail = `\r\n--${boundary}--\r\n`;
  r.ctx.multipart = { heads, tail };
  out.contentType = `multipart/byteranges; boundary=${boundary}`;
  out.contentLength = heads.reduce((n, h, i) => n + h.length + parsed[i][1] - parsed[i][0], tail.length);
  return undefined;
}

/** ngx_http_range_parse: [start, end) pairs; more than maxRanges of them: the whole body. */
export function parseRanges(spec: string, size: number, maxRanges = 0x7fffffff): Array<[number, number]> | 'declined' | 'unsatisfiable' {
  const out: Array<[number, number]> = [];
  let p = 0;
  let total = 0;
  const digit = (): boolean => spec[p] >= '0' && spec[p] <= '9';
  const skip = (): void => {
    while (spec[p] === ' ') p++;
  };
  for (;;) {
    let start = 0;
    let end = 0;
    let suffix = false;
    let found = false;
    skip();
    if (spec[p] !== '-') {
      if (!digit()) return 'unsatisfiable';
      while (digit()) start = start * 10 + (spec.charCodeAt(p++) - 48);
      if (start > Number.MAX_SAFE_INTEGER) return 'unsatisfiable';
      skip();
      if (spec[p++] !== '-') return 'unsatisfiable';
      skip();
      if (spec[p] === ',' || p >= spec.length) {
        end = size;
        found = true;
      }
    } else {
      suffix = true;
      p++;
    }
    if (!found) {
      if (!digit()) return 'unsatisfiable';
      while (digit()) end = end * 10 + (spec.charCodeAt(p++) - 48);
      if (end > Number.MAX_SAFE_INTEGER) return 'unsatisfiable';
      skip();
      if (spec[p] !== ',' && p < spec.length) return 'unsatisfiable';
      if (suffix) {
        start = end < size ? size - end : 0;
        end = size - 1;
      }
      end = end >= size ? size : end + 1;
    }
    if (start < end) {
      out.push([start, end]);
      total += end - start;
      if (maxRanges-- === 0) return 'declined';
    } else if (start === 0) {
      return 'declined';
    }
    if (spec[p++] !== ',') break;
  }
  if (out.length === 0) return 'unsatisfiable';
  if (total > size) return 'declined';
  return out;
}
