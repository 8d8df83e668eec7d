import { headerIn } from './core-variables';
import type { HttpRequest } from './request';

// ngx_http_auth_basic_user: the user and password of an "Authorization:
// Basic" header, shared by auth_basic and $remote_user. nginx's base64
// decoder is stricter than Node's (which skips what it does not know), and a
// credential that it refuses is no credential at all, so it is kept here.

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASIS = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) BASIS[B64.charCodeAt(i)] = i;

/**
 * ngx_decode_base64 on a byte string: everything before the first "=" must
 * be of the alphabet, what follows it is ignored, and a lone trailing
 * character is an error. Undefined on error.
 */
export function decodeBase64(src: string): string | undefined {
  let len = 0;
  for (; len < src.length; len++) {
    const c = src.charCodeAt(len);
    if (c === 0x3d) break;
    if (c > 0xff || BASIS[c] < 0) return undefined;
  }
  if (len % 4 === 1) return undefined;
  const v = (i: number): number => BASIS[src.charCodeAt(i)];
  let out = '';
  let s = 0;
  for (; len > 3; len -= 4, s += 4) {
    out += String.fromCharCode(((v(s) << 2) | (v(s + 1) >> 4)) & 0xff, ((v(s + 1) << 4) | (v(s + 2) >> 2)) & 0xff, ((v(s + 2) << 6) | v(s + 3)) & 0xff);
  }
  if (len > 1) out += String.fromCharCode(((v(s) << 2) | (v(s + 1) >> 4)) & 0xff);
  if (len > 2) out += String.fromCharCode(((v(s + 1) << 4) | (v(s + 2) >> 2)) & 0xff);
  return out;
}

export interface BasicCredentials {
  user: string;
  password: string;
}

// kept in r.ctx, not a WeakMap keyed by the request: an ephemeron per
// request makes every young-generation collection costlier
const CREDS = 'basicUser';

/**
 * The credentials of the request, or null when there are none nginx would
 * take: no header, another scheme, bad base64, no ":" or an empty user.
 * Byte strings, as sent.
 */
export function basicUser(r: HttpRequest): BasicCredentials | null {
  let creds = r.ctx[CREDS] as BasicCredentials | null | undefined;
  if (creds === undefined) {
    creds = parse(headerIn(r, 'authorization'));
    r.ctx[CREDS] = creds;
  }
  return creds;
}

function parse(value: string | undefined): BasicCredentials | null {
  if (value === undefined || value.length < 6 || value.slice(0, 6).toLowerCase() !== 'basic ') return null;
  let i = 6;
  while (value[i] === ' ') i++;
  if (i === value.length) return null;
  const auth = decodeBase64(value.slice(i));
  if (auth === undefined) return null;
  const colon = auth.indexOf(':');
  if (colon <= 0) return null;
  return { user: auth.slice(0, colon), password: auth.slice(colon + 1) };
}
