// nginx works on bytes: config text, URIs, headers and file names are
// compared byte for byte. nodinx keeps all of them as "byte strings" — one
// char per byte, code points 0-255 (Node's latin1) — and turns them into
// Buffers at the edges (files, sockets, terminals).

/** A JavaScript (UTF-16) string as the byte string of its UTF-8 encoding. */
export function toBytes(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s;
}

/** A byte string read as UTF-8, for output meant for people and JSON. */
export function fromBytes(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}

/** A byte string as a file system path. */
export function fsPath(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}
