import * as crypto from 'node:crypto';
import { desCrypt, ITOA64 } from '../core/des-crypt';
import { bcryptCrypt } from '../core/bcrypt-crypt';
import { decodeBase64 } from './basic-user';

// What auth_basic_user_file holds: "user:hash" lines read as nginx reads
// them, and the hashes ngx_crypt checks — its own ($apr1$, {PLAIN}, {SSHA},
// {SHA}) and, for the rest, what Debian's libc crypt() (libxcrypt) does with
// DES, $1$, $5$, $6$ and bcrypt's $2?$, down to the settings it refuses. Keys and hashes are
// byte strings that end at a NUL byte, as the C strings they are to nginx.

const LF = 0x0a;
const CR = 0x0d;

/** nginx reads the file through a 2048-byte buffer: a longer hash is cut there. */
const BUF_SIZE = 2048;

const cstr = (s: string): string => {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
};

/**
 * ngx_http_auth_basic_handler's scan: the hash of the first line that
 * starts with "user:", skipping lines that start with "#" or CR. The hash
 * ends at LF, CR or ":". Undefined when no line is the user's.
 */
export function findHash(file: Buffer, user: string): string | undefined {
  // nginx compares with the decoded credentials, where ":" follows the user
  const want = user + ':';
  let state: 'login' | 'passwd' | 'skip' = 'login';
  let login = 0;
  let start = 0;
  for (let i = 0; i < file.length; i++) {
    const c = file[i];
    if (state === 'login') {
      if (login === 0 && (c === 0x23 || c === CR)) state = 'skip';
      else if (login === 0 && c === LF) continue;
      else if (c !== want.charCodeAt(login)) state = 'skip';
      else if (++login === want.length) {
        state = 'passwd';
        start = i + 1;
      }
    } else if (state === 'passwd') {
      if (c === LF || c === CR || c === 0x3a) return cstr(file.toString('latin1', start, Math.min(i, start + BUF_SIZE)));
    } else if (c === LF) {
      state = 'login';
      login = 0;
    }
  }
  return state === 'passwd' ? cstr(file.toString('latin1', start, Math.min(file.length, start + BUF_SIZE))) : undefined;
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const createHash = crypto.createHash;
const digest = (alg: string, ...parts: Array<Buffer | string>): Buffer => {
  const h = createHash(alg);
  for (const p of parts) h.update(typeof p === 'string' ? bytes(p) : p);
  return h.digest();
};

/** One-shot hashing where Node has it (20.12+): about half the cost of a Hash object a round. */
const hashOnce: (alg: string, data: Buffer) => Buffer =
  typeof crypto.hash === 'function' ? (alg, data) => crypto.hash(alg, data, 'buffer') : (alg, data) => createHash(alg).update(data).digest();

/**
 * The stretching loop MD5-crypt and SHA-crypt share: round i hashes the
 * key-ish bytes `k` and the last digest `c` in an order set by i's parity,
 * with the salt-ish `s` unless 3 divides i and `k` again unless 7 does. The
 * input goes through one buffer, which is most of what a round costs.
 */
function stretchRounds(alg: string, c: Buffer, k: Buffer, s: Buffer, rounds: number): Buffer {
  const buf = Buffer.alloc(c.length * 2 + k.length * 2 + s.length);
  for (let i = 0; i < rounds; i++) {
    let n = (i & 1 ? k : c).copy(buf, 0);
    if (i % 3) n += s.copy(buf, n);
    if (i % 7) n += k.copy(buf, n);
    n += (i & 1 ? c : k).copy(buf, n);
    c = hashOnce(alg, buf.subarray(0, n));
  }
  return c;
}

/** ngx_crypt_to64 / b64_from_24bit: the low six bits first. */
function to64(v: number, n: number): string {
  let out = '';
  for (; n > 0; n--, v >>>= 6) out += ITOA64[v & 0x3f];
  return out;
}

/** Poul-Henning Kamp's MD5 crypt: "$1$" for libc, "$apr1$" for Apache (ngx_crypt_apr1). */
function md5Crypt(key: Buffer, setting: string, magic: string): string {
  let salt = setting.slice(magic.length, magic.length + 8);
  if (salt.includes('$')) salt = salt.slice(0, salt.indexOf('$'));
  const alt = digest('md5', key, salt, key);
  const ctx = createHash('md5').update(key).update(bytes(magic + salt));
  for (let n = key.length; n > 0; n -= 16) ctx.update(alt.subarray(0, Math.min(n, 16)));
  for (let i = key.length; i; i >>= 1) ctx.update(i & 1 ? Buffer.alloc(1) : key.subarray(0, 1));
  const f = stretchRounds('md5', ctx.digest(), key, bytes(salt), 1000);
  return `${magic}${salt}$` + to64((f[0] << 16) | (f[6] << 8) | f[12], 4) + to64((f[1] << 16) | (f[7] << 8) | f[13], 4)
    + to64((f[2] << 16) | (f[8] << 8) | f[14], 4) + to64((f[3] << 16) | (f[9] << 8) | f[15], 4)
    + to64((f[4] << 16) | (f[10] << 8) | f[5], 4) + to64(f[11], 2);
}

/** Bytes of `block` repeated to `len` bytes (the P and S sequences of SHA-crypt). */
function stretch(block: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let at = 0; at < len; at += block.length) block.copy(out, at, 0, Math.min(block.length, len - at));
  return out;
}

