import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeSessionData, decodeValidity, encodeSessionData, encodeValidity } from '../src/session/codec';
import { SessionManager } from '../src/session/manager';
import { MemjsClient, MemoryMemcached, type MemcachedClient } from '../src/session/memcached';
import type { ClientFactory } from '../src/session/nodes';
import { nodeIdOf } from '../src/session/session-id';
import type { MsmAttributes } from '../src/session/config';
import { MemcachedTable } from '../src/session/table';
import { memcachedTtl, startMemcached, type Memcached } from './helpers/memcached';

// The store's contract, run over real memcached (three Debian memcached
// servers on free loopback ports) and over the in-memory double alike:
// whatever passes on one must pass on the other.

interface Backend {
  /** memcachedNodes for n1 n2 n3 */
  nodes: string;
  factory?: ClientFactory;
  raw(node: string): MemcachedClient;
  down(node: string): Promise<void>;
  up(node: string): Promise<void>;
  ttl(node: string, key: string): Promise<number | undefined>;
  ops(node: string): Promise<number>;
  close(): Promise<void>;
}

const IDS = ['n1', 'n2', 'n3'];

async function realBackend(): Promise<Backend> {
  const servers = new Map<string, Memcached>();
  for (const id of IDS) servers.set(id, await startMemcached());
  const raw = new Map([...servers].map(([id, m]) => [id, new MemjsClient('127.0.0.1', m.port, { timeout: 1000 })]));
  return {
    nodes: IDS.map((id) => servers.get(id)!.node(id)).join(' '),
    raw: (n) => raw.get(n)!,
    down: (n) => servers.get(n)!.stop(),
    up: (n) => servers.get(n)!.start(),
    async ttl(n, key) {
      const t = await memcachedTtl(servers.get(n)!.port, key);
      return t === -1 ? 0 : t;
    },
    ops: (n) => servers.get(n)!.ops(),
    async close() {
      for (const c of raw.values()) c.close();
      for (const m of servers.values()) await m.stop();
    },
  };
}

async function memoryBackend(): Promise<Backend> {
  const mem = new Map(IDS.map((id) => [id, new MemoryMemcached(id)]));
  return {
    nodes: IDS.map((id, i) => `${id}:127.0.0.1:${i + 1}`).join(' '),
    factory: (n) => mem.get(n.id!)!,
    raw: (n) => mem.get(n)!,
    async down(n) {
      mem.get(n)!.down = true;
      mem.get(n)!.items.clear();
    },
    async up(n) {
      mem.get(n)!.down = false;
    },
    async ttl(n, key) {
      const at = mem.get(n)!.expiresAt(key);
      return at === undefined ? undefined : at === 0 ? 0 : Math.round((at - Date.now()) / 1000);
    },
    ops: async (n) => mem.get(n)!.ops,
    async close() {},
  };
}

const backends: Array<[string, () => Promise<Backend>]> = [['real memcached', realBackend], ['in-memory double', memoryBackend]];

