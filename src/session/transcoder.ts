import { SessionFormatError } from './errors';

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