/**
 * Ulrich Drepper's SHA-crypt ($5$ SHA-256, $6$ SHA-512) as libxcrypt reads
 * its setting: "rounds=N$" with N from 1000 to 999999999 and no leading
 * zero, else undefined; the salt to the next "$", 16 bytes at most.
 */
function shaCrypt(key: Buffer, setting: string, alg: 'sha256' | 'sha512'): string | undefined {
  const magic = alg === 'sha256' ? '$5$' : '$6$';
  let rest = setting.slice(3);
  let rounds = 5000;
  let custom = false;
  if (rest.startsWith('rounds=')) {
    const m = /^rounds=([1-9][0-9]*)\$/.exec(rest);
    if (!m) return undefined;
    rounds = Number(m[1]);
    if (rounds < 1000 || rounds > 999999999) return undefined;
    custom = true;
    rest = rest.slice(m[0].length);
  }
  let salt = rest.slice(0, 16);
  if (salt.includes('$')) salt = salt.slice(0, salt.indexOf('$'));
  const s = bytes(salt);
  const b = digest(alg, key, s, key);
  const size = b.length;
  const a = createHash(alg).update(key).update(s).update(stretch(b, key.length));
  for (let n = key.length; n > 0; n >>= 1) a.update(n & 1 ? b : key);
  const ac = a.digest();
  const dp = createHash(alg);
  for (let i = 0; i < key.length; i++) dp.update(key);
  const p = stretch(dp.digest(), key.length);
  const ds = createHash(alg);
  for (let i = 0; i < 16 + ac[0]; i++) ds.update(s);
  const sx = stretch(ds.digest(), s.length);
  const c = stretchRounds(alg, ac, p, sx, rounds);
  // the bytes go out in threes from three places a third of the digest
  // apart, rotated one way for SHA-256 and the other for SHA-512
  const stride = size === 32 ? 10 : 21;
  let out = `${magic}${custom ? `rounds=${rounds}$` : ''}${salt}$`;
  for (let i = 0; i < stride; i++) {
    const t = [c[i], c[i + stride], c[i + 2 * stride]];
    const rot = size === 32 ? i % 3 : (3 - (i % 3)) % 3;
    const [x, y, z] = rot === 0 ? t : rot === 1 ? [t[2], t[0], t[1]] : [t[1], t[2], t[0]];
    out += to64((x << 16) | (y << 8) | z, 4);
  }
  out += size === 32 ? to64((c[31] << 8) | c[30], 3) : to64(c[63], 2);
  return out;
}

/** Hash schemes libxcrypt has that nodinx does not: a match cannot be checked. */
const UNSUPPORTED = ['$y$', '$gy$', '$7$', '$sha1$', '$md5', '$3$', '_'];

/** The hash the password makes, or the libxcrypt scheme nodinx cannot run (for the error log). */
export type CryptResult = { encrypted: string } | { unsupported: string };

/**
 * libxcrypt's crypt(): a phrase of 512 bytes or more, a setting with a
 * control, space, non-ASCII byte or one of !*:;\ and an unknown method all
 * give a failure token ("*0"), which matches no hash.
 */
function libcCrypt(key: Buffer, setting: string): CryptResult {
  const failed = { encrypted: setting.startsWith('*0') ? '*1' : '*0' };
  // eslint-disable-next-line no-control-regex
  if (key.length >= 512 || /[\x00-\x20\x7f-\xff!*:;\\]/.test(setting)) return failed;
  if (setting.startsWith('$1$')) return { encrypted: md5Crypt(key, setting, '$1$') };
  if (setting.startsWith('$5$')) return { encrypted: shaCrypt(key, setting, 'sha256') ?? failed.encrypted };
  if (setting.startsWith('$6$')) return { encrypted: shaCrypt(key, setting, 'sha512') ?? failed.encrypted };
  if (/^\$2[abxy]\$/.test(setting)) return { encrypted: bcryptCrypt(key, setting) ?? failed.encrypted };
  const other = UNSUPPORTED.find((p) => setting.startsWith(p));
  if (other) return { unsupported: other };
  return { encrypted: desCrypt(key, setting) ?? failed.encrypted };
}

/** ngx_crypt: the client's password hashed the way `hash` was. */
export function ngxCrypt(password: string, hash: string): CryptResult {
  const key = bytes(cstr(password));
  if (hash.startsWith('$apr1$')) return { encrypted: md5Crypt(key, hash, '$apr1$') };
  if (hash.startsWith('{PLAIN}')) return { encrypted: '{PLAIN}' + key.toString('latin1') };
  if (hash.startsWith('{SSHA}')) {
    // "{SSHA}" base64(SHA1(key salt) salt): what follows the 20 digest bytes is the salt
    let decoded = bytes(decodeBase64(hash.slice(6)) ?? '');
    if (decoded.length < 20) decoded = Buffer.alloc(20);
    const salt = decoded.subarray(20);
    return { encrypted: '{SSHA}' + Buffer.concat([digest('sha1', key, salt), salt]).toString('base64') };
  }
  if (hash.startsWith('{SHA}')) return { encrypted: '{SHA}' + digest('sha1', key).toString('base64') };
  return libcCrypt(key, hash);
}

/** Whether the password is the one the hash was made from (ngx_http_auth_basic_crypt_handler). */
export function checkPassword(password: string, hash: string): boolean | { unsupported: string } {
  const r = ngxCrypt(password, hash);
  return 'unsupported' in r ? r : r.encrypted === cstr(hash);
}
