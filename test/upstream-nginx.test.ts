import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { held, loadGroup, runNginx, simulate, startBackends, type Backends, type Req } from './upstream-harness';

// Which backend nginx picks, request after request, against which peer
// nodinx's balancers pick for the same upstream block: the same sequence
// of $upstream_addr values (retries included), the same number of
// "upstream server temporarily disabled" and "no live upstreams" lines.
// Requests are sequential, so connection counts are the same on both sides;
// a "held" request keeps its connection (the backend answers it at the
// end of the run) for least_conn and max_conns to see.
// `random` draws from random(): only its distribution is tested (in
// upstream-balancers.test.ts), no sequence can be compared.

const times = (n: number, f: (i: number) => Req): Req[] => Array.from({ length: n }, (_v, i) => f(i));
const plain = (n: number, at?: number): Req[] => times(n, () => ({ path: '/', at }));
/** client addresses that differ in their first three octets, as ip_hash reads them */
const clients = (n: number): Req[] => times(n, (i) => ({ path: '/', from: `127.${1 + (i % 7)}.${(i * 37) % 250}.1` }));
const keys = (n: number, prefix = '/k'): Req[] => times(n, (i) => ({ path: `${prefix}${i}?x=${i * 7}` }));

/** a client address ip_hash sends to the first of three servers */
function clientOfFirst(): string {
  const g = loadGroup('ip_hash;\nserver 127.0.0.1:1;\nserver 127.0.0.1:2;\nserver 127.0.0.1:3;');
  for (let i = 0; ; i++) {
    const from = `127.${i % 200}.${(i * 7) % 250}.1`;
    if (simulate(g, undefined, [{ path: '/', from }]).addrs[0] === '127.0.0.1:1') return from;
  }
}
const toFirst = clientOfFirst();

interface Case {
  name: string;
  block: string;
  reqs: Req[];
}

