import type { Template } from '../http/variables';
import { clock, type Upstream, type UpstreamPeer } from './peers';
import { peerAtHash, selectRoundRobin, touchChecked } from './round-robin';
import { NO_LIVE, type Balancer, type PickState, type UpstreamGroup } from './types';

// ngx_http_upstream_hash_module.c: `hash KEY` (Cache::Memcached's
// rehashing: ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_HASH over the
// weights) and `hash KEY consistent` (a ring of 160 points per weight unit,
// crc32(HOST \0 PORT PREV_HASH) as Cache::Memcached::Fast). Both give up
// to round robin after 20 tries.

// ngx_crc32.c: the reflected CRC-32 (polynomial 0xedb88320), in the running
// form (init/update/final) the ring needs to hash "host\0port" then the
// previous point. (zlib.crc32 is not in every Node 20.)

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

interface HashData {
  key: string;
  tries: number;
  rehash: number;
  hash: number;
}

export interface ChashPoint {
  hash: number;
  /** the `server` as written: every address of a name shares its points */
  server: string;
}

/** ngx_http_upstream_init_chash: the ring, sorted, equal hashes once. */
export function chashPoints(peers: UpstreamPeer[]): ChashPoint[] {
  const points: ChashPoint[] = [];
  for (const peer of peers) {
    const server = peer.server;
    let host = server;
    let port = '';
    if (server.length >= 5 && server.slice(0, 5).toLowerCase() === 'unix:') {
      host = server.slice(5);
    } else {
      for (let j = 0; j < server.length; j++) {
        const c = server[server.length - j - 1];
        if (c === ':') {
          host = server.slice(0, server.length - j - 1);
          port = server.slice(server.length - j);
          break;
        }
        if (c < '0' || c > '9') break;
      }
    }
    let base = crc32Update(CRC32_INIT, host);
    base = crc32Update(base, '\0');
    base = crc32Update(base, port);
    const prev = new Uint8Array(4);
    const npoints = peer.weight * 160;
    for (let j = 0; j < npoints; j++) {
      const hash = crc32Final(crc32Update(base, prev));
      points.push({ hash, server });
      // the previous hash in memory order: nginx's little-endian union
      prev[0] = hash & 0xff;
      prev[1] = (hash >>> 8) & 0xff;
      prev[2] = (hash >>> 16) & 0xff;
      prev[3] = hash >>> 24;
    }
  }
  points.sort((a, b) => a.hash - b.hash);
  const out: ChashPoint[] = [];
  for (const p of points) if (out.length === 0 || out[out.length - 1].hash !== p.hash) out.push(p);
  return out;
}

/** ngx_http_upstream_find_chash_point: the first point >= hash. */
export function findChashPoint(points: ChashPoint[], hash: number): number {
  let i = 0;
  let j = points.length;
  while (i < j) {
    const k = (i + j) >>> 1;
    if (hash > points[k].hash) i = k + 1;
    else if (hash < points[k].hash) j = k;
    else return k;
  }
  return i;
}

function fallback(group: Upstream, state: PickState, why: string): UpstreamPeer | typeof NO_LIVE {
  const peer = selectRoundRobin(group, state);
  if (peer !== NO_LIVE) state.reason = `${why}; ${state.reason}`;
  return peer as UpstreamPeer | typeof NO_LIVE;
}

function selectHash(group: Upstream, state: PickState): UpstreamPeer | typeof NO_LIVE {
  const hp = state.data as HashData;
  if (hp.tries > 20 || group.single || state.inBackup) return fallback(group, state, 'hash gave up after 20 tries');
  if (hp.key.length === 0) return fallback(group, state, 'hash key is empty');
  const now = clock();
  const set = group.primarySet;
  for (;;) {
    let hash = CRC32_INIT;
    if (hp.rehash > 0) hash = crc32Update(hash, String(hp.rehash));
    hash = crc32Final(crc32Update(hash, hp.key));
    hash = (hash >>> 16) & 0x7fff;
    hp.hash = (hp.hash + hash) >>> 0;
    hp.rehash++;
    const peer = peerAtHash(set, hp.hash, state, now);
    if (peer) {
      state.reason = `hash "${hp.key}": value ${hp.hash} → weight slot ${hp.hash % set.totalWeight} of ${set.totalWeight}`;
      return peer;
    }
    if (++hp.tries > 20) return fallback(group, state, 'hash gave up after 20 tries');
  }
}

function selectChash(group: Upstream, state: PickState, points: ChashPoint[]): UpstreamPeer | typeof NO_LIVE {
  const hp = state.data as HashData;
  if (hp.tries > 20 || group.single || state.inBackup) return fallback(group, state, 'consistent hash gave up after 20 tries');
  if (hp.key.length === 0) return fallback(group, state, 'hash key is empty');
  const now = clock();
  const peers = group.primarySet.peers;
  for (;;) {
    const point = points[hp.hash % points.length];
    let best: UpstreamPeer | undefined;
    let total = 0;
    for (const peer of peers) {
      if (state.tried.has(peer) || peer.down || peer.server !== point.server) continue;
      if (peer.failed(now) || peer.full()) continue;
      peer.currentWeight += peer.effectiveWeight;
      total += peer.effectiveWeight;
      if (peer.effectiveWeight < peer.weight) peer.effectiveWeight++;
      if (!best || peer.currentWeight > best.currentWeight) best = peer;
    }
    if (best) {
      best.currentWeight -= total;
      touchChecked(best, now);
      state.reason = `hash "${hp.key}" consistent: crc32 ${crc32(hp.key)} → point ${hp.hash % points.length} (${point.hash}) of server ${point.server}`;
      return best;
    }
    hp.hash++;
    hp.tries++;
    if (hp.tries > 20) return fallback(group, state, 'consistent hash gave up after 20 tries');
  }
}

/** `hash KEY [consistent]`; the ring is made when the group's peers are. */
export function hashBalancer(key: Template, consistent: boolean): Balancer & { init(group: UpstreamGroup): void } {
  let points: ChashPoint[] = [];
  return {
    method: consistent ? 'hash consistent' : 'hash',
    init(group) {
      if (consistent) points = chashPoints((group as Upstream).peers);
    },
    initPeer(_group, state) {
      const data: HashData = { key: key.run(state.r), tries: 0, rehash: 0, hash: 0 };
      if (consistent) data.hash = findChashPoint(points, crc32(data.key));
      state.data = data;
    },
    select: (group, state) => (consistent ? selectChash(group as Upstream, state, points) : selectHash(group as Upstream, state)),
    describe: () => [`hash ${key.source}${consistent ? ` consistent (${points.length} points on the ring)` : ''}`],
  };
}
