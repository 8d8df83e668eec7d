import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import {
  decodeSessionData, decodeValidity, encodeSessionData, encodeValidity, isValidAt, javaHashCode, memcachedExpiration, unwrapFlags,
} from '../src/session/codec';
import { parseMsmConfig, storagePrefix } from '../src/session/config';
import { SessionConfigError, SessionFormatError, SessionIdError } from '../src/session/errors';
import {
  changeJvmRoute, changeNodeId, checkSessionId, createSessionId, isUsable, jvmRouteOf, newBaseId, nodeIdOf,
} from '../src/session/session-id';
import { jsonTranscoder } from '../src/session/codec';
import { Keys } from '../src/session/session-id';

// MSM's bytes and names, checked against the worked examples of
// shared/specs/msm.md (taken from MSM's code at 716e147).

describe('validity record', () => {
  test('the spec\'s example: MII 1800, times 1700000000000 and 1700000005000', () => {
    const b = encodeValidity({ maxInactiveInterval: 1800, lastAccessedTime: 1700000000000, thisAccessedTime: 1700000005000 });
    expect(b.toString('hex')).toBe('00000708' + '0000018bcfe56800' + '0000018bcfe57b88');
    expect(decodeValidity(b)).toEqual({ maxInactiveInterval: 1800, lastAccessedTime: 1700000000000, thisAccessedTime: 1700000005000 });
    expect(decodeValidity(Buffer.concat([b, Buffer.from([0])]))).toBeUndefined();
  });
  test('valid while the whole seconds idle are fewer than MII; MII ≤ 0 never expires', () => {
    const v = { maxInactiveInterval: 10, lastAccessedTime: 0, thisAccessedTime: 1000000 };
    expect(isValidAt(v, 1000000 + 9999)).toBe(true);
    expect(isValidAt(v, 1000000 + 10000)).toBe(false);
    expect(isValidAt({ ...v, maxInactiveInterval: 0 }, 1e13)).toBe(true);
    expect(isValidAt({ ...v, maxInactiveInterval: -1 }, 1e13)).toBe(true);
  });
});

describe('data value, format 2', () => {
  const fields = {
    creationTime: 1700000000000, lastAccessedTime: 1700000001000, maxInactiveInterval: 1800,
    isNew: true, isValid: true, thisAccessedTime: 1700000005000, lastBackupTime: 1700000006000,
    id: 'ABC123-n1.jvm1', authType: 0, principal: null, savedRequest: null, savedPrincipal: null,
  };
  test('every field at the offset of the spec\'s table', () => {
    const attrs = Buffer.from('{"count":3}');
    const b = encodeSessionData(fields, attrs);
    const L = 14;
    const H = 44 + L + 2 + 2 + 2 + 2;
    expect(b.readUInt16BE(0)).toBe(2);
    expect(b.readUInt16BE(2)).toBe(H);
    expect(b.subarray(4, 12).toString('hex')).toBe('0000018bcfe56800');
    expect(Number(b.readBigInt64BE(12))).toBe(1700000001000);
    expect(b.readInt32BE(20)).toBe(1800);
    expect(b.subarray(24, 26).toString('latin1')).toBe('11');
    expect(b.subarray(26, 34).toString('hex')).toBe('0000018bcfe57b88');
    expect(Number(b.readBigInt64BE(34))).toBe(1700000006000);
    expect(b.readUInt16BE(42)).toBe(L);
    expect(b.subarray(44, 44 + L).toString('utf8')).toBe('ABC123-n1.jvm1');
    expect(b.subarray(44 + L, H).toString('hex')).toBe('0000' + '0000' + '0000' + '0000');
    expect(b.subarray(H).toString()).toBe('{"count":3}');
    expect(b.length).toBe(H + attrs.length);
  });
  test('round trip, with a principal kept as opaque bytes', () => {
    const f = { ...fields, isNew: false, authType: 4, principal: Buffer.from([0xac, 0xed, 0, 5]) };
    const d = decodeSessionData(encodeSessionData(f, Buffer.from('{}')))!;
    expect(d.fields).toEqual(f);
    expect(d.attributes.toString()).toBe('{}');
  });
  test('what MSM treats as absent: the 1-byte ping marker, short values, unknown versions', () => {
    expect(decodeSessionData(Buffer.from([1]))).toBeUndefined();
    expect(decodeSessionData(Buffer.alloc(43))).toBeUndefined();
    const b = encodeSessionData(fields, Buffer.from('{}'));
    b.writeUInt16BE(3, 0);
    expect(decodeSessionData(b)).toBeUndefined();
  });
  test('a header that lies about its lengths is a SessionFormatError', () => {
    const b = encodeSessionData(fields, Buffer.from('{}'));
    b.writeUInt16BE(9999, 2);
    expect(() => decodeSessionData(b)).toThrow(SessionFormatError);
    const c = encodeSessionData(fields, Buffer.from('{}'));
    c.writeUInt16BE(200, 42);
    expect(() => decodeSessionData(c)).toThrow(SessionFormatError);
  });
});

