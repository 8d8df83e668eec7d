import { BLOWFISH_PI } from './blowfish-pi';

// bcrypt ("$2a$", "$2b$", "$2x$", "$2y$") as Debian's libc crypt()
// (libxcrypt, whose bcrypt is Solar Designer's crypt_blowfish) computes it:
// the names are crypt_blowfish's. Keys are byte strings up to their NUL.

const BF_N = 16;
const ITOA64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ATOI64 = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) ATOI64[ITOA64.charCodeAt(i)] = i;
/** "OrpheanBeholderScryDoubt" as six big-endian words */
const MAGIC = [0x4f727068, 0x65616e42, 0x65686f6c, 0x64657253, 0x63727944, 0x6f756274];
/** per subtype letter: 1 the sign-extension bug ($2x$), 2 the safety measure ($2a$); 0 refused */
const FLAGS_BY_SUBTYPE: Record<string, number> = { a: 2, b: 4, x: 1, y: 4 };

interface State {
  P: Uint32Array;
  S: Uint32Array;
}

/** One Blowfish encryption of (l, r) in place (BF_ENCRYPT). */
function encrypt(st: State, lr: Uint32Array): void {
  const P = st.P;
  const S = st.S;
  let l = lr[0] ^ P[0];
  let r = lr[1];
  for (let i = 1; i <= BF_N; i += 2) {
    r ^= ((((S[l >>> 24] + S[256 | ((l >>> 16) & 0xff)]) ^ S[512 | ((l >>> 8) & 0xff)]) + S[768 | (l & 0xff)]) ^ P[i]);
    l ^= ((((S[r >>> 24] + S[256 | ((r >>> 16) & 0xff)]) ^ S[512 | ((r >>> 8) & 0xff)]) + S[768 | (r & 0xff)]) ^ P[i + 1]);
  }
  lr[0] = r ^ P[BF_N + 1];
  lr[1] = l;
}

/** BF_body: the whole state re-encrypted from zero, P then S. */
function body(st: State, lr: Uint32Array): void {
  lr[0] = lr[1] = 0;
  for (const box of [st.P, st.S]) {
    for (let i = 0; i < box.length; i += 2) {
      encrypt(st, lr);
      box[i] = lr[0];
      box[i + 1] = lr[1];
    }
  }
}

/** BF_decode: 22 characters to 16 salt bytes; undefined on a character outside the alphabet. */
function decode(src: string, size: number): Buffer | undefined {
  const out = Buffer.alloc(size);
  let n = 0;
  let i = 0;
  const next = (): number => {
    const c = src.charCodeAt(i++);
    return c < 128 ? ATOI64[c] : -1;
  };
  while (n < size) {
    const c1 = next();
    const c2 = next();
    if (c1 < 0 || c2 < 0) return undefined;
    out[n++] = (c1 << 2) | ((c2 & 0x30) >> 4);
    if (n >= size) break;
    const c3 = next();
    if (c3 < 0) return undefined;
    out[n++] = ((c2 & 0x0f) << 4) | ((c3 & 0x3c) >> 2);
    if (n >= size) break;
    const c4 = next();
    if (c4 < 0) return undefined;
    out[n++] = ((c3 & 0x03) << 6) | c4;
  }
  return out;
}

/** BF_encode */
function encode(src: Buffer): string {
  let out = '';
  for (let i = 0; i < src.length; ) {
    let c1 = src[i++];
    out += ITOA64[c1 >> 2];
    c1 = (c1 & 0x03) << 4;
    if (i >= src.length) return out + ITOA64[c1];
    let c2 = src[i++];
    out += ITOA64[c1 | (c2 >> 4)];
    c1 = (c2 & 0x0f) << 2;
    if (i >= src.length) return out + ITOA64[c1];
    c2 = src[i++];
    out += ITOA64[c1 | (c2 >> 6)] + ITOA64[c2 & 0x3f];
  }
  return out;
}

