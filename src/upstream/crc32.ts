// ngx_crc32.c: the reflected CRC-32 (polynomial 0xedb88320) nginx uses for
// `hash` and `hash ... consistent`. Node 20 has no zlib.crc32, and the
// upstream methods need the running form (init/update/final) to hash
// "host\0port" then the previous point, as ngx_crc32_update does.

const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

/** ngx_crc32_init */
export const CRC32_INIT = 0xffffffff;

/** ngx_crc32_update over bytes (a byte string: one char per byte, or a Uint8Array). */
export function crc32Update(crc: number, data: string | Uint8Array): number {
  if (typeof data === 'string') {
    for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data.charCodeAt(i)) & 0xff] ^ (crc >>> 8);
  } else {
    for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  }
  return crc >>> 0;
}

/** ngx_crc32_final */
export function crc32Final(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

/** ngx_crc32_short / ngx_crc32_long: the same value, whatever the length. */
export function crc32(data: string | Uint8Array): number {
  return crc32Final(crc32Update(CRC32_INIT, data));
}