describe('change detection and TTLs', () => {
  test('Arrays.hashCode: [1,2,3] gives 30817, signed bytes, int32 arithmetic', () => {
    expect(javaHashCode(Buffer.from([1, 2, 3]))).toBe(30817);
    expect(javaHashCode(Buffer.alloc(0))).toBe(1);
    // Java: Arrays.hashCode(new byte[]{-1}) = 31 - 1 = 30
    expect(javaHashCode(Buffer.from([0xff]))).toBe(30);
    expect(Number.isInteger(javaHashCode(Buffer.alloc(1000, 0x7f)))).toBe(true);
    expect(Math.abs(javaHashCode(Buffer.alloc(1000, 0x7f)))).toBeLessThan(2 ** 31);
  });
  test('TTL ≤ 0 never expires; over 30 days is an absolute time', () => {
    expect(memcachedExpiration(0, 1700000000000)).toBe(0);
    expect(memcachedExpiration(-5, 1700000000000)).toBe(0);
    expect(memcachedExpiration(3600, 1700000000000)).toBe(3600);
    expect(memcachedExpiration(2592000, 1700000000000)).toBe(2592000);
    expect(memcachedExpiration(2592001, 1700000000000)).toBe(1700000000 + 2592001);
  });
  test('1.x values: flags 2048 read as they are, bit 2 gunzipped', () => {
    expect(unwrapFlags(Buffer.from('x'), 2048).toString()).toBe('x');
    expect(unwrapFlags(gzipSync(Buffer.from('hello')), 2048 | 2).toString()).toBe('hello');
  });
});

describe('session ids', () => {
  test('new ids: -node before the first dot, or appended', () => {
    expect(createSessionId('ABC123', 'n1')).toBe('ABC123-n1');
    expect(createSessionId('ABC123.jvm1', 'n1')).toBe('ABC123-n1.jvm1');
    expect(createSessionId('ABC123.jvm1', undefined)).toBe('ABC123.jvm1');
    expect(newBaseId()).toMatch(/^[0-9A-F]{32}$/);
    expect(newBaseId('jvm2')).toMatch(/^[0-9A-F]{32}\.jvm2$/);
  });
  test('parsing: node after the first dash up to the first dot; none when a dot comes first', () => {
    expect(nodeIdOf('ABC123-n1.jvm1')).toBe('n1');
    expect(nodeIdOf('ABC123-n1')).toBe('n1');
    expect(nodeIdOf('ABC123.jvm1-n1')).toBeUndefined();
    expect(nodeIdOf('ABC123')).toBeUndefined();
    expect(jvmRouteOf('ABC123-n1.jvm1')).toBe('jvm1');
    expect(jvmRouteOf('ABC123-n1')).toBeUndefined();
    expect(isUsable('ABC-n1.jvm1')).toBe(true);
    expect(isUsable('ABC.jvm1')).toBe(false);
    expect(isUsable('ABC-n1.a.b')).toBe(false);
  });
  test('relocation keeps the jvmRoute; Tomcat failover replaces it', () => {
    expect(changeNodeId('ABC123-n1.jvm1', 'n2')).toBe('ABC123-n2.jvm1');
    expect(changeNodeId('ABC123-n1', 'n2')).toBe('ABC123-n2');
    expect(changeJvmRoute('ABC123-n1.jvm1', 'jvm2')).toBe('ABC123-n1.jvm2');
    expect(changeJvmRoute('ABC123-n1', 'jvm2')).toBe('ABC123-n1.jvm2');
  });
  test('forged and over-long ids never reach memcached', () => {
    expect(() => checkSessionId('A'.repeat(201))).toThrow(SessionIdError);
    expect(() => checkSessionId('ABC n1')).toThrow(SessionIdError);
    expect(() => checkSessionId('ABC\r\nset x')).toThrow(SessionIdError);
    expect(() => checkSessionId('')).toThrow(SessionIdError);
    expect(() => checkSessionId('ABC123-n1.jvm1')).not.toThrow();
    const e = (() => { try { checkSessionId('a b'); } catch (x) { return x as SessionIdError; } })()!;
    expect([e.name, e.code]).toEqual(['SessionIdError', 'SESSION_ID']);
  });
});