/**
 * BF_set_key: the key with its NUL, cycled over 18 words; the word as
 * $2x$'s sign-extending bug read it, and $2a$'s safety measure against
 * passwords that bug maps onto this one.
 */
function setKey(key: Buffer, flags: number): { expanded: Uint32Array; initial: Uint32Array } {
  const bug = flags & 1;
  const safety = (flags & 2) << 15;
  let sign = 0;
  let diff = 0;
  const expanded = new Uint32Array(BF_N + 2);
  const initial = new Uint32Array(BF_N + 2);
  let ptr = 0;
  for (let i = 0; i < BF_N + 2; i++) {
    let right = 0;
    let buggy = 0;
    for (let j = 0; j < 4; j++) {
      const c = ptr < key.length ? key[ptr] : 0;
      right = ((right << 8) | c) >>> 0;
      buggy = ((buggy << 8) | (c >= 0x80 ? c - 0x100 : c)) >>> 0;
      if (j) sign |= buggy & 0x80;
      ptr = c === 0 ? 0 : ptr + 1;
    }
    diff |= right ^ buggy;
    expanded[i] = bug ? buggy : right;
    initial[i] = BLOWFISH_PI[i] ^ expanded[i];
  }
  diff |= diff >>> 16;
  diff &= 0xffff;
  diff += 0xffff;
  sign <<= 9;
  sign &= ~diff & safety;
  initial[0] ^= sign;
  return { expanded, initial };
}

/** BF_crypt: the hash for a "$2?$NN$<22 salt characters>" setting, or undefined for a setting it refuses. */
export function bcryptCrypt(key: Buffer, setting: string): string | undefined {
  const flags = FLAGS_BY_SUBTYPE[setting[2]];
  if (setting[0] !== '$' || setting[1] !== '2' || flags === undefined || setting[3] !== '$' || setting[6] !== '$') return undefined;
  if (!/^[0-3][0-9]$/.test(setting.slice(4, 6))) return undefined;
  const cost = Number(setting.slice(4, 6));
  if (cost < 4 || cost > 31) return undefined;
  const saltBytes = decode(setting.slice(7, 29), 16);
  if (!saltBytes) return undefined;
  const salt = new Uint32Array(4);
  for (let i = 0; i < 4; i++) salt[i] = saltBytes.readUInt32BE(i * 4);
  const { expanded, initial } = setKey(key, flags);
  const st: State = { P: initial, S: Uint32Array.from(BLOWFISH_PI.slice(BF_N + 2)) };
  const lr = new Uint32Array(2);
  // the key schedule with the salt mixed in (EksBlowfishSetup's first expansion)
  let k = 0;
  for (const box of [st.P, st.S]) {
    for (let i = 0; i < box.length; i += 2, k += 2) {
      lr[0] ^= salt[k & 2];
      lr[1] ^= salt[(k & 2) + 1];
      encrypt(st, lr);
      box[i] = lr[0];
      box[i + 1] = lr[1];
    }
  }
  for (let count = 2 ** cost; count > 0; count--) {
    for (let i = 0; i < BF_N + 2; i++) st.P[i] ^= expanded[i];
    body(st, lr);
    for (let i = 0; i < BF_N + 2; i++) st.P[i] ^= salt[i & 3];
    body(st, lr);
  }
  const out = Buffer.alloc(24);
  for (let i = 0; i < 6; i += 2) {
    lr[0] = MAGIC[i];
    lr[1] = MAGIC[i + 1];
    for (let n = 0; n < 64; n++) encrypt(st, lr);
    out.writeUInt32BE(lr[0], i * 4);
    out.writeUInt32BE(lr[1], i * 4 + 4);
  }
  // the salt as given, but its last character only for the bits it carries
  const last = ITOA64[ATOI64[setting.charCodeAt(28)] & 0x30];
  return setting.slice(0, 28) + last + encode(out.subarray(0, 23));
}