describe.each(backends)('session store contract: %s', (_name, make) => {
  let b: Backend;
  const managers: SessionManager[] = [];
  const logs: string[] = [];
  beforeAll(async () => {
    b = await make();
  });
  afterAll(async () => {
    for (const m of managers) await m.close();
    await b?.close();
  });

  function manager(extra: Partial<MsmAttributes> = {}): SessionManager {
    const m = new SessionManager(
      { memcachedNodes: b.nodes, sticky: false, sessionBackupAsync: false, sessionBackupTimeout: 2000, ...extra },
      { factory: b.factory, log: (level, msg) => logs.push(`[${level}] ${msg}`) },
    );
    managers.push(m);
    return m;
  }

  /** One request: get (or make) the session, apply f, end. */
  async function request(m: SessionManager, id: string | undefined, f?: (count: number) => unknown, uri = '/') {
    const r = await m.begin('GET', uri, undefined, id);
    const s = await r.getSession(true);
    if (s && f) s.setAttribute('count', f(s.getAttribute<number>('count') ?? 0));
    const end = await r.end();
    await m.flush();
    return { id: s?.id, cookie: end.setCookie, count: s?.getAttribute<number>('count') };
  }

  test('a new session: id names a node; data, validity and both backups with MSM\'s TTLs', async () => {
    const m = manager({ maxInactiveInterval: 600 });
    const r = await request(m, undefined, (c) => c + 1);
    expect(r.id).toMatch(/^[0-9A-F]{32}-n[123]$/);
    expect(r.cookie).toBe(r.id);
    const id = r.id!;
    const node = nodeIdOf(id)!;
    const next = IDS[(IDS.indexOf(node) + 1) % 3];
    const data = decodeSessionData((await b.raw(node).get(id))!)!;
    expect(data.fields.id).toBe(id);
    expect(data.fields.maxInactiveInterval).toBe(600);
    expect(data.attributes.toString()).toBe('{"count":1}');
    const v = decodeValidity((await b.raw(node).get(`validity:${id}`))!)!;
    expect(v.maxInactiveInterval).toBe(600);
    expect((await b.raw(next).get(`bak:${id}`))!.equals((await b.raw(node).get(id))!)).toBe(true);
    expect((await b.raw(next).get(`bak:validity:${id}`))!.length).toBe(20);
    const ttls = [await b.ttl(node, id), await b.ttl(node, `validity:${id}`), await b.ttl(next, `bak:${id}`), await b.ttl(next, `bak:validity:${id}`)];
    for (const [t, want] of ttls.map((t, i) => [t!, [1200, 600, 1200, 600][i]])) expect(Math.abs(t - want)).toBeLessThanOrEqual(2);
    expect(await b.raw(node).get(`lock:${id}`)).toBeNull();
  });

  test('TTLs over 30 days are sent as absolute times; MII ≤ 0 never expires', async () => {
    const long = await request(manager({ maxInactiveInterval: 20 * 86400 }), undefined, () => 1);
    const t = await b.ttl(nodeIdOf(long.id!)!, long.id!);
    expect(Math.abs(t! - 40 * 86400)).toBeLessThanOrEqual(2);
    const forever = await request(manager({ maxInactiveInterval: 0 }), undefined, () => 1);
    expect(await b.ttl(nodeIdOf(forever.id!)!, forever.id!)).toBe(0);
  });

  test('another app server loads it; the count rises by one per request across both', async () => {
    const [a, c] = [manager(), manager()];
    let id: string | undefined;
    for (let i = 1; i <= 6; i++) {
      const r = await request(i % 2 ? a : c, id, (n) => n + 1);
      id = r.id;
      expect(r.count).toBe(i);
      expect(r.cookie).toBe(i === 1 ? id : undefined);
    }
  });

  test('an unchanged session is not rewritten, but its validity is', async () => {
    const m = manager();
    const { id } = await request(m, undefined, () => 5);
    const node = nodeIdOf(id!)!;
    const before = (await b.raw(node).get(id!))!;
    const v0 = decodeValidity((await b.raw(node).get(`validity:${id}`))!)!;
    await new Promise((r) => setTimeout(r, 20));
    const r = await request(m, id, (n) => n);
    expect(r.count).toBe(5);
    expect((await b.raw(node).get(id!))!.equals(before)).toBe(true);
    const v1 = decodeValidity((await b.raw(node).get(`validity:${id}`))!)!;
    expect(v1.thisAccessedTime).toBeGreaterThan(v0.thisAccessedTime);
    // a request that never touches the session still extends it
    const r2 = await m.begin('GET', '/', undefined, id);
    await new Promise((res) => setTimeout(res, 20));
    await r2.end();
    await m.flush();
    const v2 = decodeValidity((await b.raw(node).get(`validity:${id}`))!)!;
    expect(v2.thisAccessedTime).toBeGreaterThan(v1.thisAccessedTime);
    expect(v2.lastAccessedTime).toBe(v2.thisAccessedTime);
  });

  test('invalidation and expiry delete every key of the session', async () => {
    const m = manager();
    const { id } = await request(m, undefined, () => 1);
    const node = nodeIdOf(id!)!;
    const next = IDS[(IDS.indexOf(node) + 1) % 3];
    const r = await m.begin('GET', '/', undefined, id);
    await r.getSession(false);
    await r.invalidate();
    await r.end();
    for (const [n, k] of [[node, id!], [node, `validity:${id}`], [next, `bak:${id}`], [next, `bak:validity:${id}`]]) expect(await b.raw(n).get(k), k).toBeNull();
    // expiry: validity says idle for longer than MII
    const e = await request(m, undefined, () => 7);
    const en = nodeIdOf(e.id!)!;
    const old = Date.now() - 3600 * 1000;
    await b.raw(en).set(`validity:${e.id}`, encodeValidity({ maxInactiveInterval: 1800, lastAccessedTime: old, thisAccessedTime: old }), 60);
    const again = await request(manager(), e.id, (n) => n + 1);
    expect(again.id).not.toBe(e.id);
    expect(again.count).toBe(1);
    expect(await b.raw(en).get(e.id!)).toBeNull();
    expect(await b.raw(en).get(`validity:${e.id}`)).toBeNull();
  });

  test('the node holding the session goes down: its backup is found under a relocated id and a new cookie', async () => {
    const m = manager();
    const { id } = await request(m, undefined, (n) => 41);
    const node = nodeIdOf(id!)!;
    const next = IDS[(IDS.indexOf(node) + 1) % 3];
    await b.down(node);
    try {
      const other = manager();
      const r = await request(other, id, (n) => n + 1);
      expect(r.count).toBe(42);
      expect(r.id).toBe(id!.replace(`-${node}`, `-${next}`));
      expect(r.cookie).toBe(r.id);
      expect(decodeSessionData((await b.raw(next).get(r.id!))!)!.attributes.toString()).toBe('{"count":42}');
      expect(logs.some((l) => l.includes(`restored from its backup on "${next}"`))).toBe(true);
      const r2 = await request(other, r.id, (n) => n + 1);
      expect([r2.id, r2.count, r2.cookie]).toEqual([r.id, 43, undefined]);
    } finally {
      await b.up(node);
    }
  });

  test('lockingMode all: the lock key is held during the request and deleted at its end', async () => {
    const m = manager({ lockingMode: 'all' });
    const { id } = await request(m, undefined, () => 1);
    const node = nodeIdOf(id!)!;
    const r = await m.begin('GET', '/', undefined, id);
    await r.getSession();
    expect((await b.raw(node).get(`lock:${id}`))!.toString()).toBe('locked');
    await r.end();
    expect(await b.raw(node).get(`lock:${id}`)).toBeNull();
    // 100 parallel increments over two app servers give 100
    const [a, c] = [manager({ lockingMode: 'all' }), manager({ lockingMode: 'all' })];
    await Promise.all(Array.from({ length: 100 }, (_, i) => request(i % 2 ? a : c, id, (n) => n + 1)));
    expect((await request(a, id)).count).toBe(101);
  });

  test('requests matching requestUriIgnorePattern never touch memcached', async () => {
    const m = manager({ requestUriIgnorePattern: '.*\\.(png|css)' });
    const { id } = await request(m, undefined, () => 1);
    const before = await Promise.all(IDS.map((n) => b.ops(n)));
    for (let i = 0; i < 5; i++) {
      const r = await request(m, id, (n) => n + 1, '/a.png');
      expect(r.id).toBeUndefined();
    }
    expect(await Promise.all(IDS.map((n) => b.ops(n)))).toEqual(before);
    expect((await request(m, id, (n) => n + 1, '/a.png?x')).count).toBe(2);
  });

  test('bad input: a value not in MSM\'s format, a forged id, an unknown node: a new session and a log line', async () => {
    const m = manager();
    await b.raw('n1').set('BADVALUE-n1', Buffer.from('{"not":"msm"}'.repeat(5)), 60);
    const hdr = encodeSessionData({ creationTime: Date.now(), lastAccessedTime: Date.now(), thisAccessedTime: Date.now(), lastBackupTime: 0, maxInactiveInterval: 60, isNew: false, isValid: true, id: 'BADATTRS-n1', authType: 0, principal: null, savedRequest: null, savedPrincipal: null }, Buffer.from([0xac, 0xed, 0, 5]));
    await b.raw('n1').set('BADATTRS-n1', hdr, 60);
    for (const [bad, line] of [
      ['BADVALUE-n1', 'is not MSM\'s format'], ['BADATTRS-n1', 'not JSON'], ['X'.repeat(300) + '-n1', 'over 200'],
      ['A B-n1', 'characters a session id never has'], ['ABCDEF-n9', 'not in memcachedNodes'],
    ]) {
      const r = await request(m, bad, (n) => n + 1);
      expect(r.count, bad).toBe(1);
      expect(r.id).not.toBe(bad);
      expect(r.cookie).toBe(r.id);
      expect(logs.some((l) => l.includes(line)), line).toBe(true);
    }
    // MSM deletes a value its transcoder cannot read
    expect(await b.raw('n1').get('BADATTRS-n1')).toBeNull();
  });

  test('MemcachedTable (for sticky learn): key → value with TTL, a backup copy, read back when the node is down', async () => {
    const t = new MemcachedTable({ memcachedNodes: b.nodes, factory: b.factory, storageKeyPrefix: 'static:learn' });
    try {
      const home = t.homeNode('route-of-session-42');
      expect(t.homeNode('ABCDEF-n2.jvm1')).toBe('n2');
      expect(await t.set('route-of-session-42', Buffer.from('backend-b'), 300)).toBe(true);
      expect((await t.get('route-of-session-42'))!.toString()).toBe('backend-b');
      expect(Math.abs((await b.ttl(home, 'learn_route-of-session-42'))! - 300)).toBeLessThanOrEqual(2);
      const next = IDS[(IDS.indexOf(home) + 1) % 3];
      expect((await b.raw(next).get('bak:learn_route-of-session-42'))!.toString()).toBe('backend-b');
      await b.down(home);
      try {
        expect((await t.get('route-of-session-42'))!.toString()).toBe('backend-b');
        // and once the availability cache knows the node is down
        await new Promise((r) => setTimeout(r, 1100));
        expect((await t.get('route-of-session-42'))!.toString()).toBe('backend-b');
      } finally {
        await b.up(home);
      }
      await new Promise((r) => setTimeout(r, 1100));
      await t.delete('route-of-session-42');
      expect(await t.get('route-of-session-42')).toBeNull();
    } finally {
      t.close();
    }
  });

  test('sessionBackupAsync: the request does not wait; the writes land in the background', async () => {
    const m = manager({ sessionBackupAsync: true });
    const r = await m.begin('GET', '/', undefined, undefined);
    const s = (await r.getSession())!;
    s.setAttribute('count', 9);
    await r.end();
    await m.flush();
    const node = nodeIdOf(s.id)!;
    expect(decodeSessionData((await b.raw(node).get(s.id))!)!.attributes.toString()).toBe('{"count":9}');
    expect(await b.raw(IDS[(IDS.indexOf(node) + 1) % 3]).get(`bak:${s.id}`)).not.toBeNull();
  });

  test('lockingMode auto: a request id seen read-only stops taking the lock; one that modified keeps it', async () => {
    const m = manager({ lockingMode: 'auto' });
    const { id } = await request(m, undefined, () => 1);
    const node = nodeIdOf(id!)!;
    const lockedDuring = async (uri: string, f?: (n: number) => number) => {
      const r = await m.begin('GET', uri, undefined, id);
      const s = (await r.getSession())!;
      const locked = (await b.raw(node).get(`lock:${id}`)) !== null;
      if (f) s.setAttribute('count', f(s.getAttribute<number>('count')!));
      await r.end();
      await m.flush();
      return locked;
    };
    expect(await lockedDuring('/read')).toBe(true);
    expect(await lockedDuring('/read')).toBe(false);
    expect(await lockedDuring('/write', (n) => n + 1)).toBe(true);
    expect(await lockedDuring('/write', (n) => n + 1)).toBe(true);
  });

  test('lockingMode uriPattern: only requests whose whole "METHOD URI?query" matches take the lock', async () => {
    const m = manager({ lockingMode: 'uriPattern:GET /cart.*' });
    const { id } = await request(m, undefined, () => 1);
    const node = nodeIdOf(id!)!;
    const lockedDuring = async (method: string, uri: string, query?: string) => {
      const r = await m.begin(method, uri, query, id);
      await r.getSession();
      const locked = (await b.raw(node).get(`lock:${id}`)) !== null;
      await r.end();
      return locked;
    };
    expect(await lockedDuring('GET', '/cart/add', 'item=1')).toBe(true);
    expect(await lockedDuring('GET', '/shop')).toBe(false);
    expect(await lockedDuring('POST', '/cart')).toBe(false);
    expect(await b.raw(node).get(`lock:${id}`)).toBeNull();
  });

  test('sticky: data only, TTL MII − idle + 60, no validity, backup or lock keys', async () => {
    const m = manager({ sticky: true, maxInactiveInterval: 600 });
    const { id } = await request(m, undefined, () => 1);
    const node = nodeIdOf(id!)!;
    expect(decodeSessionData((await b.raw(node).get(id!))!)!.attributes.toString()).toBe('{"count":1}');
    expect(Math.abs((await b.ttl(node, id!))! - 660)).toBeLessThanOrEqual(2);
    for (const n of IDS) {
      for (const k of [`validity:${id}`, `bak:${id}`, `bak:validity:${id}`, `lock:${id}`]) expect(await b.raw(n).get(k)).toBeNull();
    }
    // Tomcat's background process rewrites a session only read, before its copy runs out
    const r0 = await m.begin('GET', '/', undefined, id);
    const s0 = (await r0.getSession())!;
    await r0.end();
    await m.flush();
    const written = decodeSessionData((await b.raw(node).get(id!))!)!.fields.lastBackupTime;
    s0.fields.thisAccessedTime = Date.now() + 100000;
    await new Promise((r) => setTimeout(r, 5));
    m.runBackgroundProcess(Date.now() + 590000);
    await m.flush();
    expect(decodeSessionData((await b.raw(node).get(id!))!)!.fields.lastBackupTime).toBe(written);
    m.runBackgroundProcess(Date.now() + 645000);
    await m.flush();
    expect(decodeSessionData((await b.raw(node).get(id!))!)!.fields.lastBackupTime).toBeGreaterThan(written);
    // a second "Tomcat" without the session in memory loads it from memcached
    const r = await request(manager({ sticky: true, maxInactiveInterval: 600 }), id, (n) => n + 1);
    expect([r.id, r.count]).toEqual([id, 2]);
  });
});

