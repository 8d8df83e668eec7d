import { describe, expect, it } from 'vitest';
import { freePeer, getPeer, initPick, NO_LIVE, setClock, type Peer, type UpstreamGroup } from '../src/upstream';
import { fakeRequest, loadGroup, type Req } from './upstream-harness';

// The contract every balancing method keeps (one table, every method):
// picks follow the weights, servers that are down, counted out or full are
// skipped, backups serve only when no primary can, NO_LIVE when nothing
// can, and the tries of one request never repeat a server nor exceed the cap.

interface Method {
  name: string;
  /** the method directive; "" for round robin */
  directive: string;
  /** what varies from request to request so that hashing methods spread */
  req: (i: number) => Req;
  /** whether the distribution over many keys is exact (round robin) or statistical */
  exact: boolean;
}

const METHODS: Method[] = [
  { name: 'round robin', directive: '', req: () => ({ path: '/' }), exact: true },
  { name: 'least_conn', directive: 'least_conn;', req: () => ({ path: '/' }), exact: true },
  { name: 'ip_hash', directive: 'ip_hash;', req: (i) => ({ path: '/', from: `10.${(i >> 8) & 255}.${i & 255}.1` }), exact: false },
  { name: 'hash', directive: 'hash $request_uri;', req: (i) => ({ path: `/k${i}` }), exact: false },
  { name: 'hash consistent', directive: 'hash $request_uri consistent;', req: (i) => ({ path: `/k${i}` }), exact: false },
  { name: 'random', directive: 'random;', req: () => ({ path: '/' }), exact: false },
  { name: 'random two', directive: 'random two least_conn;', req: () => ({ path: '/' }), exact: false },
];

/**
 * Picks per server. `random two` with no connections in flight keeps the
 * second of two distinct draws (nginx keeps the later one on a tie), which
 * is not the weight's share: P(i) = sum over j != i of p(j) * p(i) / (1 - p(j)).
 */
function expected(m: Method, weights: number[], n: number): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const p = weights.map((w) => w / total);
  if (m.name !== 'random two') return p.map((x) => x * n);
  return p.map((pi, i) => n * p.reduce((sum, pj, j) => (j === i ? sum : sum + (pj * pi) / (1 - pj)), 0));
}

/** servers first: a backup is accepted before any method directive (nginx checks flags as it reads) */
const group = (m: Method, servers: string): UpstreamGroup => loadGroup(`${servers}\n${m.directive}`);

function pickOnce(g: UpstreamGroup, req: Req, maxTries = 0): Peer | typeof NO_LIVE {
  const state = initPick(g, fakeRequest(req), maxTries);
  const peer = getPeer(g, state);
  if (peer !== NO_LIVE) freePeer(g, peer, state, false);
  return peer;
}

function counts(g: UpstreamGroup, m: Method, n: number): Map<string, number> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const p = pickOnce(g, m.req(i));
    const name = p === NO_LIVE ? NO_LIVE : p.name;
    seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  return seen;
}

