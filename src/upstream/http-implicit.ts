import * as net from 'node:net';
import type { HttpRequest } from '../http/request';
import { NO_LIVE, type Balancer, type Peer, type PickState, type UpstreamGroup } from './types';

// The peers of a proxy_pass with variables that names an address rather
// than an upstream block (ngx_http_upstream_create_round_robin_peer): one
// peer, made at run time, never counted out, no keep-alive.

function makePeer(name: string, host: string, port: number, socketPath?: string): Peer {
  return {
    name, server: name, host, port, socketPath, weight: 1, maxFails: 1, failTimeout: 10000, maxConns: 0,
    backup: false, down: false, conns: 0, fails: 0, accessed: 0, checked: 0, currentWeight: 0, effectiveWeight: 1,
    available: () => true,
  };
}

const roundRobin: Balancer = {
  method: 'round robin',
  select(group, state) {
    for (const p of group.peers) if (!state.tried.has(p) && p.available(Date.now())) return p;
    return NO_LIVE;
  },
};

/** The address text nginx uses for a peer: "127.0.0.1:80", "[::1]:80". */
export function peerName(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Resolves at load what config load can resolve synchronously: IP literals and localhost. */
export function resolveHost(host: string): string[] | undefined {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (net.isIP(h)) return [h];
  if (h.toLowerCase() === 'localhost') return ['127.0.0.1'];
  return undefined;
}

export function implicitGroup(name: string, addrs: string[], port: number, unix?: string): UpstreamGroup {
  const peers = unix ? [makePeer(`unix:${unix}`, 'localhost', 0, unix)] : addrs.map((a) => makePeer(peerName(a, port), a, port));
  const group: UpstreamGroup = {
    name, file: '', line: 0, implicit: true, peers, backup: [], balancer: roundRobin, port,
    keepalive: { max: 0, requests: 1000, time: 3600000, timeout: 60000 },
  };
  made.add(group);
  return group;
}

const made = new WeakSet<UpstreamGroup>();

export const isResolved = (g: UpstreamGroup): boolean => made.has(g);

export function initPick(group: UpstreamGroup, r: HttpRequest, maxTries: number): PickState {
  const n = group.peers.length + group.backup.length;
  return { r, tried: new Set(), tries: maxTries && maxTries < n ? maxTries : n };
}

export function getPeer(group: UpstreamGroup, state: PickState): Peer | typeof NO_LIVE {
  const p = group.balancer.select(group, state);
  if (p !== NO_LIVE) {
    state.tried.add(p);
    p.conns++;
  }
  return p;
}

export function freePeer(_group: UpstreamGroup, peer: Peer, state: PickState, _failed: boolean): void {
  peer.conns--;
  if (state.tries > 0) state.tries--;
}
