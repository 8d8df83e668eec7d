import { gunzipSync } from 'node:zlib';
import { SessionFormatError } from './errors';

// MSM's bytes in memcached: the session data value (binary header, format
// version 2, then the transcoder's attribute bytes) and the 20-byte validity
// record. Big-endian throughout, as Java's DataOutput.

export const FORMAT_VERSION = 2;
/** Bytes before the session id in the header. */
const FIXED = 44;

export const AUTH_TYPES = ['', 'BASIC', 'CLIENT_CERT', 'DIGEST', 'FORM'] as const;

/** The session fields MSM's header carries (MemcachedBackupSession). */
export interface SessionFields {
  creationTime: number;
  lastAccessedTime: number;
  maxInactiveInterval: number;
  isNew: boolean;
  isValid: boolean;
  thisAccessedTime: number;
  lastBackupTime: number;
  /** without the storage prefix */
  id: string;
  /** 0 none, 1 BASIC, 2 CLIENT_CERT, 3 DIGEST, 4 FORM */
  authType: number;
  /** Java-serialized; kept as bytes, Node cannot make Java objects */
  principal: Buffer | null;
  savedRequest: Buffer | null;
  savedPrincipal: Buffer | null;
}

function blob(b: Buffer | null): Buffer {
  const n = b?.length ?? 0;
  if (n > 0xffff) throw new SessionFormatError(`a header field of ${n} bytes does not fit its 16-bit length`);
  const out = Buffer.alloc(2 + n);
  out.writeUInt16BE(n, 0);
  b?.copy(out, 2);
  return out;
}

/** The full data value: header + attribute bytes (TranscoderService.serialize). */
export function encodeSessionData(s: SessionFields, attributes: Buffer): Buffer {
  const id = Buffer.from(s.id, 'utf8');
  const tail = Buffer.concat([
    id,
    Buffer.from([s.authType >> 8, s.authType & 0xff]),
    blob(s.principal),
    blob(s.savedRequest),
    blob(s.savedPrincipal),
  ]);
  const h = Buffer.alloc(FIXED);
  const headerLength = FIXED + tail.length;
  if (headerLength > 0x7fff) throw new SessionFormatError(`a session header of ${headerLength} bytes is too long`);
  h.writeUInt16BE(FORMAT_VERSION, 0);
  h.writeUInt16BE(headerLength, 2);
  h.writeBigInt64BE(BigInt(Math.trunc(s.creationTime)), 4);
  h.writeBigInt64BE(BigInt(Math.trunc(s.lastAccessedTime)), 12);
  h.writeInt32BE(s.maxInactiveInterval, 20);
  h[24] = s.isNew ? 0x31 : 0x30;
  h[25] = s.isValid ? 0x31 : 0x30;
  h.writeBigInt64BE(BigInt(Math.trunc(s.thisAccessedTime)), 26);
  h.writeBigInt64BE(BigInt(Math.trunc(s.lastBackupTime)), 34);
  h.writeUInt16BE(id.length, 42);
  return Buffer.concat([h, tail, attributes]);
}

export interface DecodedSession {
  fields: SessionFields;
  attributes: Buffer;
}

/**
 * Reads a data value. Returns undefined for what MSM treats as absent: a
 * value shorter than a header (the 1-byte ping marker) or an unknown version;
 * throws SessionFormatError for a header that lies about its lengths.
 */
export function decodeSessionData(data: Buffer): DecodedSession | undefined {
  if (data.length < FIXED) return undefined;
  const version = data.readUInt16BE(0);
  if (version !== 1 && version !== 2) return undefined;
  const headerLength = data.readUInt16BE(2);
  const idLength = data.readUInt16BE(42);
  if (headerLength > data.length || FIXED + idLength + 4 > headerLength) {
    throw new SessionFormatError(`session header length ${headerLength} / id length ${idLength} do not fit a value of ${data.length} bytes`);
  }
  let at = FIXED + idLength;
  const id = data.toString('utf8', FIXED, at);
  const authType = data.readUInt16BE(at);
  at += 2;
  const readBlob = (): Buffer | null => {
    if (at + 2 > headerLength) throw new SessionFormatError('session header ends inside a field');
    const n = data.readUInt16BE(at);
    at += 2;
    if (at + n > headerLength) throw new SessionFormatError('session header field runs past the header');
    const b = n === 0 ? null : Buffer.from(data.subarray(at, at + n));
    at += n;
    return b;
  };
  const principal = readBlob();
  const savedRequest = version === 2 ? readBlob() : null;
  const savedPrincipal = version === 2 ? readBlob() : null;
  return {
    fields: {
      creationTime: Number(data.readBigInt64BE(4)),
      lastAccessedTime: Number(data.readBigInt64BE(12)),
      maxInactiveInterval: data.readInt32BE(20),
      isNew: data[24] === 0x31,
      isValid: data[25] === 0x31,
      thisAccessedTime: Number(data.readBigInt64BE(26)),
      lastBackupTime: Number(data.readBigInt64BE(34)),
      id, authType, principal, savedRequest, savedPrincipal,
    },
    attributes: Buffer.from(data.subarray(headerLength)),
  };
}

