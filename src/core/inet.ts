import { parseNumber } from '../conf/values';

// ngx_inet.c's text-to-address functions, quirks kept: "1..2.3" and
// "1.2.3." are addresses to nginx, "010" is ten, and 255.255.255.255 is
// INADDR_NONE, so no function can return it. Addresses are bytes in network
// order (4 or 16), so IPv4 and IPv6 share one representation.

export interface Addr {
  family: 4 | 6;
  bytes: Uint8Array;
}

export interface Cidr extends Addr {
  /** the mask as a prefix length (nginx's masks are contiguous) */
  prefix: number;
}

export const INADDR_NONE = 0xffffffff;

/** ngx_inet_addr: host order, or INADDR_NONE. */
export function inetAddr(s: string): number {
  let addr = 0;
  let octet = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (octet > 255) return INADDR_NONE;
    } else if (c === 46) {
      addr = ((addr << 8) + octet) >>> 0;
      octet = 0;
      dots++;
    } else {
      return INADDR_NONE;
    }
  }
  return dots === 3 ? ((addr << 8) + octet) >>> 0 : INADDR_NONE;
}

const v4Bytes = (a: number): Uint8Array => Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff);

/** ngx_inet6_addr: "::", embedded IPv4 at the end, at most 4 digits a group. */
export function inet6Addr(s: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  let len = s.length;
  if (len === 0) return undefined;
  let p = 0;
  let at = 0;
  let zero = -1;
  let digit = -1;
  let len4 = 0;
  let nibbles = 0;
  let word = 0;
  let n = 8;
  if (s[0] === ':') p++, len--;
  for (; len; len--) {
    const c = s.charCodeAt(p++);
    if (c === 58) {
      if (nibbles) {
        digit = p;
        len4 = len;
        out[at++] = word >> 8;
        out[at++] = word & 0xff;
        if (--n) {
          nibbles = 0;
          word = 0;
          continue;
        }
      } else if (zero < 0) {
        digit = p;
        len4 = len;
        zero = at;
        continue;
      }
      return undefined;
    }
    if (c === 46 && nibbles) {
      if (n < 2 || digit < 0) return undefined;
      word = inetAddr(s.slice(digit, digit + len4 - 1));
      if (word === INADDR_NONE) return undefined;
      out[at++] = word >>> 24;
      out[at++] = (word >>> 16) & 0xff;
      n--;
      break;
    }
    if (++nibbles > 4) return undefined;
    const l = c | 0x20;
    if (c >= 48 && c <= 57) word = word * 16 + (c - 48);
    else if (l >= 97 && l <= 102) word = word * 16 + (l - 87);
    else return undefined;
  }
  if (nibbles === 0 && zero < 0) return undefined;
  out[at++] = (word >>> 8) & 0xff;
  out[at++] = word & 0xff;
  if (--n) {
    if (zero < 0) return undefined;
    // the groups after "::" move to the end, zeros fill the gap
    out.copyWithin(zero + n * 2, zero, at);
    out.fill(0, zero, zero + n * 2);
    return out;
  }
  return zero < 0 ? out : undefined;
}

/** ngx_parse_addr: an IPv4 or IPv6 address, nothing around it. */
export function parseAddr(s: string): Addr | undefined {
  const a = inetAddr(s);
  if (a !== INADDR_NONE) return { family: 4, bytes: v4Bytes(a) };
  const b = inet6Addr(s);
  return b ? { family: 6, bytes: b } : undefined;
}

/** ngx_parse_addr_port: an address, or "1.2.3.4:80", "[::1]:80" (the port is dropped). */
export function parseAddrPort(s: string): Addr | undefined {
  const a = parseAddr(s);
  if (a) return a;
  let colon: number;
  let text = s;
  if (s[0] === '[') {
    const close = s.indexOf(']');
    if (close < 0 || close === s.length - 1 || s[close + 1] !== ':') return undefined;
    colon = close + 1;
    text = s.slice(1, close);
  } else {
    colon = s.indexOf(':');
    if (colon < 0) return undefined;
    text = s.slice(0, colon);
  }
  const port = parseNumber(s.slice(colon + 1));
  if (!(port >= 1 && port <= 65535)) return undefined;
  return parseAddr(text);
}