describe.each(backends)('failover nodes and sticky relocation: %s', (_name, make) => {
  let b: Backend;
  const managers: SessionManager[] = [];
  beforeAll(async () => {
    b = await make();
  });
  afterAll(async () => {
    for (const m of managers) await m.close();
    await b?.close();
  });
  const manager = (extra: Partial<MsmAttributes>): SessionManager => {
    const m = new SessionManager({ memcachedNodes: b.nodes, sessionBackupAsync: false, sessionBackupTimeout: 2000, ...extra }, { factory: b.factory, log: () => undefined });
    managers.push(m);
    return m;
  };
  async function newSession(m: SessionManager, id?: string) {
    const r = await m.begin('GET', '/', undefined, id);
    const s = (await r.getSession())!;
    s.setAttribute('count', (s.getAttribute<number>('count') ?? 0) + 1);
    const end = await r.end();
    await m.flush();
    return { id: s.id, count: s.getAttribute<number>('count'), cookie: end.setCookie };
  }

  test('failoverNodes are used only when no other node is up', async () => {
    const m = manager({ sticky: true, failoverNodes: 'n3' });
    for (let i = 0; i < 12; i++) expect(nodeIdOf((await newSession(m)).id)).not.toBe('n3');
    await b.down('n1');
    await b.down('n2');
    try {
      const m2 = manager({ sticky: true, failoverNodes: 'n3' });
      expect(nodeIdOf((await newSession(m2)).id)).toBe('n3');
    } finally {
      await b.up('n1');
      await b.up('n2');
    }
  });

  test('sticky: the session\'s node goes down; the session, in memory, moves to another node with a new cookie', async () => {
    const m = manager({ sticky: true, nodeAvailabilityCacheTTL: 0 });
    const first = await newSession(m);
    const node = nodeIdOf(first.id)!;
    await b.down(node);
    try {
      const r = await newSession(m, first.id);
      expect(r.count).toBe(2);
      expect(nodeIdOf(r.id)).not.toBe(node);
      expect(r.id.replace(/-n\d/, '')).toBe(first.id.replace(/-n\d/, ''));
      expect(r.cookie).toBe(r.id);
      expect(decodeSessionData((await b.raw(nodeIdOf(r.id)!).get(r.id))!)!.attributes.toString()).toBe('{"count":2}');
    } finally {
      await b.up(node);
    }
  });
});