/** The validity record: `int32 MII | int64 lastAccessedTime | int64 thisAccessedTime`. */
export interface Validity {
  maxInactiveInterval: number;
  lastAccessedTime: number;
  thisAccessedTime: number;
}

export function encodeValidity(v: Validity): Buffer {
  const b = Buffer.alloc(20);
  b.writeInt32BE(v.maxInactiveInterval, 0);
  b.writeBigInt64BE(BigInt(Math.trunc(v.lastAccessedTime)), 4);
  b.writeBigInt64BE(BigInt(Math.trunc(v.thisAccessedTime)), 12);
  return b;
}

export function decodeValidity(b: Buffer): Validity | undefined {
  if (b.length !== 20) return undefined;
  return {
    maxInactiveInterval: b.readInt32BE(0),
    lastAccessedTime: Number(b.readBigInt64BE(4)),
    thisAccessedTime: Number(b.readBigInt64BE(12)),
  };
}

/** Valid when MII ≤ 0, or when the whole seconds idle are fewer than MII. */
export function isValidAt(v: Validity, now: number): boolean {
  return v.maxInactiveInterval <= 0 || Math.floor((now - v.thisAccessedTime) / 1000) < v.maxInactiveInterval;
}

/** Java's Arrays.hashCode(byte[]): MSM's change detection over the attribute bytes. */
export function javaHashCode(bytes: Uint8Array): number {
  let h = 1;
  for (const b of bytes) h = (Math.imul(31, h) + ((b << 24) >> 24)) | 0;
  return h;
}

const THIRTY_DAYS = 2592000;

/**
 * The expiration memcached is sent for a TTL in seconds: 0 (never) for
 * TTL ≤ 0, an absolute unix time past 30 days (MSM's fix for #228).
 */
export function memcachedExpiration(ttl: number, nowMs: number): number {
  if (ttl <= 0) return 0;
  return ttl > THIRTY_DAYS ? Math.floor(nowMs / 1000) + ttl : ttl;
}

/**
 * Values as spymemcached left them: flags 0 (MSM 2.x) or 2048 (1.x byte
 * arrays), gzipped when bit 2 is set.
 */
export function unwrapFlags(value: Buffer, flags: number): Buffer {
  if (flags & 2) {
    try {
      return gunzipSync(value);
    } catch (e) {
      throw new SessionFormatError('value flagged compressed is not gzip', e);
    }
  }
  return value;
}

// The attribute bytes in the format of MSM's JSONTranscoder (flexjson's
// deepSerialize of the attribute map): a JSON object, name → value, in
// UTF-8. JSON-simple values round-trip with Java Tomcats using that
// transcoder; bean values keep flexjson's "class" member untouched.

export type Attributes = Map<string, unknown>;

export interface AttributesTranscoder {
  serialize(attributes: Attributes): Buffer;
  deserialize(bytes: Buffer): Attributes;
}

export const jsonTranscoder: AttributesTranscoder = {
  serialize(attributes) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of attributes) if (v !== undefined) o[k] = v;
    return Buffer.from(JSON.stringify(o), 'utf8');
  },
  deserialize(bytes) {
    let v: unknown;
    try {
      v = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      throw new SessionFormatError('session attributes are not JSON (is the Tomcat side using JSONTranscoderFactory?)', e);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new SessionFormatError('session attributes are not a JSON object');
    return new Map(Object.entries(v as Record<string, unknown>));
  },
};