describe.each(METHODS.map((m) => [m.name, m] as const))('%s', (_name, m) => {
  it('spreads 10,000 picks by weight', () => {
    const g = group(m, 'server 127.0.0.1:1 weight=5;\nserver 127.0.0.1:2 weight=3;\nserver 127.0.0.1:3 weight=2;');
    const seen = counts(g, m, 10000);
    const share = expected(m, [5, 3, 2], 10000).map((want, i) => [seen.get(`127.0.0.1:${i + 1}`) ?? 0, want] as const);
    for (const [got, want] of share) {
      if (m.exact) expect(got).toBe(want);
      else if (m.name.startsWith('random')) expect(Math.abs(got - want)).toBeLessThan(want * 0.1);
      // consistent hashing over 160 points per weight unit is coarser than the others
      else expect(Math.abs(got - want)).toBeLessThan(want * (m.name === 'hash consistent' ? 0.25 : 0.1));
    }
  });

  it('skips servers that are down, counted out or full', () => {
    const g = group(m, [
      'server 127.0.0.1:1;', 'server 127.0.0.1:2 down;', 'server 127.0.0.1:3 max_fails=1 fail_timeout=10s;',
      'server 127.0.0.1:4 max_conns=1;', 'server 127.0.0.1:5;',
    ].join('\n'));
    const now = 1_700_000_000_000;
    setClock(() => now);
    try {
      const [, , out, full] = g.peers;
      out.fails = 1;
      out.checked = now;
      full.conns = 1;
      const seen = counts(g, m, 2000);
      expect([...seen.keys()].sort()).toEqual(['127.0.0.1:1', '127.0.0.1:5']);
      // once fail_timeout has passed the counted-out server is tried again
      setClock(() => now + 11000);
      expect(counts(g, m, 2000).has('127.0.0.1:3')).toBe(true);
    } finally {
      setClock();
    }
  });

  it('uses backups only when no primary can serve, and says NO_LIVE when none can', () => {
    const g = group(m, 'server 127.0.0.1:1;\nserver 127.0.0.1:2;\nserver 127.0.0.1:8 backup;\nserver 127.0.0.1:9 backup;');
    expect([...counts(g, m, 500).keys()].sort()).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    const now = 1_700_000_000_000;
    setClock(() => now);
    try {
      for (const p of g.peers) (p.fails = 1), (p.checked = now);
      expect([...counts(g, m, 500).keys()].sort()).toEqual(['127.0.0.1:8', '127.0.0.1:9']);
      for (const p of g.backup) (p.fails = 1), (p.checked = now);
      expect([...counts(g, m, 10).keys()]).toEqual([NO_LIVE]);
    } finally {
      setClock();
    }
  });

  it('never tries a server twice in one request, nor more than the cap', () => {
    const servers = Array.from({ length: 6 }, (_v, i) => `server 127.0.0.1:${i + 1} weight=${1 + (i % 3)} max_fails=0;`).join('\n');
    for (const cap of [0, 3]) {
      const g = group(m, servers);
      for (let i = 0; i < 200; i++) {
        const state = initPick(g, fakeRequest(m.req(i)), cap);
        const tried: string[] = [];
        for (;;) {
          const peer = getPeer(g, state);
          if (peer === NO_LIVE) break;
          tried.push(peer.name);
          freePeer(g, peer, state, true);
          if (state.tries === 0) break;
        }
        expect(new Set(tried).size).toBe(tried.length);
        expect(tried.length).toBe(cap || 6);
      }
    }
  });
});

describe('a single server', () => {
  it('is never counted out, and a failed try is the last', () => {
    const g = loadGroup('server 127.0.0.1:1 max_fails=1;');
    for (let i = 0; i < 5; i++) {
      const state = initPick(g, fakeRequest({ path: '/' }), 0);
      const peer = getPeer(g, state);
      expect(peer).not.toBe(NO_LIVE);
      freePeer(g, peer as Peer, state, true);
      expect(state.tries).toBe(0);
    }
    expect(g.peers[0].fails).toBe(0);
  });

  it('that is down or full is no live upstream', () => {
    const g = loadGroup('server 127.0.0.1:1 max_conns=1;');
    const state = initPick(g, fakeRequest({ path: '/' }), 0);
    expect(getPeer(g, state)).not.toBe(NO_LIVE);
    expect(getPeer(g, initPick(g, fakeRequest({ path: '/' }), 0))).toBe(NO_LIVE);
  });
});

describe('hash consistent and a name of several addresses', () => {
  it('puts every address of one server on the same points, and shares them by weight', () => {
    const g = loadGroup('hash $request_uri consistent;\nserver 127.0.0.1:1;\nserver 127.0.0.1:2;') as unknown as import('../src/upstream/peers').Upstream;
    // as if "backend:80" had resolved to two addresses
    const addrs = [1, 2].map((i) => ({ name: `10.0.0.${i}:80`, host: `10.0.0.${i}`, port: 80, family: 4 as const }));
    g.setPeers([
      { name: 'backend:80', addrs, weight: 2, maxFails: 1, failTimeout: 10, maxConns: 0, backup: false, down: false },
      { name: '127.0.0.1:3', addrs: [{ name: '127.0.0.1:3', host: '127.0.0.1', port: 3, family: 4 }], weight: 1, maxFails: 1, failTimeout: 10, maxConns: 0, backup: false, down: false },
    ]);
    (g.balancer as unknown as { init(x: unknown): void }).init(g);
    const picks = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const p = pickOnce(g, { path: `/k${i}` });
      if (p !== NO_LIVE) picks.set(p.name, (picks.get(p.name) ?? 0) + 1);
    }
    const a = picks.get('10.0.0.1:80') ?? 0;
    const b = picks.get('10.0.0.2:80') ?? 0;
    // the two addresses take turns on the name's points (smooth round robin between them)
    expect(Math.abs(a - b)).toBeLessThanOrEqual(1);
    expect(a + b).toBeGreaterThan(picks.get('127.0.0.1:3') ?? 0);
  });
});