describe('configuration under MSM\'s names', () => {
  test('storageKeyPrefix tokens; .hash is 8 hex of SHA-256 (hst → e93c085e)', () => {
    expect(storagePrefix(undefined, {})).toBe('');
    expect(storagePrefix('static:x,host.hash', { host: 'hst' })).toBe('x:e93c085e_');
    expect(storagePrefix('context,webappVersion', { contextPath: '/app' })).toBe('/app_');
  });
  test('keys: the validity backup carries the prefix twice', () => {
    const k = new Keys(parseMsmConfig({ memcachedNodes: 'n1:h:1 n2:h:2', storageKeyPrefix: 'static:p' }));
    expect([k.data('X-n1'), k.validity('X-n1'), k.backupData('X-n1'), k.backupValidity('X-n1'), k.lock('X-n1'), k.ping('n1')])
      .toEqual(['p_X-n1', 'validity:p_X-n1', 'bak:p_X-n1', 'bak:p_validity:p_X-n1', 'lock:p_X-n1', 'p_ping-n1']);
  });
  test('memcachedNodes, failoverNodes, lockingMode, patterns that match the whole string', () => {
    const c = parseMsmConfig({ memcachedNodes: 'n1:localhost:11211, n2:localhost:11212 n3:h:3', failoverNodes: 'n3', sticky: 'false', lockingMode: 'uriPattern:GET /a.*', requestUriIgnorePattern: '.*\\.js' });
    expect(c.primaryNodeIds).toEqual(['n1', 'n2']);
    expect(c.failoverNodeIds).toEqual(['n3']);
    expect(c.lockingMode.kind).toBe('uriPattern');
    expect(c.requestUriIgnorePattern!.test('GET /a.js')).toBe(true);
    expect(c.requestUriIgnorePattern!.test('GET /a.js?v=1')).toBe(false);
    const single = parseMsmConfig({ memcachedNodes: 'localhost:11211' });
    expect(single.encodeNodeIdInSessionId).toBe(false);
    for (const bad of [
      { memcachedNodes: 'n-1:h:1' }, { memcachedNodes: 'n1:h:1', failoverNodes: 'n1' }, { memcachedNodes: 'n1:h:1 n2:h:2', failoverNodes: 'n9' },
      { memcachedNodes: 'n1:h:1', sticky: 'false', lockingMode: 'some' }, { memcachedNodes: 'n1:h:1', lockingMode: 'all' },
      { memcachedNodes: 'n1:h:1', storageKeyPrefix: 'bogus' }, { memcachedNodes: '' },
    ]) {
      expect(() => parseMsmConfig(bad), JSON.stringify(bad)).toThrow(SessionConfigError);
    }
  });
  test('JSON transcoder: flexjson\'s object of attributes', () => {
    const b = jsonTranscoder.serialize(new Map<string, unknown>([['count', 3], ['user', { name: 'a', class: 'x.User' }]]));
    expect(b.toString()).toBe('{"count":3,"user":{"name":"a","class":"x.User"}}');
    expect([...jsonTranscoder.deserialize(b)]).toEqual([['count', 3], ['user', { name: 'a', class: 'x.User' }]]);
    expect(() => jsonTranscoder.deserialize(Buffer.from([0xac, 0xed, 0, 5]))).toThrow(SessionFormatError);
  });
});