const CASES: Case[] = [
  { name: 'round robin 5,1,1', block: 'server 127.0.0.1:{B0} weight=5;\nserver 127.0.0.1:{B1};\nserver 127.0.0.1:{B2};', reqs: plain(21) },
  { name: 'round robin 3,2,1', block: 'server 127.0.0.1:{B0} weight=3;\nserver 127.0.0.1:{B1} weight=2;\nserver 127.0.0.1:{B2};', reqs: plain(18) },
  {
    name: 'round robin with down and backup',
    block: 'server 127.0.0.1:{B0} weight=2;\nserver 127.0.0.1:{B1} down;\nserver 127.0.0.1:{B2};\nserver 127.0.0.1:{B3} backup;',
    reqs: plain(12),
  },
  { name: 'least_conn 3,1', block: 'least_conn;\nserver 127.0.0.1:{B0} weight=3;\nserver 127.0.0.1:{B1};\nserver 127.0.0.1:{B2};', reqs: plain(15) },
  {
    name: 'ip_hash over client addresses',
    block: 'ip_hash;\nserver 127.0.0.1:{B0} weight=2;\nserver 127.0.0.1:{B1};\nserver 127.0.0.1:{B2} down;\nserver 127.0.0.1:{B3};',
    reqs: [...clients(24), ...clients(6)],
  },
  { name: 'hash $request_uri', block: 'hash $request_uri;\nserver 127.0.0.1:{B0} weight=2;\nserver 127.0.0.1:{B1};\nserver 127.0.0.1:{B2};', reqs: keys(60) },
  {
    name: 'hash $request_uri consistent, 200 keys',
    block: 'hash $request_uri consistent;\nserver 127.0.0.1:{B0};\nserver 127.0.0.1:{B1} weight=2;\nserver 127.0.0.1:{B2};\nserver 127.0.0.1:{B3} down;',
    reqs: keys(200),
  },
  { name: 'hash with an empty key falls back to round robin', block: 'hash $arg_none;\nserver 127.0.0.1:{B0};\nserver 127.0.0.1:{B1} weight=2;', reqs: plain(9) },
  {
    name: 'passive health: max_fails=2 fail_timeout=1s, then recovery',
    block: 'server 127.0.0.1:{B0};\nserver 127.0.0.1:{DEAD} weight=2 max_fails=2 fail_timeout=1s;\nserver 127.0.0.1:{B1};',
    reqs: [...plain(10, 0), ...plain(8, 2000), ...plain(6, 4000)],
  },
  {
    name: 'passive health: the dead primary, then its backup',
    block: 'server 127.0.0.1:{DEAD} max_fails=1 fail_timeout=1s;\nserver 127.0.0.1:{DEAD} max_fails=1 fail_timeout=1s;\nserver 127.0.0.1:{B0} backup;',
    reqs: [...plain(5, 0), ...plain(4, 2000)],
  },
  {
    name: 'passive health: all out is no live upstreams',
    block: 'server 127.0.0.1:{DEAD} fail_timeout=1s;\nserver 127.0.0.1:{DEAD} fail_timeout=1s;',
    reqs: [...plain(4, 0), ...plain(3, 2000)],
  },
  {
    name: 'hash rehashes past a dead peer',
    block: 'hash $request_uri;\nserver 127.0.0.1:{B0};\nserver 127.0.0.1:{DEAD} max_fails=3;\nserver 127.0.0.1:{B1};',
    reqs: keys(30),
  },
  {
    name: 'consistent hash walks the ring past a dead peer',
    block: 'hash $request_uri consistent;\nserver 127.0.0.1:{B0};\nserver 127.0.0.1:{DEAD};\nserver 127.0.0.1:{B1};',
    reqs: keys(40, '/c'),
  },
  {
    name: 'ip_hash past a dead peer',
    block: 'ip_hash;\nserver 127.0.0.1:{B0};\nserver 127.0.0.1:{DEAD} max_fails=2;\nserver 127.0.0.1:{B1};',
    reqs: [...clients(14), ...clients(14)],
  },
  {
    name: 'least_conn past a dead peer',
    block: 'least_conn;\nserver 127.0.0.1:{B0} weight=2;\nserver 127.0.0.1:{DEAD} max_fails=2;\nserver 127.0.0.1:{B1};',
    reqs: plain(12),
  },
  {
    name: 'backup declared before hash serves once the hash gives up',
    block: 'server 127.0.0.1:{DEAD} max_fails=1;\nserver 127.0.0.1:{DEAD} max_fails=1;\nserver 127.0.0.1:{B0} backup;\nhash $request_uri;',
    reqs: keys(6),
  },
  {
    name: 'least_conn with connections held',
    block: 'least_conn;\nserver 127.0.0.1:{B0};\nserver 127.0.0.1:{B1} weight=2;\nserver 127.0.0.1:{B2};',
    reqs: [held(), ...plain(3), held(), held(), ...plain(4), held(), ...plain(3)],
  },
  {
    name: 'max_conns full servers are skipped, then backups, then no live upstreams',
    block: 'server 127.0.0.1:{B0} weight=3 max_conns=2;\nserver 127.0.0.1:{B1} max_conns=1;\nserver 127.0.0.1:{B2} backup max_conns=1;',
    reqs: [...plain(4), held(), ...plain(3), held(), held(), ...plain(3), held(), held(), ...plain(2)],
  },
  {
    name: 'ip_hash with a full server',
    block: 'ip_hash;\nserver 127.0.0.1:{B0} max_conns=1;\nserver 127.0.0.1:{B1};\nserver 127.0.0.1:{B2};',
    reqs: [{ path: '/hold', from: toFirst }, ...times(3, () => ({ path: '/', from: toFirst })), ...clients(6)],
  },
];

describe('balancers pick what nginx picks', () => {
  let b: Backends;
  beforeAll(async () => {
    b = await startBackends(4);
  });
  afterAll(async () => {
    await b?.close();
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const nginx = await runNginx(c.name.replace(/\W+/g, '-').slice(0, 30), c.block, b, c.reqs);
    const nodinx = simulate(loadGroup(c.block, b), b, c.reqs);
    if (process.env.SHOW) console.log(JSON.stringify(nginx));
    expect(nodinx.addrs).toEqual(nginx.addrs);
    expect(nodinx.disabled).toBe(nginx.disabled);
    expect(nodinx.noLive).toBe(nginx.noLive);
  }, 30000);
});
