import { ConfError } from '../conf/errors';
import type { Cf } from '../conf/module';

// The tables of ngx_http_charset_module: `charset_map a b { hex hex; }`
// read into both directions, and the recoders that use them on a body as it
// streams. Bytes nginx has no mapping for become "?"; characters of a UTF-8
// body with no byte in the 8-bit charset become "&#N;".

export interface Charset {
  /** as first written in the config (nginx keeps the first spelling) */
  name: string;
  utf8: boolean;
  /** recoding tables to other charsets, by index, made at postconfiguration */
  tables?: Array<Recode | undefined>;
}

/** How bytes of one charset become bytes of another. */
export type Recode =
  | { kind: '8bit'; table: Uint8Array }
  /** 8-bit to UTF-8: each byte's sequence */
  | { kind: 'to-utf8'; table: Buffer[] }
  /** UTF-8 to 8-bit: pages of 256 code points (high byte) → byte, 0 unmapped */
  | { kind: 'from-utf8'; pages: Array<Uint8Array | undefined> };

export interface MapTable {
  src: number;
  dst: number;
  src2dst: Recode;
  dst2src: Recode;
}

/** ngx_hextoi: hex digits only, NaN for none or others. */
function hexToInt(s: string): number {
  if (s === '' || !/^[0-9a-fA-F]+$/.test(s)) return NaN;
  return parseInt(s, 16);
}

/**
 * ngx_utf8_decode on bytes[i..end): the code point and where it ends; -1
 * for invalid (the byte that broke the sequence is consumed), -2 cut short.
 */
export function utf8Decode(b: Uint8Array, i: number, end: number): [number, number] {
  let u = b[i];
  let len: number;
  let valid: number;
  if (u >= 0xf0) [u, valid, len] = [u & 0x07, 0xffff, 3];
  else if (u >= 0xe0) [u, valid, len] = [u & 0x0f, 0x7ff, 2];
  else if (u >= 0xc2) [u, valid, len] = [u & 0x1f, 0x7f, 1];
  else return [-1, i + 1];
  if (end - i - 1 < len) return [-2, i];
  i++;
  while (len--) {
    const c = b[i++];
    if (c < 0x80) return [-1, i];
    u = (u << 6) | (c & 0x3f);
  }
  return [u > valid ? u : -1, i];
}

const invalid = (v: string, node: Entry): ConfError => new ConfError(`invalid value "${v}"`, node.file, node.endLine);

/** The body of `charset_map`: one table, both directions (ngx_http_charset_map). */
export function readMap(cf: Cf, src: number, dst: number, dstUtf8: boolean): MapTable {
  if (dstUtf8) {
    const table = Array.from({ length: 256 }, (_, i) => Buffer.from([i < 128 ? i : 0x3f]));
    const pages: Array<Uint8Array | undefined> = [new Uint8Array(256).map((_, i) => (i < 128 ? i : 0))];
    for (const node of entries(cf)) {
      const [from, to] = node.args;
      const s = hexToInt(from);
      if (!(s <= 255)) throw invalid(from, node);
      const bytes: number[] = [];
      for (let i = 0; i < to.length; i += 2) {
        const d = to.length - i < 2 ? NaN : hexToInt(to.slice(i, i + 2));
        if (Number.isNaN(d)) throw invalid(to, node);
        bytes.push(d);
      }
      const seq = Buffer.from(bytes);
      // the value must be one character of the BMP in UTF-8, ASCII not included
      const [n] = seq.length ? utf8Decode(seq, 0, seq.length) : [-1];
      if (n < 0 || n > 0xffff) throw invalid(to, node);
      table[s] = seq;
      (pages[n >> 8] ??= new Uint8Array(256))[n & 0xff] = s;
    }
    return { src, dst, src2dst: { kind: 'to-utf8', table }, dst2src: { kind: 'from-utf8', pages } };
  }
  const fill = (): Uint8Array => new Uint8Array(256).map((_, i) => (i < 128 ? i : 0x3f));
  const s2d = fill();
  const d2s = fill();
  for (const node of entries(cf)) {
    const [from, to] = node.args;
    const s = hexToInt(from);
    if (!(s <= 255)) throw invalid(from, node);
    const d = hexToInt(to);
    if (!(d <= 255)) throw invalid(to, node);
    s2d[s] = d;
    d2s[d] = s;
  }
  return { src, dst, src2dst: { kind: '8bit', table: s2d }, dst2src: { kind: '8bit', table: d2s } };
}

interface Entry {
  args: string[];
  file: string;
  endLine: number;
}

/**
 * The block's lines, each two words. nginx reads them with a handler of its
 * own, so `include` is not special there: it is a word like any other.
 */
function* entries(cf: Cf): Generator<Entry> {
  for (const node of cf.node.block!) {
    if (node.error) throw node.error;
    if (node.block) throw new ConfError('unexpected "{"', node.file, node.endLine);
    const args = [node.directive, ...node.args];
    if (args.length !== 2) throw new ConfError('invalid parameters number', node.file, node.endLine);
    yield { args, file: node.file, endLine: node.endLine };
  }
}

/** A recoder for one body: chunks in, chunks out. */
export interface Recoder {
  push(chunk: Buffer): Buffer;
}

export function recoder(recode: Recode): Recoder {
  switch (recode.kind) {
    case '8bit': {
      const t = recode.table;
      return { push: (c) => Buffer.from(c.map((b) => t[b])) };
    }
    case 'to-utf8': {
      const t = recode.table;
      return { push: (c) => Buffer.concat(Array.from(c, (b) => t[b])) };
    }
    case 'from-utf8':
      return fromUtf8(recode.pages);
  }
}

/**
 * ngx_http_charset_recode_from_utf8, keeping a sequence cut by a chunk's
 * end for the next; one the body ends in the middle of is dropped, as nginx
 * drops it.
 */
function fromUtf8(pages: Array<Uint8Array | undefined>): Recoder {
  let saved = Buffer.alloc(0);
  return {
    push(chunk) {
      const b = saved.length ? Buffer.concat([saved, chunk]) : chunk;
      saved = Buffer.alloc(0);
      const out: number[] = [];
      for (let i = 0; i < b.length;) {
        if (b[i] < 0x80) {
          out.push(b[i++]);
          continue;
        }
        const [n, next] = utf8Decode(b, i, b.length);
        if (n === -2) {
          saved = Buffer.from(b.subarray(i));
          break;
        }
        i = next;
        const c = n >= 0 && n < 0x10000 ? pages[n >> 8]?.[n & 0xff] : 0;
        if (c) out.push(c);
        else if (n < 0 || n > 0x10ffff) out.push(0x3f);
        else for (const ch of `&#${n};`) out.push(ch.charCodeAt(0));
      }
      return Buffer.from(out);
    },
  };
}