describe('in-memory double only: what a request reads, a slow node', () => {
  test('lazy loading: a request that never asks for its session reads only the validity key', async () => {
    const mem = new Map(IDS.map((id) => [id, new MemoryMemcached(id)]));
    const m = new SessionManager({ memcachedNodes: 'n1:h:1 n2:h:2', sticky: false, sessionBackupAsync: false }, { factory: (n) => mem.get(n.id!)!, log: () => undefined });
    try {
      const r = await m.begin('GET', '/', undefined, undefined);
      const id = (await r.getSession())!.id;
      await r.end();
      await m.flush();
      const node = mem.get(nodeIdOf(id)!)!;
      node.reads.length = 0;
      const lazy = await m.begin('GET', '/', undefined, id);
      await lazy.end();
      await m.flush();
      expect(node.reads).toEqual([`validity:${id}`]);
      node.reads.length = 0;
      const eager = await m.begin('GET', '/', undefined, id);
      await eager.getSession();
      await eager.end();
      expect(node.reads).toEqual([id, `validity:${id}`]);
    } finally {
      await m.close();
    }
  });

  test('a data write slower than sessionBackupTimeout counts as FAILURE and marks the node down', async () => {
    const mem = new Map(IDS.map((id) => [id, new MemoryMemcached(id)]));
    const logs: string[] = [];
    const m = new SessionManager(
      { memcachedNodes: 'n1:h:1 n2:h:2', sticky: false, sessionBackupAsync: false, sessionBackupTimeout: 50 },
      { factory: (n) => mem.get(n.id!)!, log: (_l, msg) => logs.push(msg) },
    );
    try {
      const r = await m.begin('GET', '/', undefined, undefined);
      const s = (await r.getSession())!;
      s.setAttribute('x', 1);
      const node = nodeIdOf(s.id)!;
      mem.get(node)!.delay = 200;
      await r.end();
      expect(logs.join('\n')).toMatch(new RegExp(`storing session "${s.id}" on node "${node}" failed: .*took over sessionBackupTimeout 50 ms`));
      expect(logs.join('\n')).toContain(`memcached node "${node}" marked unavailable`);
      mem.get(node)!.delay = 0;
      await m.flush();
    } finally {
      await m.close();
    }
  });
});