/**
 * ngx_ptocidr: "addr[/bits]"; the low bits are cleared, and `meaningless`
 * says some were set (nginx's NGX_DONE).
 */
export function parseCidr(s: string): (Cidr & { meaningless: boolean }) | undefined {
  const slash = s.indexOf('/');
  const text = slash < 0 ? s : s.slice(0, slash);
  const a = inetAddr(text);
  let cidr: Cidr;
  if (a !== INADDR_NONE) cidr = { family: 4, bytes: v4Bytes(a), prefix: 32 };
  else {
    const b = inet6Addr(text);
    if (!b) return undefined;
    cidr = { family: 6, bytes: b, prefix: 128 };
  }
  if (slash < 0) return { ...cidr, meaningless: false };
  const shift = parseNumber(s.slice(slash + 1));
  if (Number.isNaN(shift) || shift > cidr.prefix) return undefined;
  let meaningless = false;
  for (let i = 0; i < cidr.bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, shift - i * 8));
    const mask = (0xff << (8 - bits)) & 0xff;
    if (cidr.bytes[i] & ~mask) meaningless = true;
    cidr.bytes[i] &= mask;
  }
  return { ...cidr, prefix: shift, meaningless };
}

/** IN6_IS_ADDR_V4MAPPED: ::ffff:a.b.c.d is looked up as a.b.c.d. */
export function unmapped(a: Addr): Addr {
  const b = a.bytes;
  if (a.family === 6 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return { family: 4, bytes: b.slice(12) };
  }
  return a;
}

/** ngx_cidr_match */
export function cidrMatch(addr: Addr, cidrs: Cidr[]): boolean {
  const a = unmapped(addr);
  return cidrs.some((c) => {
    if (c.family !== a.family) return false;
    for (let i = 0; i < c.bytes.length; i++) {
      const bits = Math.max(0, Math.min(8, c.prefix - i * 8));
      if ((a.bytes[i] & ((0xff << (8 - bits)) & 0xff)) !== c.bytes[i]) return false;
    }
    return true;
  });
}

type Forwarded = 'ok' | 'done' | 'declined';

/** ngx_http_get_forwarded_addr_internal: the address before the trusted proxies in one header. */
function fromHeader(at: { addr: Addr }, xff: string, proxies: Cidr[], recursive: boolean): Forwarded {
  let found = false;
  let len = xff.length;
  let p: number;
  do {
    if (!cidrMatch(at.addr, proxies)) return found ? 'done' : 'declined';
    // the header ends in the last hop: skip trailing separators, then back to the previous one
    for (p = len - 1; p > 0; p--, len--) if (xff[p] !== ' ' && xff[p] !== ',') break;
    for (; p > 0; p--) {
      if (xff[p] === ' ' || xff[p] === ',') {
        p++;
        break;
      }
    }
    // (nginx would read before the value here; what is there is never an address)
    const a = p >= 0 && len > p ? parseAddrPort(xff.slice(p, len)) : undefined;
    if (!a) return found ? 'done' : 'declined';
    at.addr = a;
    found = true;
    len = p - 1;
  } while (recursive && p > 0);
  return 'ok';
}

/**
 * ngx_http_get_forwarded_addr over the X-Forwarded-For lines, the last
 * first: the client address as trusted proxies (and, recursive, those
 * before them) report it.
 */
export function forwardedAddr(addr: Addr, headers: string[], proxies: Cidr[], recursive: boolean): Addr {
  const at = { addr };
  let found = false;
  for (let i = headers.length - 1; i >= 0; i--) {
    const rc = fromHeader(at, headers[i], proxies, recursive);
    if (!recursive || (rc === 'declined' && found) || rc !== 'ok') break;
    found = true;
  }
  return at.addr;
}
