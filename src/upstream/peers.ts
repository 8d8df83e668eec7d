import type { Addr } from './url';
import type { Balancer, KeepaliveConf, Peer, UpstreamGroup } from './types';

// ngx_http_upstream_round_robin.c's data: one peer per address of every
// `server`, primaries and backups apart (peers and peers->next), built when
// the http block closes (ngx_http_upstream_init_round_robin).

/** A `server` directive as parsed (ngx_http_upstream_server_t). */
export interface ServerConf {
  /** the address as written ("backend1:8080", "unix:/s"); "" for implicit groups */
  name: string;
  addrs: Addr[];
  weight: number;
  maxFails: number;
  /** seconds, as nginx keeps it */
  failTimeout: number;
  maxConns: number;
  backup: boolean;
  down: boolean;
  route?: string;
}

/**
 * nginx counts time for peers in whole seconds (ngx_time()); peers keep
 * milliseconds at second boundaries so that ms comparisons read as nginx's.
 */
export const seconds = (ms: number): number => Math.floor(ms / 1000);

/** The clock peers read; tests replace it to replay a run of nginx. */
export let clock: () => number = () => Date.now();

export function setClock(fn?: () => number): void {
  clock = fn ?? (() => Date.now());
}

export class UpstreamPeer implements Peer {
  readonly name: string;
  readonly server: string;
  readonly host: string;
  readonly port: number;
  readonly socketPath?: string;
  readonly weight: number;
  readonly maxFails: number;
  readonly failTimeout: number;
  readonly maxConns: number;
  readonly backup: boolean;
  readonly down: boolean;
  readonly route?: string;
  conns = 0;
  fails = 0;
  accessed = 0;
  checked = 0;
  currentWeight = 0;
  effectiveWeight: number;

  constructor(addr: Addr, s: ServerConf) {
    this.name = addr.name;
    this.server = s.name;
    this.host = addr.host;
    this.port = addr.port;
    if (addr.socketPath !== undefined) this.socketPath = addr.socketPath;
    this.weight = s.weight;
    this.effectiveWeight = s.weight;
    this.maxFails = s.maxFails;
    this.failTimeout = s.failTimeout * 1000;
    this.maxConns = s.maxConns;
    this.backup = s.backup;
    this.down = s.down;
    if (s.route !== undefined) this.route = s.route;
  }

  /** counted out: max_fails failures, the last within fail_timeout of the last check */
  failed(now: number): boolean {
    return this.maxFails > 0 && this.fails >= this.maxFails && seconds(now) - seconds(this.checked) <= this.failTimeout / 1000;
  }

  full(): boolean {
    return this.maxConns > 0 && this.conns >= this.maxConns;
  }

  available(now: number): boolean {
    return !this.down && !this.failed(now) && !this.full();
  }
}

/** One set of peers: the primaries, or the backups (ngx_http_upstream_rr_peers_t). */
export interface PeerSet {
  peers: UpstreamPeer[];
  /** sum of weights, down peers included (the hash methods index by it) */
  totalWeight: number;
  /** peers not down: what a request may try */
  tries: number;
  weighted: boolean;
}

export function peerSet(peers: UpstreamPeer[]): PeerSet {
  let totalWeight = 0;
  let tries = 0;
  for (const p of peers) {
    totalWeight += p.weight;
    if (!p.down) tries++;
  }
  return { peers, totalWeight, tries, weighted: totalWeight !== peers.length };
}

/** An upstream block, or an implicit group made by proxy_pass (ngx_http_upstream_srv_conf_t). */
export class Upstream implements UpstreamGroup {
  readonly peers: UpstreamPeer[] = [];
  readonly backup: UpstreamPeer[] = [];
  primarySet: PeerSet = peerSet([]);
  backupSet: PeerSet = peerSet([]);
  /** one primary and no backup: never counted out, never retried (peers->single) */
  single = false;
  balancer!: Balancer;
  keepalive: KeepaliveConf = { max: 0, requests: 1000, time: 3600000, timeout: 60000 };
  zone?: string;
  /** the `server` directives; unset for an implicit group that resolves its host */
  servers?: ServerConf[];
  /** nginx's NGX_HTTP_UPSTREAM_* flags: which `server` parameters the method allows */
  flags = 0;
  /** the method directive seen (uscf->peer.init_upstream set) */
  method?: { name: string; file: string; line: number };
  implicit: boolean;
  noPort: boolean;
  port: number;

  constructor(
    readonly name: string,
    public file: string,
    public line: number,
    opts: { implicit: boolean; port: number; noPort: boolean },
  ) {
    this.implicit = opts.implicit;
    this.port = opts.port;
    this.noPort = opts.noPort;
  }

  /** ngx_http_upstream_init_round_robin's peers from servers */
  setPeers(servers: ServerConf[]): void {
    this.peers.length = 0;
    this.backup.length = 0;
    for (const s of servers) {
      for (const a of s.addrs) (s.backup ? this.backup : this.peers).push(new UpstreamPeer(a, s));
    }
    this.primarySet = peerSet(this.peers);
    this.backupSet = peerSet(this.backup);
    this.single = this.peers.length === 1 && this.backup.length === 0;
  }

  setOf(state: { inBackup?: boolean }): PeerSet {
    return state.inBackup ? this.backupSet : this.primarySet;
  }
}
